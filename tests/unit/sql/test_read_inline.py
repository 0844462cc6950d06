"""ReadPool.query_inline: short reads on the caller's thread, long ones handed back.

Source of truth: ReadPool.query on the same database (the thread path every read used
before), and SQLite's progress handler contract (sqlite.org/c3ref/progress_handler.html: a
non-zero return interrupts the statement). A read stopped inline must leave its pooled
connection usable and without the handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.errors import SqlError
from raftsql.sql.reads import ReadPool

LONG = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
        "SELECT count(*) FROM n")


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[ReadPool]:
    sm = StateMachine(str(tmp_path / "db"))
    sm.apply(1, encode(Command((
        Stmt("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)"),
        Stmt("INSERT INTO kv VALUES (1, 'one'), (2, 'two')"),
    ))))
    p = ReadPool(sm.path, size=1)
    p.query("SELECT 1")  # open the pool's one connection, so it is idle
    yield p
    p.close()
    sm.close()


def test_point_read_runs_inline_with_the_same_answer(pool: ReadPool) -> None:
    inline = pool.query_inline("SELECT v FROM kv WHERE k = ?", (2,))
    assert inline is not None
    threaded = pool.query("SELECT v FROM kv WHERE k = ?", (2,))
    assert list(inline.rows) == list(threaded.rows) == [("two",)]
    assert inline.applied_index == threaded.applied_index == 1


def test_long_read_is_handed_back_and_the_connection_stays_clean(pool: ReadPool) -> None:
    assert pool.query_inline(LONG) is None
    # the single pooled connection is reused: no handler left on it, no open transaction
    assert list(pool.query(LONG).rows) == [(100000,)]
    assert pool.query_inline("SELECT v FROM kv WHERE k = ?", (1,)) is not None


def test_errors_of_short_reads_are_raised_not_retried(pool: ReadPool) -> None:
    with pytest.raises(SqlError):
        pool.query_inline("SELECT nope FROM kv")


def test_no_idle_connection_means_no_inline_read(tmp_path: Path) -> None:
    sm = StateMachine(str(tmp_path / "db2"))
    p = ReadPool(sm.path, size=1)
    try:
        assert p.query_inline("SELECT 1") is None  # nothing opened yet: never opens inline
    finally:
        p.close()
        sm.close()
