"""Snapshots of a big database are copied in the background: the leader keeps its leadership.

Sources of truth: Raft paper section 5.2 (a follower that hears nothing from the leader for an
election timeout starts an election: a term change) and section 7 (each server snapshots
independently, "without knowledge of the leader"; the leader must go on replicating meanwhile);
docs/design.md, "Snapshots". Before the copy ran off the Raft loop, every node stopped ticking
and heartbeating for the whole copy at the same applied index, and the leader lost its
leadership at each snapshot once the copy took longer than the election timeout.

A real 3-node cluster (processes, RocksDB, SQLite, TCP on 127.0.0.1). The database is made big
(about 100 MiB) so that each node's snapshot work (flush, copy, file write) takes longer than the
election timeout; the nodes log that duration and the test checks it, so it cannot pass without
having shown something. Then a follower is killed -9 in the middle of a copy and restarted.

It was marked `slow` for a while: on the 2-core machines of issue 8's sessions it failed in 3 of
8 full-suite and CI runs, the leader losing its term while all three nodes copied. The causes,
found in the fourteenth round (docs/benchmarks.md): each node's copy wrote its database as a
journaled, synced transaction per step, which held every Raft log fsync on the shared disk for
up to 1.5 s, and the leader, given all the ticks of its stalled loop at once, failed a second
quorum check it never had a chance to pass. With both fixed it passed 11 runs of 11 beside two
busy-loop processes, where it had passed 1 of 7 before (1 of 3 in the thirteenth round, 0 of 4
in the fourteenth).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from raftsql.testing.procs import ProcessCluster

pytest.importorskip("raftsql.server.frontend", reason="the Postgres frontend is not built yet")

SNAPSHOT_ENTRIES = 40
BIG_STATEMENTS = 6
ROWS_PER_STATEMENT = 4000
ROW_BYTES = 4000  # 6 x 4000 x 4000 B: about 100 MiB
ELECTION_TIMEOUT_S = 0.5  # ProcessCluster defaults: 50 ms ticks x election_tick 10
_COPIED = re.compile(r"snapshot at (\d+) \(\d+ bytes, copied in ([\d.]+) s")
_STARTED = re.compile(r"snapshot at (\d+) started")


async def _execute(dsn: str, statements: list[str]) -> None:
    conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=0)
    try:
        for sql in statements:
            await conn.execute(sql, timeout=60)
    finally:
        await conn.close()


async def _small_writes(dsn: str, first: int, count: int, clients: int = 4) -> None:
    async def client(k: int) -> None:
        conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=0)
        try:
            for i in range(first + k, first + count, clients):
                await conn.execute("INSERT INTO small VALUES ($1)", i, timeout=30)
        finally:
            await conn.close()

    await asyncio.gather(*(client(k) for k in range(clients)))


async def _write_until(dsn: str, first: int, done: Callable[[], bool],
                       timeout: float = 120.0) -> int:
    """Small writes, one client, until ``done()`` (checked every 20 writes); returns how many
    were written. Each must succeed: the leader serves writes while the nodes copy."""
    conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=0)
    try:
        deadline = time.monotonic() + timeout
        n = 0
        while n % 20 or not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, f"not done after {n} writes"
            await conn.execute("INSERT INTO small VALUES ($1)", first + n, timeout=30)
            n += 1
        return n
    finally:
        await conn.close()


def _copies(c: ProcessCluster, node_id: int) -> list[float]:
    return [float(m.group(2)) for m in _COPIED.finditer(c.logs(node_id))]


def _copy_running(c: ProcessCluster, node_id: int) -> bool:
    text = c.logs(node_id)
    started = {m.group(1) for m in _STARTED.finditer(text)}
    finished = {m.group(1) for m in _COPIED.finditer(text)}
    return bool(started - finished)


@pytest.mark.timeout(300)
def test_leader_keeps_its_term_across_snapshots_of_a_big_database(tmp_path: Path) -> None:
    with ProcessCluster(tmp_path, 3, snapshot_entries=SNAPSHOT_ENTRIES) as c:
        c.start()
        leader = c.wait_for_leader(timeout=30)
        dsn = c.nodes[leader].pg_dsn
        big = [f"INSERT INTO big (v) SELECT repeat('x', {ROW_BYTES}) "
               f"FROM generate_series(1, {ROWS_PER_STATEMENT}) AS g(g)"] * BIG_STATEMENTS
        asyncio.run(_execute(dsn, ["CREATE TABLE big (k serial PRIMARY KEY, v text NOT NULL)",
                                   "CREATE TABLE small (k integer PRIMARY KEY)", *big]))
        c.wait_converged(timeout=120)
        # building the table may itself have cost an election (applying 16 MiB per entry on
        # the loop); what is measured starts now
        leader = c.wait_for_leader(timeout=30)
        dsn = c.nodes[leader].pg_dsn
        before = {i: c.status(i) for i in c.nodes}
        assert all(before.values()), before
        term = before[leader]["term"]

        def snapshots(i: int) -> int:
            st = c.status(i)
            return -1 if st is None else int(st["metrics"]["snapshots_taken"])

        base = {i: before[i]["metrics"]["snapshots_taken"] for i in c.nodes}
        written = asyncio.run(_write_until(
            dsn, 0, lambda: all(snapshots(i) >= base[i] + 2 for i in c.nodes)))
        c.wait_converged(timeout=120)
        after = {i: c.status(i) for i in c.nodes}
        assert all(after.values()), after
        assert {i: (s["term"], s["leader_id"]) for i, s in after.items()} == {
            i: (term, leader) for i in c.nodes}, "a snapshot cost the leader its leadership"
        slowest = max(_copies(c, leader))
        assert slowest > ELECTION_TIMEOUT_S, (
            f"the leader's slowest snapshot took {slowest:.2f} s, not longer than the election "
            f"timeout: the database is too small for this test to show anything")

        # kill -9 a follower while it copies, start it again: it serves and converges
        victim = next(i for i in c.nodes if i != leader)
        first = written + 1000
        written = asyncio.run(_write_until(dsn, first, lambda: _copy_running(c, victim)))
        c.kill(victim)
        c.start(victim)
        asyncio.run(_small_writes(dsn, first + written, SNAPSHOT_ENTRIES))
        c.wait_converged(timeout=120)
        sums = {i: c.http(i, "/checksum", timeout=60)["checksum"] for i in c.nodes}
        assert len(set(sums.values())) == 1, f"state checksums differ: {sums}"
