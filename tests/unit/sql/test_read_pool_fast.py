"""ReadPool's point-read path: one cached statement, the caller's applied index as a lower bound.

Sources of truth: ReadPool.query without ``applied`` (the exact-index path: applied_index read
in the same SQLite transaction as the rows) for rows and columns; SQLite's progress handler
contract (sqlite.org/c3ref/progress_handler.html: the handler runs every N virtual machine
instructions and a non-zero return interrupts the statement) for the inline budget; SQLite's
documented recompilation of a prepared statement after a schema change
(sqlite.org/c3ref/prepare.html, sqlite3_prepare_v3) for the statement cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftsql.sql import reads
from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.errors import SqlError
from raftsql.sql.reads import ReadPool


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[StateMachine, ReadPool]]:
    sm = StateMachine(str(tmp_path / "db"))
    sm.apply(1, encode(Command((
        Stmt("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)"),
        Stmt("INSERT INTO kv VALUES (1, 'one'), (2, 'two')"),
    ))))
    pool = ReadPool(sm.path, size=1)
    pool.query("SELECT 1")  # open the one connection so inline reads can use it
    yield sm, pool
    pool.close()
    sm.close()


def test_lower_bound_path_answers_like_the_exact_path(node: tuple[StateMachine, ReadPool]) -> None:
    _, pool = node
    exact = pool.query("SELECT v FROM kv WHERE k = ?", (2,))
    fast = pool.query_inline("SELECT v FROM kv WHERE k = ?", (2,), applied=1)
    assert fast is not None
    assert (fast.columns, fast.rows) == (exact.columns, exact.rows) == ((("v", "TEXT"),),
                                                                          (("two",),))
    assert exact.applied_index == 1 and fast.applied_index == 1
    empty = pool.query_inline("SELECT k, v FROM kv WHERE k = ?", (9,), applied=1)
    assert empty is not None and empty.rows == ()
    assert empty.columns == (("k", "INTEGER"), ("v", "TEXT"))  # columns without a row
    assert pool.query("SELECT 1", applied=7).applied_index == 7  # reported as given


def test_no_transaction_is_left_open(node: tuple[StateMachine, ReadPool]) -> None:
    sm, pool = node
    assert pool.query_inline("SELECT v FROM kv WHERE k = ?", (1,), applied=1) is not None
    conn = pool._idle[-1].conn
    assert not conn.in_transaction
    # and the apply path is not blocked from checkpointing by a held read snapshot
    sm.apply(2, encode(Command((Stmt("INSERT INTO kv VALUES (3, 'three')"),))))
    res = pool.query_inline("SELECT count(*) FROM kv", (), applied=2)
    assert res is not None and res.rows == ((3,),)


def test_a_cached_point_read_is_never_handed_back(node: tuple[StateMachine, ReadPool]) -> None:
    """SQLite counts progress-handler steps over a cached statement's lifetime; a read that is
    short every time must run inline every time, however often it runs."""
    _, pool = node
    runs = 4 * reads.INLINE_STEPS  # far more steps in total than one run's budget
    for i in range(runs):
        assert pool.query_inline("SELECT v FROM kv WHERE k = ?", (1 + i % 2,), applied=1)


def test_a_long_read_is_still_handed_back(node: tuple[StateMachine, ReadPool]) -> None:
    _, pool = node
    long = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
            "SELECT count(*) FROM n")
    assert pool.query_inline(long, (), applied=1) is None
    assert pool.query(long, applied=1).rows == ((100000,),)  # no budget on a thread


def test_cached_statements_follow_schema_changes(node: tuple[StateMachine, ReadPool]) -> None:
    sm, pool = node
    assert pool.query_inline("SELECT * FROM kv WHERE k = ?", (1,), applied=1).columns == (
        ("k", "INTEGER"), ("v", "TEXT"))
    sm.apply(2, encode(Command((Stmt("ALTER TABLE kv ADD COLUMN n INTEGER"),))))
    res = pool.query_inline("SELECT * FROM kv WHERE k = ?", (1,), applied=2)
    assert res is not None and res.columns == (("k", "INTEGER"), ("v", "TEXT"),
                                               ("n", "INTEGER"))
    sm.apply(3, encode(Command((Stmt("DROP TABLE kv"),))))
    with pytest.raises(SqlError) as info:
        pool.query_inline("SELECT * FROM kv WHERE k = ?", (1,), applied=3)
    assert info.value.sqlstate == "42P01"


def test_only_client_statements_are_cached(node: tuple[StateMachine, ReadPool]) -> None:
    """raftsql's own statements (BEGIN, the applied_index read, ROLLBACK) compile under the
    authorizer's internal() and must never be found compiled by a client statement of the
    same text (authorizer.py module docstring)."""
    _, pool = node
    pool.query("SELECT v FROM kv WHERE k = ?", (1,))  # the exact path runs all three
    stats = pool._idle[-1].conn.cache_stats(True)
    cached = {e["query"] for e in stats["entries"]}
    assert "SELECT v FROM kv WHERE k = ?" in cached
    assert not cached & {"BEGIN", "ROLLBACK", "SELECT applied_index FROM _raftsql_meta"}
