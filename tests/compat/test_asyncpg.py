"""asyncpg 0.30+ against a real 3-node raftsql cluster.

Source of truth: PGWIRE.md sections 3-8 and 10 (what asyncpg needs, from asyncpg's own
connection.py / prepared_stmt.pyx / coreproto.pyx), and PostgreSQL 15's behaviour for the
same calls (types, command tags, SQLSTATEs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from decimal import Decimal

import asyncpg
import pytest

pytestmark = pytest.mark.timeout(60)


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


async def _connect(cluster, **kw):  # noqa: ANN001, ANN003, ANN202
    return await asyncpg.connect(cluster.dsn(), **kw)


def test_fetch_execute_and_tags(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            assert await conn.execute("CREATE TABLE a1 (id serial PRIMARY KEY, name text NOT NULL, "
                                      "score integer)") == "CREATE TABLE"
            assert await conn.execute("INSERT INTO a1 (name, score) VALUES ($1, $2)",
                                      "x", 5) == "INSERT 0 1"
            await conn.executemany("INSERT INTO a1 (name, score) VALUES ($1, $2)",
                                   [("y", 6), ("z", 7)])
            rows = await conn.fetch("SELECT id, name, score FROM a1 WHERE score >= $1 "
                                    "ORDER BY id", 6)
            assert [(r["name"], r["score"]) for r in rows] == [("y", 6), ("z", 7)]
            row = await conn.fetchrow("SELECT count(*), max(score), 1 + 1, 'a' AS Mixed "
                                      "FROM a1")
            # PostgreSQL's names and types (PGWIRE.md 5.1): count -> int8 "count" etc.
            assert list(row.keys()) == ["count", "max", "?column?", "mixed"]
            assert row["count"] == 3 and row["max"] == 7 and row[2] == 2
            assert await conn.fetchval("SELECT name FROM a1 WHERE id = $1", 1) == "x"
            assert await conn.execute("UPDATE a1 SET score = score + 1 WHERE score > $1",
                                      5) == "UPDATE 2"
            assert await conn.execute("DELETE FROM a1 WHERE name = $1", "z") == "DELETE 1"
            assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
            # RETURNING: rows come back and the tag counts them (INSERT 0 n)
            assert await conn.fetchval("INSERT INTO a1 (name, score) VALUES ($1, 1) "
                                       "RETURNING name", "r") == "r"
            assert await conn.execute("INSERT INTO a1 (name) VALUES ('s'), ('t') "
                                      "RETURNING id") == "INSERT 0 2"
            assert await conn.fetchval("SELECT name FROM a1 ORDER BY id LIMIT $1", 1) == "x"
        finally:
            await conn.close()

    run(main())


def test_prepared_statements_and_cursor(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            await conn.execute("CREATE TABLE a2 (k integer PRIMARY KEY, v text)")
            await conn.executemany("INSERT INTO a2 VALUES ($1, $2)",
                                   [(i, f"v{i}") for i in range(50)])
            stmt = await conn.prepare("SELECT v FROM a2 WHERE k = $1")
            assert [p.name for p in stmt.get_parameters()] == ["int4"]
            assert [a.type.name for a in stmt.get_attributes()] == ["text"]
            assert await stmt.fetchval(7) == "v7"
            assert await stmt.fetchval(8) == "v8"
            async with conn.transaction():
                got = [r["k"] async for r in conn.cursor("SELECT k FROM a2 ORDER BY k",
                                                         prefetch=7)]
                assert got == list(range(50))
                cur = await conn.cursor("SELECT k FROM a2 ORDER BY k")
                assert [r["k"] for r in await cur.fetch(3)] == [0, 1, 2]
                assert (await cur.fetchrow())["k"] == 3
        finally:
            await conn.close()

    run(main())


def test_transactions_and_savepoints(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            await conn.execute("CREATE TABLE a3 (k integer PRIMARY KEY)")
            async with conn.transaction():
                await conn.execute("INSERT INTO a3 VALUES (1)")
                try:
                    async with conn.transaction():  # SAVEPOINT
                        await conn.execute("INSERT INTO a3 VALUES (2)")
                        raise RuntimeError("roll back the savepoint")
                except RuntimeError:
                    pass
                async with conn.transaction():
                    await conn.execute("INSERT INTO a3 VALUES (3)")
            assert [r[0] for r in await conn.fetch("SELECT k FROM a3 ORDER BY k")] == [1, 3]
            tr = conn.transaction()
            await tr.start()
            await conn.execute("INSERT INTO a3 VALUES (4)")
            assert conn.is_in_transaction()
            await tr.rollback()
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM a3") == 2
        finally:
            await conn.close()

    run(main())


def test_error_classes(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            await conn.execute("CREATE TABLE a4 (k integer PRIMARY KEY, v text NOT NULL)")
            await conn.execute("INSERT INTO a4 VALUES (1, 'a')")
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute("INSERT INTO a4 VALUES (1, 'b')")
            with pytest.raises(asyncpg.NotNullViolationError):
                await conn.execute("INSERT INTO a4 VALUES (2, NULL)")
            with pytest.raises(asyncpg.UndefinedTableError):
                await conn.fetch("SELECT * FROM no_such_table")
            with pytest.raises(asyncpg.PostgresSyntaxError):
                await conn.fetch("SELEC 1")
            with pytest.raises(asyncpg.UndefinedColumnError):
                await conn.fetch("SELECT nope FROM a4")
            async with conn.transaction():
                with pytest.raises(asyncpg.UniqueViolationError):
                    await conn.execute("INSERT INTO a4 VALUES (1, 'c')")
                with pytest.raises(asyncpg.InFailedSQLTransactionError):
                    await conn.fetch("SELECT 1")
                raise_rollback = asyncpg.InFailedSQLTransactionError
                del raise_rollback
        except asyncpg.InFailedSQLTransactionError:
            pass
        finally:
            # the session stays usable after errors
            assert await conn.fetchval("SELECT count(*) FROM a4") == 1
            await conn.close()

    run(main())


TYPE_CASES = [
    ("boolean", True), ("smallint", 12), ("integer", -5), ("bigint", 2**40),
    ("real", 1.5), ("double precision", 2.25), ("numeric(10,2)", Decimal("12.34")),
    ("text", "héllo"), ("varchar(20)", "v"), ("bytea", b"\x00\x01\xff"),
    ("date", dt.date(2024, 2, 29)), ("timestamp", dt.datetime(2024, 1, 2, 3, 4, 5, 678901)),
    ("timestamptz", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("json", '{"a": [1, 2]}'), ("jsonb", '{"a": 1}'),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("interval", dt.timedelta(days=-3, hours=4, microseconds=5)),
]


def test_type_round_trip(cluster) -> None:  # noqa: ANN001
    """Each builtin type through a table column, binary format both ways (asyncpg)."""
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            cols = ", ".join(f"c{i} {t}" for i, (t, _v) in enumerate(TYPE_CASES))
            await conn.execute(f"CREATE TABLE a5 (id integer PRIMARY KEY, {cols})")
            marks = ", ".join(f"${i + 2}" for i in range(len(TYPE_CASES)))
            await conn.execute(f"INSERT INTO a5 VALUES ($1, {marks})", 1,
                               *[v for _t, v in TYPE_CASES])
            row = await conn.fetchrow("SELECT * FROM a5 WHERE id = $1", 1)
            for i, (t, v) in enumerate(TYPE_CASES):
                got = row[f"c{i}"]
                if t == "jsonb":
                    assert got.replace(" ", "") == v.replace(" ", ""), t
                else:
                    assert got == v, (t, got, v)
            # interval_send carries months apart from days: asyncpg turns a month into 30
            # days and a year into 365 (asyncpg/pgproto codecs/datetime.pyx interval_decode),
            # so 397 days here (not 13 * 30 + 2) shows the months reached the client as months
            assert await conn.fetchval("SELECT '1 year 1 mon 2 days 03:00:00'::interval") == \
                dt.timedelta(days=397, hours=3)
            assert await conn.fetchval("SELECT $1::interval + interval '1 day'",
                                       dt.timedelta(hours=25)) == dt.timedelta(days=2, hours=1)
        finally:
            await conn.close()

    run(main())


def test_copy_records_and_copy_from_query(cluster, tmp_path) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            await conn.execute("CREATE TABLE a6 (id integer PRIMARY KEY, name text, "
                               "amount numeric(10,2), at timestamptz)")
            at = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
            records = [(i, f"n{i}", Decimal(i) / 4, at) for i in range(2500)]
            tag = await conn.copy_records_to_table("a6", records=records)
            assert tag == "COPY 2500"
            assert await conn.fetchval("SELECT sum(id) FROM a6") == sum(range(2500))
            out = tmp_path / "out.csv"
            tag = await conn.copy_from_query("SELECT id, name FROM a6 WHERE id < $1 ORDER BY id",
                                             3, output=str(out), format="csv")
            assert out.read_text() == "0,n0\n1,n1\n2,n2\n"
        finally:
            await conn.close()

    run(main())


def test_pool_under_load(cluster) -> None:  # noqa: ANN001
    """Pool release sends asyncpg's reset query (PGWIRE.md section 8)."""
    async def main() -> None:
        pool = await asyncpg.create_pool(cluster.dsn(), min_size=2, max_size=6)
        try:
            await pool.execute("CREATE TABLE a7 (k integer PRIMARY KEY, v integer)")

            async def work(i: int) -> None:
                async with pool.acquire() as conn:
                    await conn.execute("INSERT INTO a7 VALUES ($1, $2)", i, i * 2)
                    assert await conn.fetchval("SELECT v FROM a7 WHERE k = $1", i) == i * 2

            await asyncio.gather(*(work(i) for i in range(60)))
            assert await pool.fetchval("SELECT count(*) FROM a7") == 60
        finally:
            await pool.close()

    run(main())


