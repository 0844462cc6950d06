"""PEP 249 conformance of raftsql.connect, in the style of the dbapi20 test suite (written
anew): module globals, exceptions, connection and cursor methods, fetch semantics,
transactions. Each test runs against a real embedded single-node group in a temp directory.

Source of truth: PEP 249 (https://peps.python.org/pep-0249/), section by section as cited.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import raftsql
import raftsql.dbapi as dbapi

DDL = "CREATE TABLE booze (name VARCHAR(20), price REAL)"
SAMPLES = ["Carlton Cold", "Carlton Draft", "Mountain Goat", "Redback", "Victoria Bitter",
           "XXXX"]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[dbapi.Connection]:
    c = raftsql.connect(tmp_path / "db")
    try:
        yield c
    finally:
        c.close()


def populate(con: dbapi.Connection) -> None:
    cur = con.cursor()
    cur.execute(DDL)
    cur.executemany("INSERT INTO booze VALUES (?, ?)", [(s, 1.5) for s in SAMPLES])
    con.commit()


# ---- "Module Interface" ---------------------------------------------------------------------

def test_module_globals() -> None:
    assert dbapi.apilevel == "2.0"
    assert dbapi.threadsafety in (0, 1, 2, 3)
    assert dbapi.paramstyle in ("qmark", "numeric", "named", "format", "pyformat")
    assert raftsql.connect is dbapi.connect


def test_the_package_is_the_driver_module() -> None:
    """Users import `raftsql` and call `raftsql.connect` (docs/dbapi.md), so the module
    interface PEP 249 requires is on `raftsql` too, not only on `raftsql.dbapi`."""
    for name in dbapi.__all__:
        assert getattr(raftsql, name) is getattr(dbapi, name), name
    assert (raftsql.apilevel, raftsql.threadsafety, raftsql.paramstyle) == ("2.0", 2, "qmark")
    with pytest.raises(AttributeError):
        raftsql.no_such_name  # noqa: B018


def test_exceptions_on_module_and_connection(con: dbapi.Connection) -> None:
    """"Exceptions" and the optional extension "Connection.Error etc."."""
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                 "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                 "NotSupportedError"):
        assert issubclass(getattr(dbapi, name), Exception)
        assert getattr(con, name) is getattr(dbapi, name)


# ---- "Connection Objects" -------------------------------------------------------------------

def test_connection_methods_exist(con: dbapi.Connection) -> None:
    for name in ("close", "commit", "rollback", "cursor"):
        assert callable(getattr(con, name))


def test_commit_and_rollback_without_transaction(con: dbapi.Connection) -> None:
    con.commit()
    con.rollback()


def test_close_twice_and_use_after_close(tmp_path: Path) -> None:
    """"The connection will be unusable from this point forward; an Error (or subclass)
    exception will be raised if any operation is attempted with the connection"."""
    c = raftsql.connect(tmp_path / "db")
    cur = c.cursor()
    c.close()
    c.close()
    with pytest.raises(dbapi.Error):
        c.cursor()
    with pytest.raises(dbapi.Error):
        cur.execute("SELECT 1")
    with pytest.raises(dbapi.Error):
        c.commit()


def test_rollback_discards_and_commit_keeps(con: dbapi.Connection) -> None:
    populate(con)
    cur = con.cursor()
    cur.execute("DELETE FROM booze")
    assert con.in_transaction
    con.rollback()
    cur.execute("SELECT count(*) FROM booze")
    assert cur.fetchone() == (len(SAMPLES),)
    cur.execute("DELETE FROM booze WHERE name = ?", ("XXXX",))
    con.commit()
    cur.execute("SELECT count(*) FROM booze")
    assert cur.fetchone() == (len(SAMPLES) - 1,)


def test_close_discards_open_transaction(tmp_path: Path) -> None:
    """"Closing a connection without committing the changes first will cause an implicit
    rollback to be performed"."""
    c = raftsql.connect(tmp_path / "db")
    populate(c)
    c.execute("DELETE FROM booze")
    c.close()
    c = raftsql.connect(tmp_path / "db")
    assert c.execute("SELECT count(*) FROM booze").fetchone() == (len(SAMPLES),)
    c.close()


def test_context_manager_commits_or_rolls_back(con: dbapi.Connection) -> None:
    populate(con)
    with con:
        con.execute("DELETE FROM booze WHERE name = 'XXXX'")
    with pytest.raises(ZeroDivisionError), con:
        con.execute("DELETE FROM booze")
        raise ZeroDivisionError
    assert con.execute("SELECT count(*) FROM booze").fetchone() == (len(SAMPLES) - 1,)


