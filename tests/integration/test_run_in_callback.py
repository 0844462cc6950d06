"""Statements that need no wait are answered in the client channel's callback, without waking
the session's task (PgSession._on_data, _run_now; raftsql/server/channel.py): a prepared point
read under the lease, and a transaction's statements but for its COMMIT.

Three real RaftNodes run in this event loop, the leader's Postgres frontend on 127.0.0.1, and
a real asyncpg client on the same loop. What is counted is how often the session's channel
read returns to the session: a read served in the callback never makes it return.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from inproc import start_nodes, stop_nodes, wait_leader

from raftsql.node.database import Database
from raftsql.server.channel import ClientChannel
from raftsql.server.frontend import PgFrontend
from raftsql.testing.procs import HOST, free_port

Scenario = Callable[[asyncpg.Connection, Database, dict[str, int]], Awaitable[None]]


def run_against_leader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       scenario: Scenario) -> None:
    """Run `scenario(conn, db, returns)` with an asyncpg connection to the leader's frontend
    (its port in returns["port"]); returns["reads"] counts the channel reads that returned to a
    session's task."""
    returns = {"reads": 0}
    plain_read = ClientChannel.read

    async def counted_read(self: ClientChannel, sink: Any = None) -> bytes | None:
        data = await plain_read(self, sink)
        returns["reads"] += 1
        return data

    monkeypatch.setattr(ClientChannel, "read", counted_read)

    async def main() -> None:
        nodes, sms = await start_nodes(tmp_path)
        frontend = db = None
        try:
            leader = await wait_leader(nodes)
            db = Database(leader, sms[nodes.index(leader)])
            frontend = PgFrontend(db, (HOST, free_port()))
            await frontend.start()
            conn = await asyncpg.connect(host=HOST, port=frontend.port, user="raftsql",
                                         database="raftsql")
            try:
                await conn.execute("CREATE TABLE kv (k INT PRIMARY KEY, v TEXT)")
                await conn.executemany("INSERT INTO kv VALUES ($1, $2)",
                                       [(i, f"v{i}") for i in range(20)])
                returns["port"] = frontend.port
                await scenario(conn, db, returns)
            finally:
                await conn.close()
        finally:
            if frontend is not None:
                await frontend.close()
            if db is not None:
                db.close()
            await stop_nodes(nodes, sms)

    asyncio.run(main())