def test_target_session_attrs_finds_leader(cluster) -> None:  # noqa: ANN001
    """ParameterStatus default_transaction_read_only/in_hot_standby on followers (PGWIRE.md
    1.4) lets asyncpg pick the leader among all three nodes."""
    async def main() -> None:
        hosts = [f"127.0.0.1:{p}" for p in cluster.pg_ports.values()]
        dsn = f"postgresql://raftsql@{','.join(hosts)}/raftsql?target_session_attrs=read-write"
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SHOW transaction_read_only") == "off"
            assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
        finally:
            await conn.close()
        follower = await asyncpg.connect(cluster.dsn(cluster.follower_port()))
        try:
            assert await follower.fetchval("SHOW transaction_read_only") == "on"
        finally:
            await follower.close()

    run(main())


def test_cancel_and_statement_timeout(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            # ~1.5 s of SQLite work; the read thread finishes it after the cancel (known gap)
            slow = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                    "WHERE x < 5000000) SELECT count(*) FROM c")
            with pytest.raises((asyncio.TimeoutError, asyncpg.QueryCanceledError)):
                await conn.fetchval(slow, timeout=0.5)
            assert await conn.fetchval("SELECT 1") == 1
            await conn.execute("SET statement_timeout = '200ms'")
            with pytest.raises(asyncpg.QueryCanceledError):
                await conn.fetchval(slow)
            await conn.execute("RESET statement_timeout")
            assert await conn.fetchval("SELECT 2") == 2

            # Inside a transaction the statement runs on the node's event loop, where no task
            # can be cancelled: SQLite itself stops it. It ran to the end (3.5 s of a 30 M
            # row CTE) and COMMIT then committed the writes before it; PostgreSQL fails the
            # transaction, and COMMIT answers ROLLBACK.
            await conn.execute("CREATE TABLE a_to (k integer PRIMARY KEY)")
            for simple in (True, False):  # simple and extended protocol
                await conn.execute("BEGIN")
                await conn.execute("INSERT INTO a_to VALUES (1)")
                await conn.execute("SET LOCAL statement_timeout = '200ms'")
                started = time.monotonic()
                with pytest.raises(asyncpg.QueryCanceledError):
                    await (conn.execute(slow) if simple else conn.fetchval(slow))
                assert time.monotonic() - started < 1.0
                with pytest.raises(asyncpg.InFailedSQLTransactionError):
                    await conn.fetchval("SELECT 1")
                assert await conn.execute("COMMIT") == "ROLLBACK"
                assert await conn.fetchval("SELECT count(*) FROM a_to") == 0
        finally:
            await conn.close()

    run(main())