def test_isolation_level_none_is_autocommit(tmp_path: Path) -> None:
    c = raftsql.connect(tmp_path / "db", isolation_level=None)
    c.execute(DDL)
    c.execute("INSERT INTO booze VALUES ('a', 1)")
    assert not c.in_transaction
    c.rollback()
    assert c.execute("SELECT count(*) FROM booze").fetchone() == (1,)
    c.close()


def test_shared_node_between_connections(tmp_path: Path) -> None:
    """Two connections in one process share the embedded node and see each other's commits."""
    a = raftsql.connect(tmp_path / "db")
    b = raftsql.connect(tmp_path / "db")
    populate(a)
    assert b.execute("SELECT count(*) FROM booze").fetchone() == (len(SAMPLES),)
    a.close()
    assert b.execute("SELECT count(*) FROM booze").fetchone() == (len(SAMPLES),)
    b.close()
    # the last close stopped the node and released the directory's lock
    fd = os.open(tmp_path / "db" / "raftsql.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def _open_in_child(path: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        raftsql.connect(path)
        out.put("opened")
    except dbapi.OperationalError as exc:
        out.put(f"refused: {exc}")


def test_second_process_is_refused(tmp_path: Path) -> None:
    c = raftsql.connect(tmp_path / "db")
    try:
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_open_in_child, args=(str(tmp_path / "db"), q))
        p.start()
        try:
            answer = q.get(timeout=60)
        finally:
            p.join(30)
            if p.is_alive():
                p.kill()
        assert answer.startswith("refused") and "in use by another process" in answer
    finally:
        c.close()


def test_threads_may_share_a_connection(con: dbapi.Connection) -> None:
    """threadsafety 2: threads may share connections."""
    con.execute("CREATE TABLE n (t INT, i INT)")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(5):
                con.execute("INSERT INTO n VALUES (?, ?)", (t, i))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    con.commit()
    assert not errors
    assert con.execute("SELECT count(*) FROM n").fetchone() == (20,)


# ---- "Cursor Objects" -----------------------------------------------------------------------

def test_description(con: dbapi.Connection) -> None:
    cur = con.cursor()
    cur.execute(DDL)
    assert cur.description is None  # "for operations that do not return rows"
    cur.execute("SELECT name, price FROM booze")
    assert cur.description is not None and len(cur.description) == 2
    assert [d[0] for d in cur.description] == ["name", "price"]
    assert all(len(d) == 7 for d in cur.description)
    cur.execute("INSERT INTO booze VALUES ('a', 1)")
    assert cur.description is None


def test_rowcount(con: dbapi.Connection) -> None:
    cur = con.cursor()
    assert cur.rowcount == -1
    cur.execute(DDL)
    assert cur.rowcount == -1
    cur.execute("INSERT INTO booze VALUES ('a', 1)")
    assert cur.rowcount == 1
    cur.executemany("INSERT INTO booze VALUES (?, ?)", [("b", 2), ("c", 3)])
    assert cur.rowcount == 2
    cur.execute("UPDATE booze SET price = price + 1")
    assert cur.rowcount == 3
    cur.execute("SELECT * FROM booze")
    assert cur.rowcount == -1  # sqlite3 too: not determinable before fetching


def test_lastrowid(con: dbapi.Connection) -> None:
    cur = con.cursor()
    assert cur.lastrowid is None
    cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    cur.execute("INSERT INTO t (v) VALUES ('a')")
    assert cur.lastrowid == 1
    cur.execute("INSERT INTO t (id, v) VALUES (41, 'b')")
    assert cur.lastrowid == 41
    con.commit()
    cur.execute("INSERT INTO t (v) VALUES ('c')")
    assert cur.lastrowid == 42


def test_fetch_semantics(con: dbapi.Connection) -> None:
    populate(con)
    cur = con.cursor()
    with pytest.raises(dbapi.Error):
        cur.close()
        cur.fetchone()
    cur = con.cursor()
    cur.execute("SELECT name FROM booze ORDER BY name")
    assert cur.arraysize == 1
    assert cur.fetchone() == (SAMPLES[0],)
    assert cur.fetchmany() == [(SAMPLES[1],)]
    cur.arraysize = 2
    assert cur.fetchmany() == [(SAMPLES[2],), (SAMPLES[3],)]
    assert cur.fetchmany(10) == [(SAMPLES[4],), (SAMPLES[5],)]
    assert cur.fetchmany() == []
    assert cur.fetchone() is None
    assert cur.fetchall() == []
    cur.execute("SELECT name FROM booze ORDER BY name")
    assert cur.fetchall() == [(s,) for s in SAMPLES]
    cur.execute("SELECT name FROM booze WHERE 1 = 0")
    assert cur.fetchall() == [] and cur.fetchone() is None
    cur.execute("SELECT name FROM booze ORDER BY name")
    assert [r[0] for r in cur] == SAMPLES