@pytest.mark.timeout(120)
def test_point_reads_are_answered_in_the_callback(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(conn: asyncpg.Connection, db: Database, returns: dict[str, int]) -> None:
        leader = db.node
        select = await conn.prepare("SELECT v FROM kv WHERE k = $1")
        assert await select.fetchval(3) == "v3"  # the lease is held by now
        count0 = leader.metrics.reads["lease"]
        before = returns["reads"]
        for i in range(200):
            assert await select.fetchval(i % 20) == f"v{i % 20}"
        assert await select.fetchval(99) is None
        served = leader.metrics.reads["lease"] - count0
        woken = returns["reads"] - before
        assert served == 201  # every read is counted once, wherever it was served
        # a lease renewal in flight may make a few reads go to the task; most do not
        assert woken < 20, f"the session's task was woken {woken} times for 201 reads"

        # a write between reads takes the task's path and is read back at once
        await conn.execute("UPDATE kv SET v = 'new' WHERE k = 5")
        assert await select.fetchval(5) == "new"
        # an error in a read answered in the callback leaves the session serving
        bad = await conn.prepare("SELECT 1 / k FROM kv WHERE k = $1")
        with pytest.raises(asyncpg.DataError):
            await bad.fetchval(0)
        assert await select.fetchval(6) == "v6"

    run_against_leader(tmp_path, monkeypatch, scenario)


@pytest.mark.timeout(120)
def test_a_transaction_wakes_the_task_only_to_commit(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(conn: asyncpg.Connection, db: Database, returns: dict[str, int]) -> None:
        begin = await conn.prepare("BEGIN")
        update = await conn.prepare("UPDATE kv SET v = $2 WHERE k = $1")
        select = await conn.prepare("SELECT v FROM kv WHERE k = $1")
        commit = await conn.prepare("COMMIT")
        assert await select.fetchval(1) == "v1"
        rounds = 20
        before = returns["reads"]
        for i in range(rounds):
            await begin.fetch()
            await update.fetch(i % 20, f"t{i}")
            assert await select.fetchval(i % 20) == f"t{i}"  # the transaction's own write
            await commit.fetch()
        woken = returns["reads"] - before
        # four statements a round, one of which (COMMIT) goes through Raft on the task
        assert rounds <= woken < 2 * rounds, f"{woken} wake-ups for {rounds} transactions"
        assert [r["v"] for r in await conn.fetch("SELECT v FROM kv ORDER BY k")][:2] == [
            "t0", "t1"]

        # an error inside the block fails it, as on the task's path: COMMIT rolls back
        await begin.fetch()
        await update.fetch(3, "lost")
        with pytest.raises(asyncpg.DataError):
            await conn.fetchval("SELECT 1 / (k - 3) FROM kv WHERE k = $1", 3)
        with pytest.raises(asyncpg.InFailedSQLTransactionError):
            await select.fetchval(3)
        assert await conn.execute("COMMIT") == "ROLLBACK"
        assert await select.fetchval(3) == "t3"

    run_against_leader(tmp_path, monkeypatch, scenario)


def _frame(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


async def _read_until_ready(reader: asyncio.StreamReader, readies: int) -> list[bytes]:
    """The message types received until `readies` ReadyForQuery messages arrived."""
    tags = []
    while tags.count(b"Z") < readies:
        head = await reader.readexactly(5)
        await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4)
        tags.append(head[:1])
    return tags


@pytest.mark.timeout(120)
def test_pipelined_reads_leave_the_loop_turns(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 point reads sent in one packet are answered in runs (of PgSession's PUMP_LIMIT),
    with turns of the event loop between them for the Raft loop's ticks, not in one run."""
    reads = 2000

    async def scenario(conn: asyncpg.Connection, db: Database, returns: dict[str, int]) -> None:
        reader, writer = await asyncio.open_connection(HOST, returns["port"])
        try:
            body = struct.pack("!i", 196608) + b"user\0raftsql\0database\0raftsql\0\0"
            writer.write(struct.pack("!i", len(body) + 4) + body)
            await _read_until_ready(reader, 1)
            writer.write(_frame(b"P", b"s\0SELECT v FROM kv WHERE k = $1::int\0\0\0")
                         + _frame(b"S", b""))
            await _read_until_ready(reader, 1)
            group = (_frame(b"B", b"\0s\0" + struct.pack("!hhi", 0, 1, 1) + b"7"
                            + struct.pack("!h", 0))
                     + _frame(b"E", b"\0" + struct.pack("!i", 0)) + _frame(b"S", b""))
            metrics = db.node.metrics
            longest_run = 0
            done = asyncio.Event()

            async def ticker() -> None:
                # reads answered between two turns of the loop: the longest run without one
                nonlocal longest_run
                last = metrics.reads["lease"]
                while not done.is_set():
                    await asyncio.sleep(0)
                    now = metrics.reads["lease"]
                    longest_run = max(longest_run, now - last)
                    last = now

            ticking = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            served0 = metrics.reads["lease"]
            writer.write(group * reads)
            tags = await _read_until_ready(reader, reads)
            done.set()
            await ticking
            assert tags.count(b"D") == reads and b"E" not in tags
            assert metrics.reads["lease"] - served0 == reads
            assert 0 < longest_run <= 200, f"{longest_run} reads answered without a loop turn"
        finally:
            writer.close()

    run_against_leader(tmp_path, monkeypatch, scenario)
