"""One-line facts about translation, the PG-semantics functions and determinism.

Sources of truth are cited per test: PostgreSQL 15 documentation sections (lexical
structure 4.1, functions chapter 9, SQL commands), SQLite's documentation, and for
determinism ARCHITECTURE.md "Determinism" (same log -> byte-identical state).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from raftsql.sql import functions, pgtypes, sqlstate
from raftsql.sql.classify import StatementKind, classify
from raftsql.sql.determinism import SqliteSchemaInfo, bind, fix_nondeterminism
from raftsql.sql.errors import SqlError
from raftsql.sql.rewrite.scan import split
from raftsql.sql.translate import cache_clear, cache_info, describe, translate

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=dt.UTC)


def one(sql: str) -> str:
    (t,) = translate(sql)
    return t.sql


def error_of(sql: str) -> str:
    with pytest.raises(SqlError) as info:
        translate(sql)
    return info.value.sqlstate


# ---- scanning (PostgreSQL docs 4.1.2 constants, 4.1.4 special characters) ----------------

@pytest.mark.parametrize(("text", "count"), [
    ("SELECT 1; SELECT 2", 2),
    ("SELECT ';'; SELECT 2;", 2),
    ("SELECT $$;$$", 1),
    ("SELECT 1 -- ; comment\n", 1),
    ("SELECT /* ; /* nested ; */ */ 1", 1),
    (";;  ;", 0),
    ("", 0),
])
def test_split_respects_quotes_and_comments(text: str, count: int) -> None:
    assert len(split(text)) == count


def test_params_without_spaces_tokenize() -> None:
    """sqlglot 30 cannot tokenize VALUES ($1,$2); the pre-pass makes it work."""
    (t,) = translate("INSERT INTO t VALUES ($1,$2)")
    assert (t.sql, t.param_order, t.nparams) == ("INSERT INTO t VALUES (?, ?)", (0, 1), 2)


def test_param_order_follows_text_not_numbers() -> None:
    (t,) = translate("SELECT * FROM t WHERE b = $2 AND a = $1 AND c = $2")
    assert t.param_order == (1, 0, 1)


def test_e_string_escapes_are_decoded() -> None:
    assert one(r"SELECT E'a\tb\\c\x41\101\u00e9'") == "SELECT 'a\tb\\cAAé'"


def test_dollar_and_unicode_strings_become_standard_literals() -> None:
    assert one("SELECT $x$it's$x$") == "SELECT 'it''s'"
    assert one(r"SELECT U&'\0041\+000042'") == "SELECT 'AB'"


def test_dollar_inside_identifier_is_not_a_parameter() -> None:
    assert translate('SELECT a$1 FROM t')[0].nparams == 0


# ---- rewrites (one fact each) ------------------------------------------------------------

@pytest.mark.parametrize(("pg", "sqlite"), [
    ("SELECT 1/0", "SELECT PG_DIV(1, 0)"),
    ("SELECT 5 % 2", "SELECT PG_MOD(5, 2)"),
    ("SELECT x::int FROM t", "SELECT PG_CAST_INT(x, 'integer') FROM t"),
    ("SELECT x::bigint FROM t", "SELECT PG_CAST_INT(x, 'bigint') FROM t"),
    ("SELECT x::numeric(10,2) FROM t", "SELECT PG_CAST_NUMERIC(x, 2) FROM t"),
    ("SELECT a ILIKE 'x%' FROM t", "SELECT PG_ILIKE(a, 'x%') FROM t"),
    ("SELECT a NOT ILIKE 'x%' FROM t", "SELECT NOT PG_ILIKE(a, 'x%') FROM t"),
    ("SELECT now()", "SELECT pg_now()"),
    ("SELECT gen_random_uuid()", "SELECT pg_gen_random_uuid()"),
    ("SELECT ts + interval '1 day 02:00' FROM t", "SELECT PG_INTERVAL_ADD(ts, '1 day 02:00', 1) FROM t"),
    ("SELECT ts - INTERVAL '3' MONTH FROM t", "SELECT PG_INTERVAL_ADD(ts, '3 MONTH', -1) FROM t"),
    ("SELECT extract(dow FROM d) FROM t", "SELECT PG_EXTRACT('dow', d) FROM t"),
    ("SELECT date_trunc('week', d) FROM t", "SELECT PG_DATE_TRUNC('week', d) FROM t"),
    ("INSERT INTO t VALUES (1) ON CONFLICT (a) DO NOTHING",
     "INSERT INTO t VALUES (1) ON CONFLICT(a) DO NOTHING"),
    ("CREATE INDEX i ON t (a)", "CREATE INDEX i ON t(a)"),
    ("SELECT * FROM (VALUES (1)) AS v(x)", "SELECT * FROM (SELECT column1 AS x FROM (VALUES (1))) AS v"),
    ("SELECT * FROM public.t", "SELECT * FROM t"),
    ("CREATE TABLE Users (Id INT)", "CREATE TABLE users (id INTEGER)"),
    ('SELECT "Id", Name FROM T', 'SELECT "Id", name FROM t'),
    ("SELECT * FROM t FOR UPDATE", "SELECT * FROM t"),
    ("TRUNCATE t", "DELETE FROM t"),
    ("SELECT a FROM t ORDER BY a", "SELECT a FROM t ORDER BY a NULLS LAST"),
    ("SELECT a FROM t ORDER BY a DESC", "SELECT a FROM t ORDER BY a DESC NULLS FIRST"),
    ("CREATE TABLE t (id SERIAL PRIMARY KEY)", "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)"),
    ("CREATE TABLE t (b BOOLEAN, n NUMERIC(10,2), d DOUBLE PRECISION, z TIMESTAMPTZ)",
     "CREATE TABLE t (b BOOLEAN, n NUMERIC(10,2), d DOUBLE PRECISION, z TIMESTAMPTZ)"),
])
def test_rewrite(pg: str, sqlite: str) -> None:
    assert one(pg) == sqlite


@pytest.mark.parametrize(("pg", "state"), [
    ("ATTACH DATABASE 'x' AS y", "42501"),
    ("SELECT load_extension('x')", "42501"),
    # the leader's seeded random functions: a client's own seed would make a restarted node
    # draw other values than the rest (functions.SEEDED_FUNCTIONS)
    ("INSERT INTO t VALUES (1, pg_fixed_random(5))", "42883"),
    ('SELECT "pg_fixed_uuid"(3)', "42883"),
    ("UPDATE t SET b = PG_FIXED_RANDOMBLOB(1, 16)", "42883"),
    ("VACUUM INTO '/tmp/x'", "42501"),
    ("PRAGMA writable_schema = 1", "42501"),
    ("SELECT DISTINCT ON (a) * FROM t", "0A000"),
    ("SELECT ARRAY[1]", "0A000"),
    ("CREATE TEMP TABLE t (a int)", "0A000"),
    ("SELEC 1", "42601"),
    ("SELECT $0", "42P02"),
])
def test_refused(pg: str, state: str) -> None:
    assert error_of(pg) == state


def test_classify_kinds() -> None:
    """Routing classes of ARCHITECTURE.md data flow."""
    assert classify("SELECT 1") is StatementKind.READ
    assert classify("WITH x AS (SELECT 1) SELECT * FROM x") is StatementKind.READ
    assert classify("WITH x AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM x") is StatementKind.WRITE
    assert classify("CREATE TABLE t (a int)") is StatementKind.DDL
    assert classify("BEGIN") is StatementKind.TRANSACTION
    assert classify("SET x = 1") is StatementKind.SESSION
    assert classify("ATTACH 'x' AS y") is StatementKind.FORBIDDEN


def test_describe_is_one_stable_line() -> None:
    (t,) = translate("SELECT * FROM t WHERE a = ANY($2) AND b = $1")
    assert describe(t) == ("READ SELECT rows params=2,1 json=2 | "
                           "SELECT * FROM t WHERE a IN (SELECT value FROM JSON_EACH(?)) AND b = ?")


def test_cache_counts_hits_and_misses() -> None:
    cache_clear()
    translate("SELECT 41")
    translate("SELECT 41")
    translate("SELECT 42")
    info = cache_info()
    assert (info.hits, info.misses) == (1, 2)


def test_cached_result_cannot_be_corrupted_by_callers() -> None:
    first = translate("SELECT 43")
    first.clear()
    assert len(translate("SELECT 43")) == 1


def test_create_table_reports_declared_types() -> None:
    (t,) = translate("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n NUMERIC(10,2), "
                     "at TIMESTAMPTZ DEFAULT now())")
    assert [(c.name, c.pg_type, c.oid, c.nondeterministic_default) for c in t.columns] == [
        ("id", "bigint", 20, False),
        ("n", "numeric(10,2)", 1700, False),
        ("at", "timestamp with time zone", 1184, True),
    ]


# ---- functions (PostgreSQL docs chapter 9) -------------------------------------------------

def test_division_by_zero_raises_22012() -> None:
    """9.3: integer division truncates towards zero; division by zero is an error."""
    assert functions.pg_div(-7, 2) == -3
    assert functions.pg_mod(-7, 3) == -1
    with pytest.raises(SqlError) as info:
        functions.pg_div(1, 0)
    assert info.value.sqlstate == sqlstate.DIVISION_BY_ZERO


@pytest.mark.parametrize("bad", ["abc", "", "1.5", " 1 2"])
def test_int_cast_of_bad_text_raises_22p02(bad: str) -> None:
    with pytest.raises(SqlError) as info:
        functions.pg_cast_int(bad)
    assert info.value.sqlstate == sqlstate.INVALID_TEXT_REPRESENTATION


def test_casts_round_like_postgresql() -> None:
    """8.1.2: numeric rounds half away from zero; int4 range is checked (22003)."""
    assert functions.pg_cast_int(2.5) == 3
    assert functions.pg_cast_int(-2.5) == -3
    assert functions.pg_cast_numeric("1.005", 2) == 1.01
    with pytest.raises(SqlError) as info:
        functions.pg_cast_int(2**31)
    assert info.value.sqlstate == sqlstate.NUMERIC_VALUE_OUT_OF_RANGE


def test_bool_input_accepts_prefixes() -> None:
    """8.6: boolean input accepts unique prefixes of true/false/yes/no, on/off, 1/0."""
    assert [functions.pg_cast_bool(v) for v in ("t", "TRUE", "ye", "on", "1")] == [1] * 5
    assert [functions.pg_cast_bool(v) for v in ("f", "no", "off", "0")] == [0] * 4
    with pytest.raises(SqlError):
        functions.pg_cast_bool("o")


def test_like_is_case_sensitive_with_backslash_escape() -> None:
    """9.7.1: LIKE is case-sensitive; backslash is the default escape."""
    assert functions.pg_like("A%", "abc") == 0
    assert functions.pg_like("a\\_c", "a_c") == 1
    assert functions.pg_like("a\\_c", "abc") == 0
    assert functions.pg_ilike("abc", "A%") == 1


def test_interval_arithmetic_clamps_month_ends() -> None:
    """9.9: '2024-01-31' + 1 month is 2024-02-29."""
    assert functions.pg_interval_add("2024-01-31 00:00:00", "1 month") == "2024-02-29 00:00:00"
    assert functions.pg_interval_add("2024-01-01", "1 day 02:30:00") == "2024-01-02 02:30:00"
    assert functions.pg_interval_add("2024-01-01 00:00:00+00", "-2 hours") == "2023-12-31 22:00:00+00"


def test_date_trunc_and_extract() -> None:
    assert functions.pg_date_trunc("week", "2024-05-08 10:00:00") == "2024-05-06 00:00:00"
    assert functions.pg_extract("dow", "2024-05-05") == 0
    assert functions.pg_extract("epoch", "1970-01-02 00:00:00") == 86400


def test_unfixed_clock_functions_raise_in_the_state_machine() -> None:
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    with pytest.raises(SqlError) as info:
        list(conn.execute("SELECT pg_now()"))
    assert info.value.sqlstate == sqlstate.INTERNAL_ERROR


# ---- determinism (ARCHITECTURE.md "Determinism") -------------------------------------------

WORKLOAD = [
    ("CREATE TABLE t (id SERIAL PRIMARY KEY, v INT, at TIMESTAMPTZ DEFAULT now(), "
     "u UUID DEFAULT gen_random_uuid(), r DOUBLE PRECISION)", []),
    ("INSERT INTO t (v) VALUES ($1), ($2), ($3)", [1, 2, 3]),
    ("INSERT INTO t (v, r) VALUES (4, random())", []),
    ("UPDATE t SET r = random() WHERE r IS NULL", []),
    ("DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 1)", []),
    ("INSERT INTO t DEFAULT VALUES", []),
    ("CREATE TABLE b (k BYTEA, at TEXT)", []),
    ("INSERT INTO b VALUES (randomblob($1), datetime('now'))", [8]),
]


def _apply_all(commands: list[tuple[str, list[object]]]) -> str:
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    for sql, params in commands:
        conn.execute(sql, params)
    dump = repr(list(conn.execute("SELECT * FROM t ORDER BY id"))) + repr(
        list(conn.execute("SELECT * FROM b")))
    return hashlib.sha256(dump.encode()).hexdigest()


def test_fixed_commands_give_identical_databases() -> None:
    """The leader fixes once; two fresh databases applying the commands hash the same."""
    leader = apsw.Connection(":memory:")
    functions.register(leader)
    rng = random.Random(42)
    commands = []
    for pg, params in WORKLOAD:
        for t in translate(pg):
            sql, bound = fix_nondeterminism(t, params, now=NOW, rng=rng,
                                            schema=SqliteSchemaInfo(leader))
            leader.execute(sql, bound)
            commands.append((sql, bound))
    assert _apply_all(commands) == _apply_all(commands)
    rows = list(leader.execute("SELECT count(*), count(DISTINCT u), count(DISTINCT r) FROM t"))
    assert rows == [(4, 4, 3)]
    assert list(leader.execute("SELECT length(k), at FROM b")) == [(8, "2024-05-06 07:08:09")]


def test_nondeterministic_default_is_filled_by_the_leader() -> None:
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    schema = SqliteSchemaInfo(conn)
    for pg in ("CREATE TABLE t (id INT, at TIMESTAMPTZ DEFAULT now())", "INSERT INTO t (id) VALUES (1)"):
        (t,) = translate(pg)
        sql, bound = fix_nondeterminism(t, [], now=NOW, rng=random.Random(1), schema=schema)
        conn.execute(sql, bound)
    assert list(conn.execute("SELECT * FROM t")) == [(1, "2024-05-06 07:08:09.25+00")]
    (t,) = translate("INSERT INTO t (id) VALUES (2)")
    with pytest.raises(SqlError):  # without the leader's fix the default refuses to run
        conn.execute(t.sql, bind(t, []))


def test_add_primary_key_rebuilds_the_table() -> None:
    """SQLite cannot ADD PRIMARY KEY (lang_altertable.html); the rebuild keeps rows/indexes
    and enforces uniqueness like PostgreSQL (23505 on duplicates)."""
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    conn.execute("CREATE TABLE k (a INTEGER, b TEXT); CREATE INDEX kb ON k(b);"
                 "INSERT INTO k VALUES (1, 'x'), (2, 'y')")
    (t,) = translate("ALTER TABLE k ADD PRIMARY KEY (a)")
    sql, bound = fix_nondeterminism(t, [], now=NOW, rng=random.Random(1),
                                    schema=SqliteSchemaInfo(conn))
    conn.execute(sql, bound)
    assert list(conn.execute("SELECT * FROM k ORDER BY a")) == [(1, "x"), (2, "y")]
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='index'")] == ["kb"]
    with pytest.raises(apsw.ConstraintError):
        conn.execute("INSERT INTO k VALUES (1, 'dup')")


def test_array_parameter_is_bound_as_json() -> None:
    (t,) = translate("SELECT v FROM t WHERE id = ANY($1)")
    assert bind(t, [[1, 2]]) == ["[1, 2]"]


# ---- generated tables ----------------------------------------------------------------------

def test_sqlstate_module_matches_its_generator() -> None:
    source = Path("/usr/share/postgresql/15/errcodes.txt")
    if not source.exists():
        pytest.skip("PostgreSQL's errcodes.txt not installed")
    generated = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_sqlstate.py"),
                                str(source)], capture_output=True, text=True, check=True).stdout
    assert generated == (ROOT / "raftsql" / "sql" / "sqlstate.py").read_text()


def test_pgtypes_lookup_and_affinity() -> None:
    """OIDs from pg_type.dat; affinity rules of sqlite datatype3.html 3.1."""
    assert pgtypes.oid_of("NUMERIC(10,2)") == 1700
    assert pgtypes.oid_of("double precision") == 701
    assert pgtypes.oid_of("TIMESTAMPTZ") == 1184
    assert pgtypes.oid_of(None) == 25
    assert pgtypes.affinity("DOUBLE PRECISION") is pgtypes.Affinity.REAL
    assert pgtypes.affinity("VARCHAR(20)") is pgtypes.Affinity.TEXT
    assert pgtypes.affinity("BLOB") is pgtypes.Affinity.BLOB
    assert pgtypes.affinity("BOOLEAN") is pgtypes.Affinity.NUMERIC


def test_substr_uses_postgresql_window() -> None:
    """9.4: substr('hello', -1, 3) covers positions -1..1, so 'h'."""
    assert functions.pg_substr("hello", -1, 3) == "h"
    assert functions.pg_substr("hello", 2, 3) == "ell"
    assert functions.pg_substr("hello", 0) == "hello"
    with pytest.raises(SqlError) as info:
        functions.pg_substr("hello", 1, -1)
    assert info.value.sqlstate == sqlstate.SUBSTRING_ERROR


def test_typed_arithmetic_is_recognised_statically() -> None:
    """9.9.1: date + integer adds days, date - date counts days; 9.3: numeric divides exactly."""
    assert one("SELECT '2024-02-28'::date + 2") == \
        "SELECT PG_DATE_ARITH(PG_CAST_DATE('2024-02-28'), 2, 1)"
    assert functions.pg_date_arith("2024-02-28", 2, 1) == "2024-03-01"
    assert functions.pg_date_arith("2024-01-01", "2023-12-01", -1) == 31
    assert one("SELECT 10::numeric / 4") == "SELECT PG_DIV_EXACT(PG_CAST_NUMERIC(10), 4)"
    assert functions.pg_div_exact(10, 4) == 2.5
    assert one("SELECT a / b FROM t") == "SELECT PG_DIV(a, b) FROM t"


def test_json_build_object_matches_postgresql_text() -> None:
    """9.16: json keeps order with ' : '; jsonb sorts keys by length then bytes."""
    assert functions.pg_json_build_object("b", 1, "a", "x") == '{"b" : 1, "a" : "x"}'
    assert functions.pg_jsonb_build_object("bb", 1, "a", "x") == '{"a": "x", "bb": 1}'


def test_syntax_error_position_points_into_the_clients_text() -> None:
    """ErrorResponse 'P' (protocol-error-fields): 1-based character index into the original
    query string, across statements and pre-processed $n / E'' tokens."""
    text = "SELECT 1; SELECT $1,$2, E'x\\n' FROM WHERE"
    with pytest.raises(SqlError) as info:
        translate(text)
    assert info.value.position is not None
    assert text[info.value.position - 1:].startswith("WHERE")
    with pytest.raises(SqlError) as info:
        translate("SELECT 'open")
    assert info.value.position == 8


def test_fixed_values_interleave_with_client_parameters() -> None:
    """Each '?' of the fixed SQL binds, in text order, a client $n or a leader-chosen value."""
    (t,) = translate("UPDATE t SET a = $2, at = now(), b = $1 WHERE r < random() AND c = $2")
    sql, bound = fix_nondeterminism(t, ["one", "two"], now=NOW, rng=random.Random(5))
    assert sql == ("UPDATE t SET a = ?, at = ?, b = ? WHERE r < pg_fixed_random(?) AND c = ?")
    seed = bound[3]
    assert bound == ["two", "2024-05-06 07:08:09.25+00", "one", seed, "two"]
    assert isinstance(seed, int)


def test_short_insert_without_column_list_gets_one() -> None:
    """PostgreSQL (INSERT docs): with no column list, values fill the leading columns and the
    rest take their defaults; SQLite needs the list spelled out."""
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    conn.execute("CREATE TABLE t (id INTEGER, a TEXT, b INTEGER DEFAULT 7)")
    (t,) = translate("INSERT INTO t VALUES ($1,$2)")
    assert t.insert_width == 2
    sql, bound = fix_nondeterminism(t, [1, "x"], now=NOW, rng=random.Random(1),
                                    schema=SqliteSchemaInfo(conn))
    assert sql == "INSERT INTO t (id, a) VALUES (?, ?)"
    conn.execute(sql, bound)
    assert list(conn.execute("SELECT * FROM t")) == [(1, "x", 7)]


def test_sql_error_keeps_its_fields_through_copy() -> None:
    import copy
    import pickle

    err = SqlError(sqlstate="22012", message="division by zero", hint="h", position=3)
    for clone in (copy.copy(err), pickle.loads(pickle.dumps(err))):
        assert (clone.sqlstate, clone.message, clone.hint, clone.position) == (
            "22012", "division by zero", "h", 3)
    assert err.condition == "division_by_zero"