def test_fetch_after_non_query_returns_nothing(con: dbapi.Connection) -> None:
    cur = con.cursor()
    cur.execute(DDL)
    assert cur.fetchall() == [] and cur.fetchone() is None


def test_executemany_refuses_queries(con: dbapi.Connection) -> None:
    with pytest.raises(dbapi.ProgrammingError):
        con.executemany("SELECT ?", [(1,), (2,)])


def test_parameters(con: dbapi.Connection) -> None:
    cur = con.cursor()
    with pytest.raises(dbapi.Error):
        cur.execute("SELECT ?, :x", (1, 2))
    assert cur.execute("SELECT ?, ?", (1, "a")).fetchone() == (1, "a")
    assert cur.execute("SELECT :a, :b, :a", {"a": 1, "b": b"\x00\xff"}).fetchone() == (
        1, b"\x00\xff", 1)
    assert cur.execute("SELECT ?2, ?1", ("x", "y")).fetchone() == ("y", "x")
    # wrong bindings are 08P01, as docs/dbapi.md says ("each error carries .sqlstate")
    with pytest.raises(dbapi.ProgrammingError) as info:
        cur.execute("SELECT ?, ?", (1,))
    assert info.value.sqlstate == "08P01"
    with pytest.raises(dbapi.ProgrammingError) as info:
        cur.execute("SELECT ?", (1, 2))
    assert info.value.sqlstate == "08P01"
    with pytest.raises(dbapi.ProgrammingError) as info:
        cur.execute("SELECT :a", {"b": 1})
    assert info.value.sqlstate == "08P01"


def test_noop_methods(con: dbapi.Connection) -> None:
    cur = con.cursor()
    cur.setinputsizes((25,))
    cur.setoutputsize(1000)
    with pytest.raises(dbapi.NotSupportedError):
        cur.callproc("lower", ("FOO",))


def test_errors_map_to_classes(con: dbapi.Connection) -> None:
    con.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    con.execute("INSERT INTO u (name) VALUES ('a')")
    with pytest.raises(dbapi.IntegrityError) as e:
        con.execute("INSERT INTO u (name) VALUES ('a')")
    assert e.value.sqlstate == "23505"
    with pytest.raises(dbapi.IntegrityError):
        con.execute("INSERT INTO u (name) VALUES (NULL)")
    with pytest.raises(dbapi.ProgrammingError):
        con.execute("SELECT * FROM missing")
    with pytest.raises(dbapi.ProgrammingError):
        con.execute("SELEC 1")
    with pytest.raises(dbapi.ProgrammingError):
        con.execute("SELECT 1; SELECT 2")
    with pytest.raises(dbapi.Error) as forbidden:
        con.execute("ATTACH DATABASE 'x' AS x")
    assert forbidden.value.sqlstate == "42501"
    con.commit()  # the transaction survived the failed statements, as in SQLite
    assert con.execute("SELECT name FROM u").fetchall() == [("a",)]


def test_transaction_conflict_is_operational_40001(tmp_path: Path) -> None:
    """Two connections read-modify-write the same row in overlapping transactions: what the
    second read no longer holds at its commit (docs/transactions.md), so its commit is
    OperationalError 40001 and changes nothing."""
    a = raftsql.connect(tmp_path / "db")
    b = raftsql.connect(tmp_path / "db")
    a.execute("CREATE TABLE c (k INT PRIMARY KEY, v INT)")
    a.execute("INSERT INTO c VALUES (1, 0)")
    a.commit()
    for con in (a, b):  # a DML statement opens the implicit transaction (sqlite3 rules)
        con.execute("INSERT INTO c VALUES (2, 0) ON CONFLICT (k) DO NOTHING")
    (va,) = a.execute("SELECT v FROM c WHERE k = 1").fetchone()
    (vb,) = b.execute("SELECT v FROM c WHERE k = 1").fetchone()
    a.execute("UPDATE c SET v = ? WHERE k = 1", (va + 1,))
    b.execute("UPDATE c SET v = ? WHERE k = 1", (vb + 10,))
    a.commit()
    with pytest.raises(dbapi.OperationalError) as e:
        b.commit()
    assert e.value.sqlstate == "40001"
    assert b.execute("SELECT v FROM c").fetchone() == (1,)
    a.close()
    b.close()


def test_one_commit_is_one_log_entry(con: dbapi.Connection) -> None:
    """commit() proposes the whole transaction as one entry: the applied index moves by 1."""
    con.execute("CREATE TABLE e (i INT)")
    server = con.node.server
    before = server.sm.applied_index()
    con.executemany("INSERT INTO e VALUES (?)", [(i,) for i in range(50)])
    con.execute("UPDATE e SET i = i + 1")
    assert server.sm.applied_index() == before
    con.commit()
    assert server.sm.applied_index() == before + 1
    assert con.execute("SELECT count(*), sum(i) FROM e").fetchone() == (50, sum(range(1, 51)))


