"""Local reads (raftsql/sql/reads.py): declared types, snapshot index, never blocked by apply.

Sources of truth: sqlite.org/wal.html ("readers do not block writers and a writer does not
block readers"); sqlite.org/c3ref/column_decltype.html (declared types, reported for the
frontend's OID choice); PostgreSQL 25006 read_only_sql_transaction for writes on a read path.
"""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.errors import SqlError
from raftsql.sql.reads import ReadPool


@pytest.fixture
def node(tmp_path: Path) -> tuple[StateMachine, ReadPool]:
    sm = StateMachine(str(tmp_path / "db"))
    sm.apply(
        1,
        encode(
            Command(
                (
                    Stmt(
                        "CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(20), price NUMERIC(10,2), "
                        "at TIMESTAMP, raw BLOB, flag BOOLEAN)"
                    ),
                    Stmt("INSERT INTO item VALUES (1, 'a', 1.5, '2024-01-01 00:00:00', x'00', 1)"),
                )
            )
        ),
    )
    pool = ReadPool(sm.path, size=2)
    yield sm, pool
    pool.close()
    sm.close()


def test_declared_types_and_applied_index(node: tuple[StateMachine, ReadPool]) -> None:
    _, pool = node
    res = pool.query("SELECT id, name, price, at, raw, flag, 1 + 1 AS two FROM item")
    assert res.columns == (
        ("id", "INTEGER"),
        ("name", "VARCHAR(20)"),
        ("price", "NUMERIC(10,2)"),
        ("at", "TIMESTAMP"),
        ("raw", "BLOB"),
        ("flag", "BOOLEAN"),
        ("two", None),
    )
    assert res.rows == ((1, "a", 1.5, "2024-01-01 00:00:00", b"\x00", 1, 2),)
    assert res.applied_index == 1


def test_empty_result_still_has_columns(node: tuple[StateMachine, ReadPool]) -> None:
    """A RowDescription is sent for a SELECT with no rows too (PostgreSQL protocol 55.2.2)."""
    res = node[1].query("SELECT id, name FROM item WHERE id = ?", (42,))
    assert res.columns == (("id", "INTEGER"), ("name", "VARCHAR(20)")) and res.rows == ()


def test_reads_see_new_entries_and_report_their_index(node: tuple[StateMachine, ReadPool]) -> None:
    sm, pool = node
    sm.apply(2, encode(Command((Stmt("INSERT INTO item (id, name) VALUES (2, 'b')"),))))
    res = pool.query("SELECT count(*) FROM item")
    assert res.rows == ((2,),) and res.applied_index == 2


def test_a_read_is_not_blocked_by_an_open_write(node: tuple[StateMachine, ReadPool]) -> None:
    """A writer in the middle of a transaction (what apply does) does not block the read,
    and the read sees the last committed state."""
    sm, pool = node
    writer = apsw.Connection(sm.path)
    writer.set_busy_timeout(0)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO item (id, name) VALUES (3, 'uncommitted')")
    try:
        res = pool.query("SELECT id FROM item ORDER BY id")
        assert res.rows == ((1,),)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("INSERT INTO item (id) VALUES (9)", "25006"),
        ("DELETE FROM item", "25006"),
        ("CREATE TABLE x (a)", "25006"),
        ("SELECT * FROM missing", "42P01"),
        ("ATTACH 'x.db' AS x", "0A000"),
        ("PRAGMA user_version = 7", "42501"),
        ("BEGIN", "0A000"),
    ],
)
def test_read_path_refuses(node: tuple[StateMachine, ReadPool], sql: str, sqlstate: str) -> None:
    sm, pool = node
    before = sm.checksum()
    with pytest.raises(SqlError) as info:
        pool.query(sql)
    assert info.value.sqlstate == sqlstate
    assert sm.checksum() == before
    assert pool.query("SELECT count(*) FROM item").rows == ((1,),)  # the connection is reusable


def test_local_only_functions_work_on_reads(node: tuple[StateMachine, ReadPool]) -> None:
    """random() is fine in a read: its value goes to one client and is never replayed."""
    res = node[1].query("SELECT random() IS NOT NULL")
    assert res.rows == ((1,),)


def test_pool_is_bounded(node: tuple[StateMachine, ReadPool]) -> None:
    _, pool = node
    held = [pool._take(0.01), pool._take(0.01)]  # both connections checked out
    with pytest.raises(SqlError) as info:
        pool.query("SELECT 1", wait=0.05)
    assert info.value.sqlstate == "53300"
    for conn in held:
        pool._give_back(conn)
    assert pool.query("SELECT 1").rows == ((1,),)
