"""The SQLite-dialect path (raftsql/dbapi/sqlite_sql.py).

Sources of truth: SQLite's documentation of statement completion (sqlite3_complete), of
parameters (https://www.sqlite.org/lang_expr.html#varparam: ?, ?NNN, :AAA, @AAA, $AAA), of the
date and time functions (https://www.sqlite.org/lang_datefunc.html: the time value defaults
to 'now'), and ARCHITECTURE.md "Determinism" (the leader fixes every nondeterministic value).
Where it matters, the rewritten SQL is executed by a real SQLite (apsw) with raftsql's functions
and compared with what SQLite itself computes.
"""

from __future__ import annotations

import datetime as dt
import random

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.dbapi.sqlite_sql import split, translate_sqlite
from raftsql.sql import functions
from raftsql.sql.classify import StatementKind
from raftsql.sql.determinism import fix_nondeterminism
from raftsql.sql.errors import SqlError


def one(sql: str):  # type: ignore[no-untyped-def]
    (stmt,) = translate_sqlite(sql)
    return stmt


def test_split_follows_sqlite3_complete() -> None:
    script = ("SELECT 1; SELECT ';' ; -- a comment; still a comment\n"
              "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 1; DELETE FROM u; END;"
              "  ;  /* only a comment */ ")
    assert split(script) == [
        "SELECT 1", "SELECT ';'",
        "-- a comment; still a comment\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN "
        "UPDATE t SET a = 1; DELETE FROM u; END",
    ]


@pytest.mark.parametrize(("sql", "kind", "tag"), [
    ("SELECT 1", StatementKind.READ, "SELECT"),
    ("  values (1)", StatementKind.READ, "SELECT"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", StatementKind.READ, "SELECT"),
    ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", StatementKind.WRITE, "INSERT"),
    ("REPLACE INTO t VALUES (1)", StatementKind.WRITE, "INSERT"),
    ("update t set a = 1", StatementKind.WRITE, "UPDATE"),
    ("DELETE FROM t", StatementKind.WRITE, "DELETE"),
    ("CREATE TABLE t (a)", StatementKind.DDL, "CREATE TABLE"),
    ("DROP INDEX i", StatementKind.DDL, "DROP INDEX"),
    ("BEGIN IMMEDIATE", StatementKind.TRANSACTION, "BEGIN"),
    ("END TRANSACTION", StatementKind.TRANSACTION, "COMMIT"),
    ("VACUUM", StatementKind.SESSION, "VACUUM"),
])
def test_statement_kinds(sql: str, kind: StatementKind, tag: str) -> None:
    t = one(sql).translated
    assert (t.kind, t.command_tag) == (kind, tag)


def test_text_is_kept_as_written() -> None:
    """No regeneration: INT PRIMARY KEY (not a rowid alias) and STRICT must survive."""
    sql = "CREATE TABLE t (id INT PRIMARY KEY, b BLOB) STRICT"
    assert one(sql).translated.sql == sql


def test_parameter_styles() -> None:
    s = one("SELECT ?, ?, ?")
    assert (s.translated.sql, s.translated.param_order, s.names) == ("SELECT ?, ?, ?", (0, 1, 2), ())
    s = one("SELECT ?2, ?1, ?2")
    assert (s.translated.param_order, s.translated.nparams) == ((1, 0, 1), 2)
    s = one("SELECT :a, @b, $c, :a, '?', \"?\" -- ?\n")
    assert s.names == ("a", "b", "c")
    assert s.translated.param_order == (0, 1, 2, 0)
    assert s.translated.sql.count("?") == 6  # four markers and the two quoted ones
    with pytest.raises(SqlError):
        one("SELECT ?, :a")


def _run_fixed(sql: str, now: dt.datetime, seed: int) -> list[tuple[object, ...]]:
    """Fix a statement as the leader would and run it in a SQLite with raftsql's functions
    registered as the state machine registers them (clock functions raise)."""
    t = one(sql).translated
    fixed, params = fix_nondeterminism(t, [], now=now, rng=random.Random(seed))
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    return [tuple(r) for r in conn.execute(fixed, params)]


@pytest.mark.parametrize("expr", [
    "datetime('now')", "date('now')", "time('now')", "CURRENT_TIMESTAMP", "CURRENT_DATE",
    "CURRENT_TIME", "date()", "unixepoch()", "strftime('%Y-%m-%d %H:%M')",
    "julianday('now')", "datetime('now', '+1 day')",
])
def test_clock_is_fixed_by_the_leader(expr: str) -> None:
    """The value comes from the leader's clock; SQLite computes the same from that instant."""
    now = dt.datetime(2024, 2, 29, 13, 14, 15, tzinfo=dt.UTC)
    rows = _run_fixed(f"SELECT {expr}", now, 1)
    native = expr.replace("'now'", "'2024-02-29 13:14:15'")
    native = {"CURRENT_TIMESTAMP": "datetime('2024-02-29 13:14:15')",
              "CURRENT_DATE": "date('2024-02-29 13:14:15')",
              "CURRENT_TIME": "time('2024-02-29 13:14:15')",
              "date()": "date('2024-02-29 13:14:15')",
              "unixepoch()": "unixepoch('2024-02-29 13:14:15')",
              "strftime('%Y-%m-%d %H:%M')": "strftime('%Y-%m-%d %H:%M', '2024-02-29 13:14:15')",
              }.get(expr, native)
    expected = list(apsw.Connection(":memory:").execute(f"SELECT {native}"))
    assert rows == [tuple(r) for r in expected]


def test_random_is_a_seeded_64_bit_integer() -> None:
    """SQLite's random() is an integer in [-2**63, 2**63); the same seed gives the same value
    on every node, another seed another value."""
    now = dt.datetime.now(dt.UTC)
    a = _run_fixed("SELECT random(), random(), randomblob(8)", now, 7)
    b = _run_fixed("SELECT random(), random(), randomblob(8)", now, 7)
    c = _run_fixed("SELECT random(), random(), randomblob(8)", now, 8)
    assert a == b != c
    r1, r2, blob = a[0]
    assert isinstance(r1, int) and -(2**63) <= r1 < 2**63 and r1 != r2
    assert isinstance(blob, bytes) and len(blob) == 8


def test_time_functions_on_literals_are_left_alone() -> None:
    assert one("SELECT date('2020-01-01'), 'now'").translated.sql == (
        "SELECT date('2020-01-01'), 'now'")
    assert not one("SELECT date('2020-01-01')").translated.needs_fixing


def test_localtime_modifier_is_refused() -> None:
    with pytest.raises(SqlError) as e:
        one("INSERT INTO t VALUES (datetime('now', 'localtime'))")
    assert e.value.sqlstate == "0A000"


def test_nondeterministic_defaults_become_unfixed_defaults() -> None:
    """The same convention as the PG DDL rewrite, so the leader fills them in (determinism.py)."""
    t = one("CREATE TABLE t (a INTEGER PRIMARY KEY, ts TEXT DEFAULT CURRENT_TIMESTAMP, "
            "u TEXT DEFAULT (lower(hex(randomblob(16)))), k INT DEFAULT 5)").translated
    assert "DEFAULT (pg_unfixed_default('datetime(''now'')'))" in t.sql
    assert "DEFAULT (pg_unfixed_default('lower(hex(randomblob(16)))'))" in t.sql
    assert "k INT DEFAULT 5" in t.sql
    assert not t.needs_fixing


def test_trigger_reading_the_clock_is_refused() -> None:
    with pytest.raises(SqlError) as e:
        one("CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
            "UPDATE t SET ts = CURRENT_TIMESTAMP; END")
    assert e.value.sqlstate == "0A000"


def test_insert_target_for_default_filling() -> None:
    t = one('INSERT OR REPLACE INTO main."my t" ("a", b) VALUES (1, 2)').translated
    assert (t.table, t.insert_columns) == ("my t", ("a", "b"))
    t = one("INSERT INTO t VALUES (1)").translated
    assert (t.table, t.insert_columns, t.insert_width) == ("t", None, None)


def test_attach_is_forbidden() -> None:
    with pytest.raises(SqlError) as e:
        one("ATTACH DATABASE 'x.db' AS x")
    assert e.value.sqlstate == "42501"


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES (1, pg_fixed_random(5))",
    'SELECT "pg_fixed_uuid" (3)',
    "UPDATE t SET b = PG_FIXED_RANDOMBLOB(1, 16)",
])
def test_the_leaders_seeded_functions_are_refused(sql: str) -> None:
    """A client's own seed would make a restarted node draw other values than the rest
    (functions.SEEDED_FUNCTIONS); the name in a string is only text."""
    with pytest.raises(SqlError) as e:
        one(sql)
    assert e.value.sqlstate == "42883"
    assert one("SELECT 'pg_fixed_random(5)'").translated.sql == "SELECT 'pg_fixed_random(5)'"