def test_follower_session_settings_and_status(cluster) -> None:  # noqa: ANN001
    """A follower takes writes (forwarded), startup settings become session settings
    (PGWIRE.md 1.2: server_settings/options), and raftsql_status describes itself."""
    async def main() -> None:
        conn = await asyncpg.connect(cluster.dsn(cluster.follower_port()),
                                     server_settings={"raftsql.read_consistency": "linearizable"})
        try:
            assert await conn.fetchval("SHOW raftsql.read_consistency") == "linearizable"
            await conn.execute("CREATE TABLE a9 (k integer PRIMARY KEY)")
            await conn.execute("INSERT INTO a9 VALUES ($1)", 1)
            assert await conn.fetchval("SELECT count(*) FROM a9") == 1
            row = await conn.fetchrow("SELECT node_id, role FROM raftsql_status")
            assert row["role"] == "follower"
            nodes = await conn.fetch("SELECT node_id, address, is_leader FROM raftsql_nodes")
            assert len(nodes) == 3 and all(n["address"] for n in nodes), nodes
            assert sorted(n["is_leader"] for n in nodes) == [False, False, True]  # booleans
            assert await conn.fetchrow(";") is None  # SQLAlchemy's pool_pre_ping
        finally:
            await conn.close()

    run(main())


def test_settings_follow_postgresql_transaction_rules(cluster) -> None:  # noqa: ANN001
    """SET LOCAL lasts until the transaction ends, a SET in a rolled-back transaction is
    undone, a typo under raftsql's reserved prefix is refused (PostgreSQL 15's GUC rules), and
    default_transaction_read_only / SET SESSION CHARACTERISTICS make later writes 25006."""
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            async def level() -> str:
                return await conn.fetchval("SHOW raftsql.read_consistency")

            async with conn.transaction():
                await conn.execute("SET LOCAL raftsql.read_consistency = 'stale'")
                assert await level() == "stale"
            assert await level() == "lease"
            tr = conn.transaction()
            await tr.start()
            await conn.execute("SET raftsql.read_consistency = 'linearizable'")
            await tr.rollback()
            assert await level() == "lease"
            async with conn.transaction():
                await conn.execute("SET raftsql.read_consistency = 'linearizable'")
            assert await level() == "linearizable"
            await conn.execute("RESET raftsql.read_consistency")
            await conn.execute("SET LOCAL raftsql.read_consistency = 'stale'")  # a WARNING
            assert await level() == "lease"
            with pytest.raises(asyncpg.PostgresError) as info:
                await conn.execute("SET raftsql.read_consistancy = 'stale'")
            assert info.value.sqlstate == "42602"

            await conn.execute("CREATE TABLE a_ro (k integer PRIMARY KEY)")
            for readonly in ("SET default_transaction_read_only = on",
                             "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"):
                await conn.execute(readonly)
                assert await conn.fetchval("SHOW transaction_read_only") == "on"
                with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                    await conn.execute("INSERT INTO a_ro VALUES (1)")
                async with conn.transaction():  # BEGIN is read-only by default now
                    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                        await conn.execute("INSERT INTO a_ro VALUES (1)")
                await conn.execute("SET default_transaction_read_only = off")
            await conn.execute("INSERT INTO a_ro VALUES (1)")
            await conn.execute("BEGIN READ ONLY")
            assert await conn.fetchval("SHOW transaction_read_only") == "on"
            await conn.execute("ROLLBACK")
            assert await conn.fetchval("SHOW transaction_read_only") == "off"
        finally:
            await conn.close()

    run(main())


