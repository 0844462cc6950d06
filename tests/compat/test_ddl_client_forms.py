"""PostgreSQL DDL forms from the psql/psycopg/alembic audit, end to end through psycopg 3
against a real 3-node cluster: ``ALTER TABLE t RENAME a TO b`` (alembic's
``op.alter_column(new_column_name=...)``), ``CREATE [UNIQUE] INDEX ON t (..)`` without a
name, and an index on a missing table.

Source of truth: PostgreSQL 15.18 given the same statements (SQLSTATEs, command tags, and the
index names ``pg_indexes`` showed); unit-level detail in tests/unit/sql/test_ddl_pg_forms.py
(this file's basename differs: pytest imports both test directories as top-level modules).
"""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import errors

pytestmark = pytest.mark.timeout(60)


def _index_names(cluster, port: int | None, table: str) -> list[str]:  # noqa: ANN001
    # asked on the node itself: the name travels in the proposed SQLite text
    with psycopg.connect(cluster.dsn(port), autocommit=True) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s "
                            "ORDER BY indexname", (table,)).fetchall()
    return [r[0] for r in rows if r[0].endswith("_idx")]


def test_rename_without_column_keyword(cluster) -> None:  # noqa: ANN001
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE al_users (id integer PRIMARY KEY, email text)")
        conn.execute("INSERT INTO al_users VALUES (1, 'a@x')")
        cur = conn.execute("ALTER TABLE al_users RENAME email TO mail")
        assert cur.statusmessage == "ALTER TABLE"
        assert conn.execute("SELECT mail FROM al_users").fetchall() == [("a@x",)]
        with pytest.raises(errors.UndefinedColumn):
            conn.execute("ALTER TABLE al_users RENAME nosuch TO x")
        conn.execute("ALTER TABLE al_users RENAME TO al_people")  # still the table
        assert conn.execute("SELECT id, mail FROM al_people").fetchall() == [(1, "a@x")]


def test_rename_without_column_inside_a_migration_transaction(cluster) -> None:  # noqa: ANN001
    """alembic runs the migration's DDL in one transaction with its version row."""
    with psycopg.connect(cluster.dsn()) as conn:
        conn.execute("CREATE TABLE al_tx (id integer PRIMARY KEY, email text)")
        conn.commit()
        with conn.transaction():
            conn.execute("ALTER TABLE al_tx RENAME email TO mail")
            conn.execute("INSERT INTO al_tx (id, mail) VALUES (1, 'b@x')")
        assert conn.execute("SELECT mail FROM al_tx").fetchall() == [("b@x",)]


def test_create_index_without_a_name(cluster) -> None:  # noqa: ANN001
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE ix (id integer PRIMARY KEY, a integer, b integer, mail text)")
        for sql in ("CREATE INDEX ON ix (a)", "create index on ix (a, b)",
                    "CREATE UNIQUE INDEX ON ix (mail)", "CREATE INDEX ON ix (lower(mail))",
                    "CREATE INDEX ON ix ((a + b))"):
            assert conn.execute(sql).statusmessage == "CREATE INDEX", sql
        conn.execute("INSERT INTO ix VALUES (1, 1, 1, 'm')")
        with pytest.raises(errors.UniqueViolation):
            conn.execute("INSERT INTO ix VALUES (2, 2, 2, 'm')")
        with pytest.raises(errors.SyntaxError):
            conn.execute("CREATE INDEX IF NOT EXISTS ON ix (b)")
        # PostgreSQL would call this one ix_a_idx1; raftsql's translator has no schema
        # (docs/sql.md, known differences)
        with pytest.raises(errors.DuplicateTable):
            conn.execute("CREATE INDEX ON ix (a)")
    expected = ["ix_a_b_idx", "ix_a_idx", "ix_expr_idx", "ix_lower_idx", "ix_mail_idx"]
    assert _index_names(cluster, None, "ix") == expected
    # every node applied the same text: the followers hold the same names once they applied
    for port in cluster.pg_ports.values():
        deadline = time.monotonic() + 10
        while _index_names(cluster, port, "ix") != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _index_names(cluster, port, "ix") == expected, port


@pytest.mark.parametrize("sql", ["create index on nosuch(x)", "create index i on nosuch(x)",
                                 "create unique index if not exists i2 on nosuch(x)"])
def test_create_index_on_a_missing_table_is_42p01(cluster, sql: str) -> None:  # noqa: ANN001
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn, \
            pytest.raises(errors.UndefinedTable):
        conn.execute(sql)
