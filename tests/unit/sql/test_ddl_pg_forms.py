"""PostgreSQL DDL forms that real clients send: ``ALTER TABLE t RENAME a TO b`` (no COLUMN,
alembic's ``op.alter_column(new_column_name=...)``) and ``CREATE [UNIQUE] INDEX ON t (...)``
without a name.

Source of truth: PostgreSQL 15.18, asked the same statements (``SELECT indexname FROM
pg_indexes``), and its naming code: ChooseIndexName, ChooseIndexColumnNames,
ChooseIndexNameAddition and makeObjectName in src/backend/commands/indexcmds.c,
FigureColnameInternal in src/backend/parser/parse_target.c.
"""

from __future__ import annotations

import apsw
import pytest

from raftsql.sql import functions, sqlite_errors
from raftsql.sql.errors import SqlError
from raftsql.sql.rewrite.ddl import make_object_name
from raftsql.sql.translate import translate


def _sqlite() -> apsw.Connection:
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    return conn


def _apply(conn: apsw.Connection, pg_sql: str) -> None:
    for t in translate(pg_sql):
        conn.execute(t.sql)


# (statement, the name PostgreSQL 15 chose for it on a fresh table)
PG15_NAMES = [
    ("CREATE INDEX ON al_users (a)", "al_users_a_idx"),
    ("create index on AL_USERS (A, b)", "al_users_a_b_idx"),
    ("CREATE UNIQUE INDEX ON al_users (b)", "al_users_b_idx"),
    ("CREATE INDEX ON al_users (lower(mail))", "al_users_lower_idx"),
    ("CREATE INDEX ON al_users ((a + b))", "al_users_expr_idx"),
    ("CREATE INDEX ON al_users (lower(mail), a)", "al_users_lower_a_idx"),
    ("CREATE INDEX ON al_users (a DESC)", "al_users_a_idx"),
    ("CREATE INDEX ON al_users (a) WHERE b > 0", "al_users_a_idx"),
    ("CREATE INDEX ON al_users USING btree (b)", "al_users_b_idx"),
    ("CREATE INDEX CONCURRENTLY ON al_users (mixed2)", "al_users_mixed2_idx"),
    ("CREATE INDEX ON al_users (mixed2, mixed2)", "al_users_mixed2_mixed21_idx"),
    ("CREATE INDEX ON al_users (a, a, a)", "al_users_a_a1_a2_idx"),
    ("CREATE INDEX ON al_users ((a::text))", "al_users_a_idx"),
    ("CREATE INDEX ON al_users ((1::int))", "al_users_int4_idx"),
    ("CREATE INDEX ON al_users (coalesce(a, b), upper(mail), substr(mail, 1, 2), "
     "(CASE WHEN a > 0 THEN 1 END))", "al_users_coalesce_upper_substr_case_idx"),
    ("CREATE INDEX ON al_users (substring(mail from 1 for 2), (mail COLLATE \"C\"), "
     "greatest(a, b), nullif(a, b), (mail::varchar(3)), (b::numeric), (length(mail)))",
     "al_users_substring_mail_greatest_nullif_mail1_b_length_idx"),
    ('CREATE INDEX ON "T Mixed" ("Col A")', "T Mixed_Col A_idx"),
    ("CREATE INDEX ON public.al_users (a)", "al_users_a_idx"),
    (f"CREATE INDEX ON {'x' * 60} ({'y' * 60})", f"{'x' * 29}_{'y' * 29}_idx"),
]