def test_executescript(con: dbapi.Connection) -> None:
    con.executescript("""
        CREATE TABLE s (a INTEGER PRIMARY KEY, b TEXT);
        INSERT INTO s (b) VALUES ('x');  -- a comment; with a semicolon
        BEGIN; INSERT INTO s (b) VALUES ('y'); COMMIT;
    """)
    assert con.execute("SELECT b FROM s ORDER BY a").fetchall() == [("x",), ("y",)]


def test_read_consistency_levels(tmp_path: Path) -> None:
    for level in ("lease", "linearizable", "stale"):
        c = raftsql.connect(tmp_path / "db", read_consistency=level)
        assert c.read_consistency == level
        assert c.execute("SELECT 1").fetchone() == (1,)
        c.close()
    with pytest.raises(dbapi.InterfaceError):
        raftsql.connect(tmp_path / "db", read_consistency="sometimes")


def test_postgres_dialect(tmp_path: Path) -> None:
    c = raftsql.connect(tmp_path / "db", dialect="postgres")
    c.execute("CREATE TABLE p (id serial PRIMARY KEY, name text NOT NULL, at timestamptz "
              "DEFAULT now())")
    c.execute("INSERT INTO p (name) VALUES ($1)", ("a",))
    c.commit()
    row = c.execute("SELECT id, name, at IS NOT NULL, 'x' || NULL FROM p").fetchone()
    assert row == (1, "a", 1, None)
    with pytest.raises(dbapi.ProgrammingError) as e:
        c.execute("SELECT * FROM nope")
    assert not isinstance(e.value, dbapi.OperationalError)  # plain PEP 249 in this dialect
    c.close()


def test_data_survives_reopen(tmp_path: Path) -> None:
    c = raftsql.connect(tmp_path / "db")
    populate(c)
    c.close()
    c = raftsql.connect(tmp_path / "db")
    assert c.execute("SELECT count(*) FROM booze").fetchone() == (len(SAMPLES),)
    c.close()


def test_asyncio_flavour(tmp_path: Path) -> None:
    """raftsql.dbapi.aio: the same driver behind coroutines; the caller's loop keeps running
    while a statement is in flight (a ticker task advances meanwhile)."""
    import asyncio

    from raftsql.dbapi import aio

    async def main() -> tuple[list[Any], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        conn = await aio.connect(tmp_path / "db")
        async with conn:
            await conn.execute("CREATE TABLE a (x INT)")
            await conn.executemany("INSERT INTO a VALUES (?)", [(1,), (2,)])
            assert conn.in_transaction
            await conn.commit()
            cur = await conn.execute("SELECT x FROM a ORDER BY x")
            rows = await cur.fetchall()
        task.cancel()
        return rows, ticks

    rows, ticks = asyncio.run(main())
    assert rows == [(1,), (2,)]
    assert ticks > 10


# ---- "Type Objects and Constructors" --------------------------------------------------------

def test_constructors_round_trip(con: dbapi.Connection) -> None:
    """Dates and times travel as sqlite3's default adapters send them (ISO text)."""
    import datetime as dt

    assert dbapi.Date(2024, 2, 29) == dt.date(2024, 2, 29)
    assert dbapi.Time(13, 14, 15) == dt.time(13, 14, 15)
    assert dbapi.Timestamp(2024, 2, 29, 13, 14, 15) == dt.datetime(2024, 2, 29, 13, 14, 15)
    assert isinstance(dbapi.DateFromTicks(0), dt.date)
    assert isinstance(dbapi.TimeFromTicks(0), dt.time)
    assert isinstance(dbapi.TimestampFromTicks(0), dt.datetime)
    row = con.execute("SELECT ?, ?, ?", (dbapi.Date(2024, 2, 29),
                                         dbapi.Timestamp(2024, 2, 29, 13, 14, 15),
                                         dbapi.Binary(b"\x00\x01"))).fetchone()
    assert row == ("2024-02-29", "2024-02-29 13:14:15", b"\x00\x01")


def test_type_objects(tmp_path: Path) -> None:
    """STRING, BINARY, NUMBER, DATETIME compare equal to description type codes (the declared
    types in the PostgreSQL dialect)."""
    c = raftsql.connect(tmp_path / "db", dialect="postgres")
    c.execute("CREATE TABLE ty (s text, b bytea, n integer, d date)")
    cur = c.execute("SELECT s, b, n, d FROM ty")
    codes = [d[1] for d in cur.description]
    assert codes[0] == dbapi.STRING and codes[0] != dbapi.NUMBER
    assert codes[1] == dbapi.BINARY
    assert codes[2] == dbapi.NUMBER
    assert codes[3] == dbapi.DATETIME
    c.close()
