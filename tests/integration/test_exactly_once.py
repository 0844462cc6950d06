"""Exactly-once INSERTs under kill -9: clients that retry an unknown outcome with the same
(client id, request id) on any node get their row applied once, never twice.

Sources of truth: Raft thesis section 6.3 ("Implementing linearizable semantics": the state
machine remembers each client's latest serial number and its response, and answers a
duplicate with it instead of applying again); ARCHITECTURE.md "Errors" (40003 and lost
connections mean "maybe applied", so a client must be able to retry safely) and
"Command line" (SIGKILL at any moment must lose no acknowledged write); docs of
raftsql/node/database.py (``SET raftsql.client_id`` once, ``SET raftsql.request_id`` before
each write, the same values on a retry, on any connection).

The table has NO unique key on the payload (id serial + payload), so nothing but the retry
deduplication stops a retried INSERT from adding a second row.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from raftsql.testing.procs import ProcessCluster

pytest.importorskip("raftsql.server.frontend", reason="the Postgres frontend is not built yet")

TOTAL = 1000
CLIENTS = 25
DEADLINE_S = 90.0


class Client:
    """One logical client: a fixed client id, request ids 1, 2, ...; every insert is retried
    (reconnecting to a random node) until it is acknowledged."""

    def __init__(self, n: int, dsns: list[str], payloads: list[str]) -> None:
        self.n = n
        self.dsns = dsns
        self.payloads = payloads
        self.rng = random.Random(n)
        self.conn: asyncpg.Connection | None = None
        self.acked: list[str] = []
        self.retries = 0

    async def _connection(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            self.conn = await asyncpg.connect(self.rng.choice(self.dsns), timeout=3,
                                              statement_cache_size=0)
            await self.conn.execute(f"SET raftsql.client_id = 'exactly-once-{self.n}'",
                                    timeout=3)
        return self.conn

    async def _drop(self) -> None:
        if self.conn is not None:
            self.conn.terminate()
        self.conn = None

    async def run(self, stop_at: float) -> None:
        for request_id, payload in enumerate(self.payloads, start=1):
            while time.monotonic() < stop_at:
                try:
                    conn = await self._connection()
                    await conn.execute(f"SET raftsql.request_id = '{request_id}'", timeout=3)
                    tag = await conn.execute("INSERT INTO ev (payload) VALUES ($1)", payload,
                                             timeout=5)
                    assert tag == "INSERT 0 1", tag
                    self.acked.append(payload)
                    # pace the clients so the 1,000 inserts span the nemesis's kills even on
                    # a fast machine
                    await asyncio.sleep(PACE_S)
                    break
                except asyncpg.PostgresError:
                    # 40001/57P03: not applied; 40003: maybe applied. Either way the same ids
                    # make the retry safe. A new node may know the leader when this one does not.
                    self.retries += 1
                    await self._drop()
                    await asyncio.sleep(0.05)
                except (TimeoutError, OSError, asyncpg.InterfaceError):
                    self.retries += 1  # lost connection or no answer: outcome unknown
                    await self._drop()
                    await asyncio.sleep(0.05)
            else:
                return
        await self._drop()


KILLS = 5
PACE_S = 0.15


def _killer(c: ProcessCluster, stop: threading.Event, kills: list[int]) -> None:
    """kill -9 a node (the leader every other time) every ~0.6 s, restart it ~0.5 s later,
    KILLS times; never more than one node down, so the cluster can always make progress."""
    rng = random.Random(4)
    turn = 0
    while len(kills) < KILLS and not stop.wait(rng.uniform(0.3, 0.9)):
        leader = c.leader()
        victim = leader if turn % 2 == 0 and leader is not None else rng.choice(list(c.nodes))
        turn += 1
        c.kill(victim)
        kills.append(victim)
        stop.wait(rng.uniform(0.3, 0.7))
        c.start(victim)


@pytest.mark.timeout(180)
def test_retried_inserts_apply_exactly_once_under_kill_9(tmp_path: Path) -> None:
    with ProcessCluster(tmp_path, 3) as c:
        c.start()
        leader = c.wait_for_leader(timeout=20)

        async def setup() -> None:
            conn = await asyncpg.connect(c.nodes[leader].pg_dsn, statement_cache_size=0)
            await conn.execute("CREATE TABLE ev (id serial PRIMARY KEY, payload text NOT NULL)")
            await conn.close()

        asyncio.run(setup())
        dsns = [n.pg_dsn for n in c.nodes.values()]
        per_client = TOTAL // CLIENTS
        clients = [Client(n, dsns, [f"p{n:02d}-{k:03d}" for k in range(per_client)])
                   for n in range(CLIENTS)]
        stop = threading.Event()
        kills: list[int] = []
        killer = threading.Thread(target=_killer, args=(c, stop, kills))

        async def load() -> None:
            stop_at = time.monotonic() + DEADLINE_S
            await asyncio.gather(*(cl.run(stop_at) for cl in clients))

        t0 = time.monotonic()
        killer.start()
        try:
            asyncio.run(load())
        finally:
            stop.set()
            killer.join(30)
        elapsed = time.monotonic() - t0
        for i, node in c.nodes.items():
            if not node.running:
                c.start(i)
        acked = [p for cl in clients for p in cl.acked]
        retries = sum(cl.retries for cl in clients)
        print(f"{len(acked)} acknowledged in {elapsed:.1f}s, {retries} retries, "
              f"kill -9 of nodes {kills}")
        assert len(kills) >= 3, "the nemesis did not get to kill enough nodes"
        assert retries > 0, "no insert was ever retried: the test did not test retries"
        assert len(acked) == TOTAL, f"only {len(acked)} of {TOTAL} acknowledged in time"

        c.wait_for_leader(timeout=20)
        c.wait_converged(timeout=60)

        async def rows_on(dsn: str) -> list[str]:
            conn = await asyncpg.connect(dsn, statement_cache_size=0)
            try:
                await conn.execute("SET raftsql.read_consistency = 'stale'")
                return [r[0] for r in await conn.fetch("SELECT payload FROM ev")]
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

        attempted = {p for cl in clients for p in cl.payloads}
        for i, node in c.nodes.items():
            counts = Counter(asyncio.run(rows_on(node.pg_dsn)))
            twice = {p: k for p, k in counts.items() if k > 1}
            assert not twice, f"node {i}: rows applied more than once: {list(twice)[:5]}"
            missing = set(acked) - set(counts)
            assert not missing, f"node {i} lost acknowledged rows: {sorted(missing)[:5]}"
            assert set(counts) <= attempted
        sums = {i: c.http(i, "/checksum")["checksum"] for i in c.nodes}
        assert len(set(sums.values())) == 1, f"state checksums differ: {sums}"


def test_a_connection_session_may_expire_and_a_named_one_is_kept(tmp_path: Path) -> None:
    """docs/transactions.md "Session expiry": a write of a connection's own session carries
    the node's applied index and its session row an expiry index; a client that names itself
    (or picks its request ids) may retry at any time, so its row is kept for good."""
    import apsw

    from raftsql import dbapi

    own = dbapi.connect(tmp_path / "db", dialect="postgres", isolation_level=None)
    named = dbapi.connect(tmp_path / "db", dialect="postgres", isolation_level=None)
    try:
        own.execute("CREATE TABLE t (k integer PRIMARY KEY)")
        own.execute("INSERT INTO t VALUES (1)")
        named.execute("SET raftsql.client_id = 'worker-1'")
        named.execute("INSERT INTO t VALUES (2)")

        async def path() -> str:
            return str(own.node.server.sm.db.path)

        db = apsw.Connection(own.node.call(path()), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            rows = {c: (s, i) for c, s, i in
                    db.execute("SELECT client_id, seq, last_index FROM _raftsql_sessions")}
        finally:
            db.close()
    finally:
        named.close()
        own.close()
    assert len(rows) == 2
    assert rows.pop(b"c:worker-1".hex()) == (1, None)  # named: kept for good
    [(seq, last_index)] = rows.values()  # the connection's own: may expire
    assert seq == 2 and last_index is not None and last_index >= 2
