"""Entries/s of the SQL state machine alone (StateMachine.apply_batch, no Raft, no network).

Two workloads, each entry one statement with a client session (client_id, seq), as the write
path proposes them:
  * upsert: single-row INSERT .. ON CONFLICT DO UPDATE into a 1000-row table;
  * pgbench: pgbench's tpcb-like account update (UPDATE .. SET abalance = abalance + ? WHERE
    aid = ?) on a 100 000-row table (pgbench scale 1).
For each batch size the same entries are applied on a fresh file; the rate is entries applied
over wall time, checkpoints (every --checkpoint-every entries) included, so a checksum on the
apply path would show, and over this process's CPU time (all threads, the background checksum
included), which a busy shared machine disturbs less. One line per (workload, batch size).

    python bench/apply_bench.py [--entries 20000] [--batch 1,16,64] [--checkpoint-every 10000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raftsql.sql.apply import Item, StateMachine  # noqa: E402
from raftsql.sql.command import Command, Stmt, encode  # noqa: E402

CLIENTS = 64


def _setup(rows: int) -> bytes:
    return encode(Command((
        Stmt("CREATE TABLE acct (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER, "
             "filler TEXT)"),
        Stmt("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
             "INSERT INTO acct SELECT i, 1, 0, printf('%84s', '') FROM n", (rows,)),
    )))


def upsert(rng: random.Random) -> Stmt:
    return Stmt("INSERT INTO acct (aid, bid, abalance, filler) VALUES (?, 1, ?, '') "
                "ON CONFLICT(aid) DO UPDATE SET abalance = abalance + excluded.abalance",
                (rng.randrange(1, 1001), rng.randrange(-5000, 5000)))


def pgbench(rng: random.Random) -> Stmt:
    return Stmt("UPDATE acct SET abalance = abalance + ? WHERE aid = ?",
                (rng.randrange(-5000, 5000), rng.randrange(1, 100_001)))


def rate(base: Path, rows: int, make: Callable[[random.Random], Stmt], entries: int,
         batch: int, checkpoint_every: int) -> tuple[float, float]:
    sm = StateMachine(str(base / f"b{batch}-{rows}.sqlite"), checkpoint_every=checkpoint_every)
    sm.apply(1, _setup(rows))
    rng = random.Random(7)
    items: list[Item] = [
        # made one entry before it lands, as the write path's requests are (session expiry)
        (i, encode(Command((make(rng),), proposed_at=i - 1)), f"client-{i % CLIENTS}", i)
        for i in range(2, entries + 2)
    ]
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(items), batch):
        sm.apply_batch(items[start : start + batch])
    elapsed = time.perf_counter() - t0
    sm.wait_for_checkpoints()
    cpu = time.process_time() - c0
    sm.close()
    return entries / elapsed, entries / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--batch", default="1,16,64", help="comma-separated batch sizes")
    ap.add_argument("--checkpoint-every", type=int, default=10_000)
    args = ap.parse_args()
    sizes = [int(b) for b in args.batch.split(",")]
    print(f"entries={args.entries} checkpoint_every={args.checkpoint_every} clients={CLIENTS}")
    print(f"{'workload':<34} {'batch':>5} {'entries/s':>10} {'per CPU s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows, make in (("upsert, 1000-row table", 1000, upsert),
                                 ("pgbench update, 100k-row table", 100_000, pgbench)):
            for size in sizes:
                wall, cpu = rate(Path(tmp), rows, make, args.entries, size,
                                 args.checkpoint_every)
                print(f"{name:<34} {size:>5} {wall:>10.0f} {cpu:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