def test_executemany_is_one_implicit_transaction(cluster) -> None:  # noqa: ANN001
    """asyncpg's executemany pipelines Bind/Execute with one Sync: one implicit transaction
    (PostgreSQL 15 docs 55.2.3), so a failing row leaves none of the rows behind."""
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            await conn.execute("CREATE TABLE a10 (k integer PRIMARY KEY)")
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.executemany("INSERT INTO a10 VALUES ($1)", [(1,), (2,), (2,), (3,)])
            assert await conn.fetchval("SELECT count(*) FROM a10") == 0
            await conn.executemany("INSERT INTO a10 VALUES ($1)", [(i,) for i in range(100)])
            assert await conn.fetchval("SELECT count(*) FROM a10") == 100
            assert not conn.is_in_transaction()
        finally:
            await conn.close()

    run(main())


def test_bytea_and_array_parameter_casts(cluster) -> None:  # noqa: ANN001
    """$1::bytea, '\\x..'::bytea, $1::int[] and $1::text[] (issue 5): asyncpg types the
    parameters from ParameterDescription and gets PostgreSQL's result types back
    (PostgreSQL 15: bytea, int4[], text[])."""
    async def main() -> None:
        conn = await _connect(cluster)
        try:
            assert await conn.fetchval("SELECT $1::bytea", b"\x00\xff") == b"\x00\xff"
            assert await conn.fetchval("SELECT '\\x0102'::bytea") == b"\x01\x02"
            assert await conn.fetchval("SELECT $1::int[]", [3, 1, 2]) == [3, 1, 2]
            assert await conn.fetchval("SELECT $1::text[]", ["a", "b c"]) == ["a", "b c"]
            await conn.execute("CREATE TABLE a_arr (id integer PRIMARY KEY, tag text)")
            await conn.executemany("INSERT INTO a_arr VALUES ($1, $2)",
                                   [(1, "x"), (2, "y"), (3, "z")])
            rows = await conn.fetch("SELECT id FROM a_arr WHERE tag = ANY($1::text[]) "
                                    "ORDER BY id", ["z", "x"])
            assert [r[0] for r in rows] == [1, 3]
            assert await conn.fetchval("SELECT 1 AS nothing FROM a_arr AS nothing "
                                       "WHERE nothing.id = 2") == 1
        finally:
            await conn.close()

    run(main())


