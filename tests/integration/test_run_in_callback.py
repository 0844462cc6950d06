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
from raftsql.pgwire.connection import ServerConnection
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


async def _answers(reader: asyncio.StreamReader) -> list[bytes]:
    """The messages received up to and including ReadyForQuery, whole."""
    out = []
    while not out or out[-1][:1] != b"Z":
        head = await reader.readexactly(5)
        out.append(head + await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4))
    return out


def _bind(statement: str, *params: bytes, results: tuple[int, ...] = ()) -> bytes:
    body = b"\0" + statement.encode() + b"\0" + struct.pack("!hh", 0, len(params))
    for p in params:
        body += struct.pack("!i", len(p)) + p
    return _frame(b"B", body + struct.pack(f"!h{len(results)}h", len(results), *results))


def _execute(max_rows: int = 0) -> bytes:
    return _frame(b"E", b"\0" + struct.pack("!i", max_rows)) + _frame(b"S", b"")


@pytest.mark.timeout(120)
def test_a_whole_execution_is_answered_as_when_framed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A packet that is exactly Bind, [Describe,] Execute, Sync skips the framer
    (ServerConnection.whole_execution, PgSession._on_data). Its answers are byte for byte
    those of the same messages framed one by one: here, followed by a Flush, which makes the
    packet not whole and adds no answer. Reads, a write, errors and a transaction."""
    framed = {"calls": 0}
    plain_receive = ServerConnection.receive_data

    def counted_receive(self: ServerConnection, data: bytes) -> None:
        framed["calls"] += 1
        plain_receive(self, data)

    monkeypatch.setattr(ServerConnection, "receive_data", counted_receive)
    describe = _frame(b"D", b"P\0")
    flush = _frame(b"H", b"")
    cases: list[tuple[str, list[bytes], bool]] = [  # (what, packets, whole packets skip framing)
        ("point read", [_bind("r", b"7") + _execute()], True),
        ("binary, described, one row asked", [_bind("r", b"7", results=(1,)) + describe
                                              + _execute(1)], True),
        ("no row", [_bind("r", b"99") + _execute()], True),
        ("portal suspended", [_bind("m", b"5") + describe + _execute(2)], True),
        ("runtime error", [_bind("z", b"0") + _execute()], True),
        ("write", [_bind("u", b"3", b"x") + _execute()], True),
        ("transaction", [_bind("b") + _execute(), _bind("u", b"4", b"y") + _execute(),
                         _bind("r", b"4") + _execute(), _bind("c") + _execute()], True),
        ("bind with a parameter too many", [_bind("r", b"1", b"2") + _execute()], False),
        ("bind of no statement", [_bind("nope") + _execute()], False),
    ]

    async def scenario(conn: asyncpg.Connection, db: Database, returns: dict[str, int]) -> None:
        reader, writer = await asyncio.open_connection(HOST, returns["port"])
        try:
            body = struct.pack("!i", 196608) + b"user\0raftsql\0database\0raftsql\0\0"
            writer.write(struct.pack("!i", len(body) + 4) + body)
            await _answers(reader)
            for name, sql in [("r", "SELECT v FROM kv WHERE k = $1::int"),
                              ("m", "SELECT k, v FROM kv WHERE k < $1::int ORDER BY k"),
                              ("z", "SELECT 1 / k FROM kv WHERE k = $1::int"),
                              ("u", "UPDATE kv SET v = $2::text WHERE k = $1::int"),
                              ("b", "BEGIN"), ("c", "COMMIT")]:
                writer.write(_frame(b"P", f"{name}\0{sql}\0".encode() + b"\0\0")
                             + _frame(b"S", b""))
                assert (await _answers(reader))[0][:1] == b"1", sql
            seen: dict[str, bytes] = {}
            for what, packets, skips in cases:
                answers: dict[bool, list[list[bytes]]] = {}
                for flushed in (False, True):
                    calls0 = framed["calls"]
                    answers[flushed] = []
                    for packet in packets:
                        writer.write(packet + flush if flushed else packet)
                        answers[flushed].append(await _answers(reader))
                    if not flushed:
                        assert (framed["calls"] == calls0) == skips, what
                assert answers[False] == answers[True], what
                seen[what] = b"".join(m[:1] for a in answers[False] for m in a)
            assert seen == {
                "point read": b"2DCZ", "binary, described, one row asked": b"2TDCZ",
                "no row": b"2CZ", "portal suspended": b"2TDDsZ", "runtime error": b"2EZ",
                "write": b"2CZ", "transaction": b"2CZ2CZ2DCZ2CZ",
                "bind with a parameter too many": b"EZ", "bind of no statement": b"EZ"}
        finally:
            writer.close()

    run_against_leader(tmp_path, monkeypatch, scenario)