@pytest.mark.parametrize(("sql", "name"), PG15_NAMES)
def test_unnamed_index_gets_postgresqls_name(sql: str, name: str) -> None:
    t = translate(sql)[0]
    assert t.command_tag == "CREATE INDEX"
    conn = _sqlite()
    conn.execute('CREATE TABLE al_users (id INTEGER, a INTEGER, b INTEGER, mail TEXT, '
                 'mixed2 INTEGER)')
    conn.execute('CREATE TABLE "T Mixed" ("Col A" INTEGER)')
    conn.execute(f"CREATE TABLE {'x' * 60} ({'y' * 60} INTEGER)")
    conn.execute(t.sql)  # the proposed text names the index: every node applies the same
    assert [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index'")] == [name]


def test_make_object_name_truncates_the_longer_name_first() -> None:
    # makeObjectName: name1_name2_label within 63 bytes, whole characters only (the last
    # one checked on PostgreSQL 15 in a UTF8 database)
    assert make_object_name("t", "a", "idx") == "t_a_idx"
    assert make_object_name("t" * 70, "a", "idx") == "t" * 57 + "_a_idx"
    assert len(make_object_name("é" * 40, "b" * 40, "idx").encode()) <= 63
    assert make_object_name("é" * 40, "b" * 40, "idx") == "é" * 14 + "_" + "b" * 29 + "_idx"


def test_unnamed_unique_index_enforces_uniqueness() -> None:
    conn = _sqlite()
    _apply(conn, "CREATE TABLE u (a integer, b text)")
    _apply(conn, "CREATE UNIQUE INDEX ON u (a)")
    conn.execute("INSERT INTO u VALUES (1, 'x')")
    with pytest.raises(apsw.ConstraintError) as info:
        conn.execute("INSERT INTO u VALUES (1, 'y')")
    assert sqlite_errors.classify(info.value)[0] == "23505"  # type: ignore[index]


def test_second_unnamed_index_with_the_same_name_is_42p07() -> None:
    """PostgreSQL would name the second one u_a_idx1; the translator has no schema, so the
    second keeps u_a_idx and fails as a duplicate relation (docs/sql.md)."""
    conn = _sqlite()
    _apply(conn, "CREATE TABLE u (a integer)")
    _apply(conn, "CREATE INDEX ON u (a)")
    with pytest.raises(apsw.SQLError) as info:
        _apply(conn, "CREATE INDEX ON u (a)")
    assert sqlite_errors.classify(info.value)[0] == "42P07"  # type: ignore[index]


def test_if_not_exists_needs_a_name_as_in_postgresql() -> None:
    with pytest.raises(SqlError) as info:
        translate("create index if not exists on t (a)")
    assert (info.value.sqlstate, info.value.message) == ("42601", 'syntax error at or near "on"')
    assert info.value.position == 28  # PostgreSQL's caret: the "on"
    assert translate("CREATE INDEX IF NOT EXISTS t_a ON t (a)")[0].sql == \
        "CREATE INDEX IF NOT EXISTS t_a ON t(a)"


@pytest.mark.parametrize("sql", ["create index on nosuch(x)", "create index i on nosuch(x)",
                                 "create index if not exists i2 on nosuch(x)",
                                 "create unique index on nosuch(x)"])
def test_index_on_a_missing_table_is_42p01(sql: str) -> None:
    """PostgreSQL: 42P01 relation "nosuch" does not exist (the audit saw 42601 for the
    unnamed form, a SQLite syntax error on 'ON')."""
    conn = _sqlite()
    with pytest.raises(apsw.SQLError) as info:
        _apply(conn, sql)
    assert sqlite_errors.classify(info.value)[0] == "42P01"  # type: ignore[index]


def test_rename_without_column_renames_the_column() -> None:
    conn = _sqlite()
    _apply(conn, "CREATE TABLE al_users (id integer, email text)")
    t = translate("ALTER TABLE al_users RENAME email TO mail")[0]
    assert (t.command_tag, t.sql) == ("ALTER TABLE",
                                      "ALTER TABLE al_users RENAME COLUMN email TO mail")
    conn.execute(t.sql)
    _apply(conn, 'ALTER TABLE al_users RENAME "mail" TO "Mail2"')
    assert [r[1] for r in conn.execute("PRAGMA table_info(al_users)")] == ["id", "Mail2"]
    # RENAME TO (no old name) still renames the table
    _apply(conn, "ALTER TABLE al_users RENAME TO people")
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_schema")] == ["people"]


def test_rename_of_a_missing_column_is_42703() -> None:
    conn = _sqlite()
    _apply(conn, "CREATE TABLE al_users (id integer)")
    with pytest.raises(apsw.SQLError) as info:
        _apply(conn, "ALTER TABLE al_users RENAME nosuch TO x")
    assert sqlite_errors.classify(info.value)[0] == "42703"  # type: ignore[index]