def test_reconnect_finds_new_leader_after_transfer(cluster) -> None:  # noqa: ANN001
    """A multi-host DSN with target_session_attrs='read-write' finds the leader again after a
    leadership transfer, and writes succeed there.

    Source of truth: asyncpg's connect_utils (multi-host DSNs are tried in order and a host is
    kept only if it matches target_session_attrs, judged from the hot_standby /
    transaction_read_only answers as for PostgreSQL primaries and standbys; PGWIRE.md 10), and
    POST /cluster/transfer (raftsql/server/app.py)."""
    import json
    import urllib.request

    hosts = ",".join(f"127.0.0.1:{cluster.pg_ports[i]}" for i in sorted(cluster.pg_ports))
    dsn = f"postgresql://raftsql@{hosts}/raftsql"

    async def write_via_dsn(value: int) -> int:
        conn = await asyncpg.connect(dsn, target_session_attrs="read-write")
        try:
            await conn.execute("INSERT INTO a_reconnect VALUES ($1)", value)
            return conn._addr[1]  # noqa: SLF001 (the port asyncpg settled on)
        finally:
            await conn.close()

    async def main() -> None:
        conn = await _connect(cluster)
        try:
            await conn.execute("CREATE TABLE a_reconnect (v integer PRIMARY KEY)")
        finally:
            await conn.close()
        old = cluster.leader_id()
        assert await write_via_dsn(1) == cluster.pg_ports[old]
        target = next(i for i in sorted(cluster.pg_ports) if i != old)
        url = f"http://127.0.0.1:{cluster.http_ports[old]}/cluster/transfer?id={target}"
        req = urllib.request.Request(url, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 (loopback)
            assert json.loads(r.read())["leader_id"] == target
        deadline = asyncio.get_running_loop().time() + 10
        while cluster.leader_id() != target:
            assert asyncio.get_running_loop().time() < deadline, "transfer did not take effect"
            await asyncio.sleep(0.1)
        assert await write_via_dsn(2) == cluster.pg_ports[target]
        conn = await _connect(cluster)
        try:
            assert [r[0] for r in await conn.fetch("SELECT v FROM a_reconnect ORDER BY v")] == [1, 2]
        finally:
            await conn.close()

    run(main())
