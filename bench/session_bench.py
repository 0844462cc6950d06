"""CPU per statement of the leader's whole write or read path, without client sockets.

A PgSession is fed asyncpg's messages for a prepared statement (Bind, Execute, Sync), or
pgbench's for its TPC-B-like transaction (`-M prepared`: Bind, Describe, Execute, Sync per
statement), one request per read, through an in-memory channel that stands for the client's
socket (requests that arrive while the session waits go to its callback, as on a socket). The
leader runs in this process (bench/embedded_leader.py; nodes 2 and 3 are real `raftsql serve`
processes), so a write is a real Raft commit with fsync on every node. What is timed is this
process's main thread (time.thread_time): the session, the Raft loop, apply and the peer
sockets, i.e. the leader's CPU per statement at one client, with no client on the machine's
cores and no client-socket syscalls. SQLite files are opened and the garbage collector is set
as `raftsql serve` does (cli.py). Repeated runs agree within a few percent, where end-to-end
figures on a 2-core machine move by more than the change being measured.

`--sessions N` runs N such sessions at once, each read yielding to the event loop as a socket
read does, so their statements interleave as N real clients' would (and N writes share a
Raft round); `--statements` then counts per session.

    python bench/session_bench.py [--workload upsert|select|tpcb] [--statements 3000]
                                  [--sessions 1] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import random
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import embedded_leader  # noqa: E402
import loadgen  # noqa: E402

from raftsql.cli import freeze_start_up_heap, keep_sqlite_files_to_this_process  # noqa: E402
from raftsql.node.database import Database, Session  # noqa: E402
from raftsql.server.channel import ClientChannel  # noqa: E402
from raftsql.server.frontend import PgFrontend  # noqa: E402
from raftsql.server.session import PgSession  # noqa: E402

INT8, TEXT = 20, 25
STATEMENTS = {"upsert": (loadgen.UPSERT, (INT8, TEXT)), "select": (loadgen.SELECT, (INT8,))}
# pgbench's TPC-B-like script (-M prepared): (statement, parameter kinds) in order
TPCB = (
    ("BEGIN", ()),
    ("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", ("delta", "aid")),
    ("SELECT abalance FROM pgbench_accounts WHERE aid = $1", ("aid",)),
    ("UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", ("delta", "tid")),
    ("UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2", ("delta", "bid")),
    ("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
     "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)", ("tid", "bid", "aid", "delta")),
    ("END", ()),
)
TPCB_SETUP = (
    "CREATE TABLE pgbench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER, filler CHAR(88))",
    "CREATE TABLE pgbench_tellers (tid INTEGER PRIMARY KEY, bid INTEGER, tbalance INTEGER, "
    "filler CHAR(84))",
    "CREATE TABLE pgbench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER, "
    "filler CHAR(84))",
    "CREATE TABLE pgbench_history (tid INTEGER, bid INTEGER, aid INTEGER, delta INTEGER, "
    "mtime TIMESTAMP, filler CHAR(22))",
    "INSERT INTO pgbench_branches VALUES (1, 0, '')",
    "INSERT INTO pgbench_tellers SELECT g, 1, 0, '' FROM generate_series(1, 10) g",
    "INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(1, 100000) g",
)
READY = b"Z\x00\x00\x00\x05"  # ReadyForQuery, then the status byte


def _message(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def _startup() -> bytes:
    params = ("user", "bench", "database", "postgres")
    body = struct.pack("!i", 196608) + b"".join(_cstr(p) for p in params) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def _prepare(sql: str, oids: tuple[int, ...]) -> bytes:
    params = struct.pack("!h", len(oids)) + b"".join(struct.pack("!i", o) for o in oids)
    return (_message(b"P", _cstr("s") + _cstr(sql) + params)
            + _message(b"D", b"S" + _cstr("s")) + _message(b"S", b""))


def _prepare_tpcb() -> bytes:
    """pgbench -M prepared: each statement parsed once as P0_<n> (pgbench sends the
    parameters untyped, as text)."""
    out = b""
    for number, (sql, kinds) in enumerate(TPCB):
        params = struct.pack("!h", len(kinds)) + b"".join(struct.pack("!i", 0) for _ in kinds)
        out += _message(b"P", _cstr(f"P0_{number}") + _cstr(sql) + params)
        out += _message(b"D", b"S" + _cstr(f"P0_{number}"))
    return out + _message(b"S", b"")


def _tpcb(rng: random.Random) -> list[bytes]:
    """One transaction: per statement Bind, Describe portal, Execute, Sync, as pgbench sends
    them, each statement one request (pgbench waits for its answer)."""
    values = {"aid": rng.randint(1, 100000), "tid": rng.randint(1, 10), "bid": 1,
              "delta": rng.randint(-5000, 5000)}
    requests = []
    for number, (_sql, kinds) in enumerate(TPCB):
        params = [str(values[k]).encode() for k in kinds]
        bind = (_cstr("") + _cstr(f"P0_{number}") + struct.pack("!h", 0)
                + struct.pack("!h", len(params))
                + b"".join(struct.pack("!i", len(p)) + p for p in params)
                + struct.pack("!h", 0))
        requests.append(_message(b"B", bind) + _message(b"D", b"P" + _cstr(""))
                        + _message(b"E", _cstr("") + struct.pack("!i", 0))
                        + _message(b"S", b""))
    return requests


def _execute(workload: str, n: int, rng: random.Random) -> bytes:
    """asyncpg's execution of the prepared statement: the key binary, the text as text."""
    params = [struct.pack("!q", rng.randrange(loadgen.KEYS))]
    if workload == "upsert":
        params.append(f"value-{n}".encode())
    formats = [1, 0][: len(params)]
    bind = (_cstr("") + _cstr("s")
            + struct.pack("!h", len(formats)) + b"".join(struct.pack("!h", f) for f in formats)
            + struct.pack("!h", len(params))
            + b"".join(struct.pack("!i", len(p)) + p for p in params)
            + struct.pack("!hh", 1, 1))
    # asyncpg's fetchrow() asks for one row (the load generator's point SELECT), execute()
    # for all
    limit = 1 if workload == "select" else 0
    return (_message(b"B", bind) + _message(b"E", _cstr("") + struct.pack("!i", limit))
            + _message(b"S", b""))


