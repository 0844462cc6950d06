"""SQL throughput and latency through the node API (the SQL service without the wire protocol),
on a 3-node loopback cluster with fsync on.

Node 1 runs inside this process as ``RaftNode`` + ``Database`` (raftsql/node/database.py), so
each statement goes translate -> fix nondeterminism -> propose -> replicate -> apply (writes) or
lease check -> local SQLite (reads), exactly as a Postgres session's would, minus the wire codec;
nodes 2 and 3 are real ``raftsql serve`` processes. Node 1 is made the leader.

Printed as tables:
  * autocommit INSERT, point UPDATE and point SELECT (lease reads): ops/s, p50/p99/max latency,
    for each concurrency level (concurrent sessions in a closed loop);
  * the translation cache (raftsql.sql.translate.cache_info()) hit ratio over the run;
  * apply rate: entries/s applied by the leader and by the followers while the writes ran (the
    commit rate bounds it), by a restarted follower catching up on a backlog (--catch-up
    entries), and by the state machine alone (StateMachine.apply on a fresh file, no Raft).

    python bench/sql_bench.py [--seconds 3] [--concurrency 1,16] [--catch-up 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import embedded_leader

from raftsql.node.database import Database, Session
from raftsql.node.driver import RaftNode
from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.translate import cache_info
from raftsql.testing.procs import ProcessCluster

ROWS = "INSERT INTO kv (k, v, n) VALUES ($1, $2, $3)"
UPDATE = "UPDATE kv SET n = n + 1, v = $2 WHERE k = $1"
SELECT = "SELECT k, v, n FROM kv WHERE k = $1"


async def closed_loop(op: Callable[[Session, int], Awaitable[None]], db_sessions: list[Session],
                      seconds: float, keys: Callable[[], int]) -> dict[str, float]:
    """Each session runs ``op`` back to back for ``seconds``; latencies of every call."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def one(session: Session) -> None:
        while time.monotonic() < stop_at:
            k = keys()
            t0 = time.perf_counter()
            await op(session, k)
            latencies.append(time.perf_counter() - t0)

    t0 = time.monotonic()
    await asyncio.gather(*(one(s) for s in db_sessions))
    elapsed = time.monotonic() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "ops_per_s": n / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "max_ms": latencies[-1] * 1000,
        "n": n,
    }


def raw_apply_rate(base: Path, entries: int = 2000) -> float:
    """Entries/s of StateMachine.apply alone: one autocommit INSERT per entry, no Raft."""
    sm = StateMachine(str(base / "raw.sqlite"))
    sm.apply(1, encode(Command((Stmt("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT, "
                                     "n INTEGER)"),))))
    cmds = [encode(Command((Stmt("INSERT INTO kv VALUES (?, ?, 0)", (i, "x" * 100)),)))
            for i in range(entries)]
    t0 = time.perf_counter()
    for i, data in enumerate(cmds):
        sm.apply(i + 2, data)
    rate = entries / (time.perf_counter() - t0)
    sm.close()
    return rate


async def follower_catch_up(node: RaftNode, db: Database, cluster: ProcessCluster,
                            next_key: Iterator[int], entries: int) -> tuple[int, float]:
    """Stop node 3, commit ``entries`` INSERTs with nodes 1 and 2, restart node 3 and time how
    fast it applies the backlog (Raft append + apply on a real follower process, from the first
    moment it answers /status until it has applied everything)."""
    cluster.kill(3)
    sessions = [Session() for _ in range(16)]
    keys = iter([next(next_key) for _ in range(entries)])

    async def writer(s: Session) -> None:
        for k in keys:
            await db.execute(s, ROWS, (k, "x" * 100, 0))

    await asyncio.gather(*(writer(s) for s in sessions))
    target = node.reads.applied
    cluster.start(3)
    st = None
    while st is None:
        st = await asyncio.to_thread(cluster.status, 3)
        await asyncio.sleep(0.01)
    start_index, t0 = st["applied_index"], time.monotonic()
    while st is None or st["applied_index"] < target:
        await asyncio.sleep(0.01)
        st = await asyncio.to_thread(cluster.status, 3)
    return target - start_index, time.monotonic() - t0