def test_create_table_as_select_is_fixed_but_views_are_not() -> None:
    """CTAS computes its rows once (the leader's values, like the PG path); a view's body runs
    at read time on each reading node, so it keeps the clock call."""
    assert one("CREATE TABLE c AS SELECT datetime('now') AS at").translated.needs_fixing
    assert not one("CREATE VIEW v AS SELECT datetime('now') AS at").translated.needs_fixing
    assert not one("CREATE TABLE d (a TEXT, b AS (a || 'x'))").translated.needs_fixing


ALPHABET = list("'\"`[]();,?:@$-/*\n ") + ["SELECT", "INSERT", "INTO", "DEFAULT", "VALUES",
                                          "random", "datetime", "'now'", "CURRENT_TIME",
                                          "CREATE", "TABLE", "AS", "WITH", "RELEASE", "x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=30))
def test_any_text_gives_statements_or_sql_error(parts: list[str]) -> None:
    """Garbage must come out as a SqlError (a DB-API error for the caller), never as another
    exception from the scanner."""
    text = " ".join(parts)
    try:
        for stmt in translate_sqlite(text):
            assert stmt.translated.sql.count("?") >= len(stmt.translated.param_order)
    except SqlError:
        pass


@pytest.mark.parametrize(("sql", "action", "name"), [
    ("ROLLBACK", "rollback", None), ("ROLLBACK TRANSACTION", "rollback", None),
    ("ROLLBACK TO sp", "rollback_to", "sp"), ("ROLLBACK TRANSACTION TO SAVEPOINT \"Sp\"",
                                              "rollback_to", "sp"),
    ("SAVEPOINT a", "savepoint", "a"), ("RELEASE SAVEPOINT a", "release", "a"),
    ("RELEASE a", "release", "a"), ("BEGIN DEFERRED TRANSACTION", "begin", None),
    ("COMMIT TRANSACTION", "commit", None), ("END", "commit", None),
])
def test_transaction_statements(sql: str, action: str, name: str | None) -> None:
    """https://www.sqlite.org/lang_transaction.html and lang_savepoint.html."""
    txn = one(sql).translated.txn
    assert txn is not None and (txn.action, txn.name) == (action, name)


@pytest.mark.parametrize("sql", ["ROLLBACK TO", "RELEASE", "RELEASE SAVEPOINT"])
def test_incomplete_transaction_statements_are_syntax_errors(sql: str) -> None:
    with pytest.raises(SqlError) as e:
        one(sql)
    assert e.value.sqlstate == "42601"
