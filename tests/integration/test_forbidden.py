"""Statements that would make nodes diverge, touch node-local files or corrupt raftsql's own
bookkeeping are refused with a clear error and the right SQLSTATE, on the leader and on a
follower, inside and outside transactions, and the node keeps serving every other session.

Sources of truth: ARCHITECTURE.md "Determinism" (ATTACH, load_extension, writable PRAGMAs,
VACUUM INTO, temp files by path are refused by a SQLite authorizer) and "Errors" (0A000 and the
usual PostgreSQL codes); docs/sql.md "Refused" (42501 for ATTACH/DETACH/PRAGMA/VACUUM INTO/
load_extension(), 0A000 for unsupported constructs); docs/transactions.md section 4 (writes or
DDL on ``_raftsql_*`` and ``sqlite_master`` writes are 42501). PostgreSQL itself answers a
permission problem with 42501 insufficient_privilege and an unsupported feature with 0A000
feature_not_supported (PostgreSQL docs, Appendix A).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from raftsql.testing.procs import ProcessCluster

pytest.importorskip("raftsql.server.frontend", reason="the Postgres frontend is not built yet")

# (statement, SQLSTATE, a word the message must contain so the user knows what was refused)
FORBIDDEN: list[tuple[str, str, str]] = [
    ("ATTACH DATABASE '/tmp/raftsql-forbidden.db' AS other", "42501", "ATTACH"),
    ("DETACH DATABASE other", "42501", "DETACH"),
    ("PRAGMA writable_schema = 1", "42501", "PRAGMA"),
    ("PRAGMA journal_mode = DELETE", "42501", "PRAGMA"),
    ("PRAGMA temp_store_directory = '/tmp'", "42501", "PRAGMA"),
    ("VACUUM INTO '/tmp/raftsql-forbidden-copy.db'", "42501", "VACUUM INTO"),
    ("SELECT load_extension('/tmp/evil.so')", "42501", "load_extension"),
    ("INSERT INTO acct (owner) SELECT load_extension('/tmp/evil.so')", "42501",
     "load_extension"),
    ("SELECT readfile('/etc/passwd')", "42501", "readfile"),
    ("SELECT writefile('/tmp/raftsql-forbidden.txt', 'x')", "42501", "writefile"),
    ("INSERT INTO _raftsql_meta VALUES (2, 0, 'x', 1)", "42501", "_raftsql_meta"),
    ("UPDATE _raftsql_meta SET applied_index = 0", "42501", "_raftsql_meta"),
    ("DELETE FROM _raftsql_sessions", "42501", "_raftsql_sessions"),
    ("UPDATE _raftsql_table_versions SET idx = 0", "42501", "_raftsql_table_versions"),
    ("INSERT INTO _raftsql_checkpoints SELECT 1, 'x'", "42501", "_raftsql_checkpoints"),
    ("DROP TABLE _raftsql_checkpoints", "42501", "_raftsql_checkpoints"),
    ("ALTER TABLE _raftsql_meta ADD COLUMN x integer", "42501", "_raftsql_meta"),
    ("CREATE INDEX ix_meta ON _raftsql_meta (format)", "42501", "_raftsql_meta"),
    ("UPDATE sqlite_master SET sql = 'x'", "42501", "sqlite_master"),
    ("DELETE FROM sqlite_master", "42501", "sqlite_master"),
    ("INSERT INTO sqlite_master VALUES ('table', 'z', 'z', 0, 'CREATE TABLE z (a)')",
     "42501", "sqlite_master"),
    ("CREATE TEMP TABLE scratch (a integer)", "0A000", "temporary"),
    ("CREATE TRIGGER tr AFTER INSERT ON acct FOR EACH ROW EXECUTE FUNCTION f()", "0A000",
     "TRIGGER"),
    ("WITH gone AS (DELETE FROM acct RETURNING *) SELECT count(*) FROM gone", "0A000", ""),
]

IDS = [s.split("(")[0][:48] for s, _, _ in FORBIDDEN]


async def _connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, timeout=5, statement_cache_size=0)


async def _error_of(dsn: str, sql: str, in_transaction: bool) -> asyncpg.PostgresError | None:
    """Run ``sql`` on a fresh connection; return the error (None if it succeeded). Afterwards
    the same connection must still work: a refused statement is an ordinary error."""
    conn = await _connect(dsn)
    try:
        err: asyncpg.PostgresError | None = None
        if in_transaction:
            await conn.execute("BEGIN")
        try:
            await conn.fetch(sql, timeout=10)
        except asyncpg.PostgresError as exc:
            err = exc
        if in_transaction:
            await conn.execute("ROLLBACK")
        assert await conn.fetchval("SELECT count(*) FROM acct", timeout=10) == 2
        return err
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    with ProcessCluster(Path(tmp_path_factory.mktemp("forbidden")), 3) as c:
        c.start()
        leader = c.wait_for_leader(timeout=20)

        async def setup() -> None:
            conn = await _connect(c.nodes[leader].pg_dsn)
            await conn.execute("CREATE TABLE acct (id serial PRIMARY KEY, owner text)")
            await conn.execute("INSERT INTO acct (owner) VALUES ('ann'), ('bob')")
            await conn.close()

        asyncio.run(setup())
        yield c


def _target(c: ProcessCluster, on: str) -> str:
    leader = c.wait_for_leader(timeout=10)
    if on == "leader":
        return c.nodes[leader].pg_dsn
    return next(n.pg_dsn for i, n in c.nodes.items() if i != leader)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("sql", "sqlstate", "word"), FORBIDDEN, ids=IDS)
@pytest.mark.parametrize("on", ["leader", "follower"])
def test_refused_with_its_sqlstate(cluster: ProcessCluster, on: str, sql: str, sqlstate: str,
                                   word: str) -> None:
    err = asyncio.run(_error_of(_target(cluster, on), sql, in_transaction=False))
    assert err is not None, f"{sql!r} succeeded on the {on}"
    assert err.sqlstate == sqlstate, f"{sql!r}: {err.sqlstate} {err}"
    assert word.lower() in str(err).lower(), f"the message does not name {word!r}: {err}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("sql", "sqlstate", "word"), FORBIDDEN, ids=IDS)
def test_refused_inside_a_transaction(cluster: ProcessCluster, sql: str, sqlstate: str,
                                      word: str) -> None:
    """Inside BEGIN the statement runs on the transaction's private copy (docs/transactions.md):
    the same authorizer must refuse it there, before anything is proposed."""
    err = asyncio.run(_error_of(_target(cluster, "leader"), sql, in_transaction=True))
    assert err is not None, f"{sql!r} succeeded inside a transaction"
    assert err.sqlstate == sqlstate, f"{sql!r}: {err.sqlstate} {err}"


@pytest.mark.timeout(90)
def test_other_sessions_keep_working_and_nodes_stay_equal(cluster: ProcessCluster) -> None:
    """A session opened before the refusals, on every node, still reads and writes; the
    refused statements changed nothing on any node (identical content checksums)."""
    c = cluster

    async def run() -> None:
        bystanders = [await _connect(n.pg_dsn) for n in c.nodes.values()]
        try:
            for b in bystanders:
                await b.execute("SET raftsql.read_consistency = 'linearizable'")
            dsn = _target(c, "follower")
            for sql, _, _ in FORBIDDEN:  # all of them, interleaved with bystander work
                await _error_of(dsn, sql, in_transaction=False)
                await bystanders[0].execute("INSERT INTO acct (owner) VALUES ('carl')",
                                            timeout=10)
                await bystanders[0].execute("DELETE FROM acct WHERE owner = 'carl'", timeout=10)
            for b in bystanders:
                rows = await b.fetch("SELECT owner FROM acct ORDER BY id", timeout=10)
                assert [r[0] for r in rows] == ["ann", "bob"]
            names = await bystanders[1].fetch(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            assert "acct" in [r[0] for r in names]
        finally:
            for b in bystanders:
                await b.close()

    asyncio.run(run())
    c.wait_converged(timeout=30)
    sums = {i: c.http(i, "/checksum")["checksum"] for i in c.nodes}
    assert len(set(sums.values())) == 1, f"state checksums differ: {sums}"
    for i in c.nodes:
        st = c.status(i)
        assert st is not None and not st["diverged_from"], st