async def main_async(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="raftsql-sqlbench-"))
    cluster, node, sm = await embedded_leader.start(base)
    try:
        db = Database(node, sm)
        admin = Session()
        await db.execute(admin, "CREATE TABLE kv (k integer PRIMARY KEY, v text, n integer)")

        next_key = iter(range(1, 10**9))
        written = [0]

        async def insert(s: Session, k: int) -> None:
            await db.execute(s, ROWS, (k, "x" * 100, 0))
            written[0] = max(written[0], k)

        async def update(s: Session, k: int) -> None:
            await db.execute(s, UPDATE, (k, "y" * 100))

        async def select(s: Session, k: int) -> None:
            r = await db.execute(s, SELECT, (k,))
            assert len(r[0].rows) == 1

        cache0 = cache_info()
        applied0 = node.reads.applied
        followers0 = [await asyncio.to_thread(cluster.status, i) for i in (2, 3)]
        write_s = 0.0
        rows = []
        for op_name, op in (("INSERT", insert), ("UPDATE", update), ("SELECT", select)):
            for conc in args.concurrency:
                sessions = [Session() for _ in range(conc)]
                keys = (lambda: next(next_key)) if op_name == "INSERT" else \
                    functools.partial(random.randint, 1, written[0])
                r = await closed_loop(op, sessions, args.seconds, keys)
                if op_name != "SELECT":
                    write_s += args.seconds
                rows.append((op_name, conc, r))
        applied1 = node.reads.applied
        # the followers: how far they got in the same wall time (they may lag a little)
        await asyncio.sleep(0.5)
        followers1 = [await asyncio.to_thread(cluster.status, i) for i in (2, 3)]
        cache1 = cache_info()

        print(f"{'statement':>10} {'clients':>8} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'n':>7}")
        for op_name, conc, r in rows:
            print(f"{op_name:>10} {conc:>8} {r['ops_per_s']:>8.0f} {r['p50_ms']:>8.2f} "
                  f"{r['p99_ms']:>8.2f} {r['max_ms']:>8.1f} {r['n']:>7}")
        hits = cache1.hits - cache0.hits
        misses = cache1.misses - cache0.misses
        print()
        print(f"{'translation cache':<34} {hits} hits / {misses} misses = "
              f"{hits / max(1, hits + misses):.4f} hit ratio (size {cache1.currsize}/"
              f"{cache1.maxsize})")
        print(f"{'apply rate, leader (during writes)':<34} "
              f"{(applied1 - applied0) / write_s:.0f} entries/s (bounded by the commit rate)")
        for f0, f1 in zip(followers0, followers1, strict=True):
            if f0 and f1:
                print(f"{'apply rate, node ' + str(f1['node_id']) + ' (follower)':<34} "
                      f"{(f1['applied_index'] - f0['applied_index']) / write_s:.0f} entries/s "
                      f"(lag at end {applied1 - f1['applied_index']})")
        backlog, catchup_s = await follower_catch_up(node, db, cluster, next_key, args.catch_up)
        print(f"{'apply rate, node 3 catching up':<34} {backlog / catchup_s:.0f} entries/s "
              f"({backlog} entries behind after a restart, caught up in {catchup_s:.2f}s)")
        await node.stop(transfer=False)
        db.close()
        sm.db.close()
        print(f"{'apply rate, StateMachine alone':<34} {raw_apply_rate(base):.0f} entries/s "
              "(one-row INSERT per entry, no Raft)")
    finally:
        cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 16])
    parser.add_argument("--catch-up", type=int, default=3000,
                        help="entries a restarted follower must catch up on")
    args = parser.parse_args()
    logging.getLogger("raftsql").setLevel(logging.ERROR)  # the planned kill logs reconnects
    try:
        import uvloop
        uvloop.run(main_async(args))
    except ImportError:
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