class _Channel:
    """Stands for `ClientChannel`: hands the session one request per read, then end of
    stream, and counts the answers (each ends with ReadyForQuery) and the ErrorResponses in
    them. As on a socket, a request that arrives while the session waits in its loop goes to
    the session's sink; with `yielding`, each read first lets the other sessions run."""

    peer = "127.0.0.1:0"
    must_drain = False

    def __init__(self, chunks: list[bytes], yielding: bool) -> None:
        self._chunks = chunks[::-1]
        self._yielding = yielding
        self.answers = 0
        self.errors = 0

    async def read(self, sink: Callable[[bytes], bool] | None = None) -> bytes | None:
        while self._chunks:
            if self._yielding:
                await asyncio.sleep(0)
            chunk = self._chunks.pop()
            if sink is None:
                return chunk
            if not sink(chunk):
                return None
        return b""

    def write(self, data: bytes) -> None:
        if data[-6:-1] == READY:
            self.answers += 1
        pos = 0
        while pos < len(data):
            if data[pos:pos + 1] == b"E":
                self.errors += 1
            pos += 1 + struct.unpack_from("!i", data, pos + 1)[0]

    def close(self) -> None:
        pass

    async def drain(self) -> None:
        pass


async def _run(frontend: PgFrontend, workload: str, per_session: list[list[bytes]],
               profile: cProfile.Profile | None) -> tuple[float, float, int]:
    """Run one session per request list at once: (wall, main-thread CPU, error answers)."""
    if workload == "tpcb":
        prepare = _prepare_tpcb()
    else:
        sql, oids = STATEMENTS[workload]
        prepare = _prepare(sql, oids)
    channels, sessions = [], []
    for requests in per_session:
        channel = _Channel([_startup(), prepare, *requests], yielding=len(per_session) > 1)
        channels.append(channel)
        sessions.append(PgSession(frontend, cast(ClientChannel, channel), 1))
    t0, c0 = time.perf_counter(), time.thread_time()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(session.run() for session in sessions))
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
    for channel, requests in zip(channels, per_session, strict=True):
        assert channel.answers == len(requests) + 2, (
            f"{channel.answers} answers for {len(requests)} statements")
    # concurrent transactions may meet a serialization failure (40001), as pgbench's do
    errors = sum(channel.errors for channel in channels)
    assert len(per_session) > 1 or not errors, f"{errors} errors"
    return wall, cpu, errors


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    keep_sqlite_files_to_this_process()  # as `raftsql serve` opens them
    with tempfile.TemporaryDirectory() as tmp:
        cluster, node, sm = await embedded_leader.start(Path(tmp))
        try:
            db = Database(node, sm)
            setup = Session()
            for sql in (*loadgen.SETUP, *(TPCB_SETUP if args.workload == "tpcb" else ())):
                await db.execute(setup, sql)
            frontend = PgFrontend(db, ("127.0.0.1", 0))
            rng = random.Random(1)
            def requests_for(n: int) -> list[bytes]:
                if args.workload == "tpcb":  # --statements counts transactions here
                    return [r for _ in range(n) for r in _tpcb(rng)]
                return [_execute(args.workload, k, rng) for k in range(n)]

            sessions = range(args.sessions)
            await _run(frontend, args.workload,
                       [requests_for(args.statements // 3) for _ in sessions], None)
            per_session = [requests_for(args.statements) for _ in sessions]
            profile = cProfile.Profile() if args.profile else None
            # The set-up and the warm-up hold this process's loop (the leader's) long enough
            # for the other nodes to elect one of themselves now and then: the reads would
            # then be a follower's, each asking the new leader for a read index.
            await embedded_leader.make_leader(node, cluster)
            freeze_start_up_heap()  # the collector as `raftsql serve` sets it once serving
            term = node.raw.raft.term
            writes_before = node.store.stats.writes
            wall, cpu, errors = await _run(frontend, args.workload, per_session, profile)
            if not node.is_leader() or node.raw.raft.term != term:
                print("# node 1 lost its leadership during the run: these are not a leader's "
                      "figures")
            n = args.statements * args.sessions
            unit = "transaction" if args.workload == "tpcb" else "statement"
            print(f"{args.workload}, {args.sessions} session(s): {n} {unit}s, {n / wall:.0f}/s, "
                  f"leader main-thread CPU {cpu / n * 1e6:.1f} us/{unit}, "
                  f"wall {wall / n * 1e6:.1f} us/{unit}, "
                  f"log writes/{unit} {(node.store.stats.writes - writes_before) / n:.2f}, "
                  f"errors {errors}")
            if profile is not None:
                pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        finally:
            await node.stop(transfer=False)
            cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=[*sorted(STATEMENTS), "tpcb"], default="upsert",
                        help="tpcb: pgbench's TPC-B-like transaction; --statements counts them")
    parser.add_argument("--statements", type=int, default=3000, help="per session")
    parser.add_argument("--sessions", type=int, default=1,
                        help="sessions at once, their reads yielding as socket reads do")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured run")
    try:  # the event loop `raftsql serve` runs on (cli.py)
        from uvloop import run as runner
    except ImportError:
        runner = asyncio.run  # type: ignore[assignment]
    runner(main(parser.parse_args()))
