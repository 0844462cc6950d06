"""SQLSTATE -> PEP 249 exception classes.

Sources of truth: PEP 249 "Exceptions" (the hierarchy and what each class is for), PostgreSQL
Appendix A (SQLSTATE classes), ARCHITECTURE.md "Errors" (40001/40003/57P03), and CPython's
sqlite3 module, which raises OperationalError for "no such table" and syntax errors.
"""

from __future__ import annotations

import sqlite3

import pytest

from raftsql.dbapi import exceptions as e
from raftsql.sql.errors import SqlError


def test_hierarchy_is_pep_249() -> None:
    assert issubclass(e.Warning, Exception) and issubclass(e.Error, Exception)
    assert issubclass(e.InterfaceError, e.Error) and issubclass(e.DatabaseError, e.Error)
    for cls in (e.DataError, e.OperationalError, e.IntegrityError, e.InternalError,
                e.ProgrammingError, e.NotSupportedError):
        assert issubclass(cls, e.DatabaseError)
    assert not issubclass(e.Warning, e.Error)


@pytest.mark.parametrize(("code", "cls"), [
    ("23505", e.IntegrityError), ("23502", e.IntegrityError), ("23503", e.IntegrityError),
    ("23514", e.IntegrityError), ("42601", e.ProgrammingError), ("42P01", e.ProgrammingError),
    ("0A000", e.NotSupportedError), ("22012", e.DataError), ("22P02", e.DataError),
    ("40001", e.OperationalError), ("40003", e.OperationalError), ("57P03", e.OperationalError),
    ("25006", e.OperationalError), ("XX000", e.InternalError), ("08P01", e.ProgrammingError),
    ("99999", e.DatabaseError),
])
def test_postgres_dialect_classes(code: str, cls: type) -> None:
    err = e.from_sql_error(SqlError(code, "boom"))
    assert type(err) is cls
    assert err.sqlstate == code and str(err) == "boom"


def test_sqlite_dialect_42xxx_is_caught_both_ways() -> None:
    """sqlite3 code says `except OperationalError`, PEP 249 code `except ProgrammingError`."""
    err = e.from_sql_error(SqlError("42P01", "no such table: t"), dialect="sqlite")
    assert isinstance(err, e.OperationalError) and isinstance(err, e.ProgrammingError)
    with pytest.raises(sqlite3.OperationalError):
        sqlite3.connect(":memory:").execute("SELECT * FROM t")


def test_sqlite_dialect_strict_type_error_is_integrity_and_data() -> None:
    """sqlite3 reports a STRICT table's type check (SQLITE_CONSTRAINT_DATATYPE) as
    IntegrityError; the SQL layer's SQLSTATE is 22P02 (DataError in PEP 249 terms)."""
    err = e.from_sql_error(SqlError("22P02", "cannot store TEXT value in INT column"),
                           dialect="sqlite")
    assert isinstance(err, e.IntegrityError) and isinstance(err, e.DataError)
    assert type(e.from_sql_error(SqlError("22P02", "x"))) is e.DataError
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (a INT) STRICT")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO t VALUES ('x')")
