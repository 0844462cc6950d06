"""Describer: result columns follow the committed schema, and the schema is reloaded only when
the state machine's schema generation moved.

Source of truth: SQLite's schema-cookie rule (a connection notices another connection's DDL
when a statement steps, at OP_Transaction; sqlite.org/fileformat2.html "Schema cookie") and
PostgreSQL 15, whose Describe after ALTER TABLE / DROP + CREATE reports the new columns.
"""

from __future__ import annotations

from pathlib import Path

import apsw

from raftsql.server.describe import Describer


def _writer(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode=wal").get  # noqa: B018
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, price INT)")
    return conn


def _counting(describer: Describer) -> list[str]:
    """The texts of the statements the describer's own connection runs from now on."""
    ran: list[str] = []

    def trace(_cursor: apsw.Cursor, sql: str, _bindings: object) -> bool:
        ran.append(sql)
        return True

    describer._conn.exec_trace = trace  # noqa: SLF001
    return ran


def test_refreshes_only_when_the_generation_moved(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "db")
    generation = [0]
    d = Describer(str(tmp_path / "db"), lambda: generation[0])
    try:
        assert d.columns("SELECT * FROM t", 0) == (("id", "INTEGER"), ("price", "INT"))
        ran = _counting(d)
        for _ in range(3):  # the hot path: no statement but the described one
            d.columns("SELECT price FROM t WHERE id = ?", 1)
        assert all("sqlite_schema" not in sql for sql in ran)
        writer.execute("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x'")
        writer.execute("DROP TABLE t; CREATE TABLE t (id INTEGER PRIMARY KEY, "
                       "price NUMERIC(10,2), b TEXT)")
        generation[0] += 1  # what StateMachine does after the committing batch
        assert d.columns("SELECT * FROM t", 0) == (
            ("id", "INTEGER"), ("price", "NUMERIC(10,2)"), ("b", "TEXT"))
        assert sum("sqlite_schema" in sql for sql in ran) == 1
        d.columns("SELECT * FROM t", 0)
        assert sum("sqlite_schema" in sql for sql in ran) == 1
    finally:
        d.close()
        writer.close()


def test_without_a_generation_every_describe_sees_the_schema(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "db")
    d = Describer(str(tmp_path / "db"))
    try:
        assert d.columns("SELECT * FROM t", 0) == (("id", "INTEGER"), ("price", "INT"))
        writer.execute("ALTER TABLE t ADD COLUMN b TEXT")
        assert d.columns("SELECT * FROM t", 0) == (
            ("id", "INTEGER"), ("price", "INT"), ("b", "TEXT"))
    finally:
        d.close()
        writer.close()
