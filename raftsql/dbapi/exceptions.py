"""The PEP 249 exception hierarchy and the SQLSTATE -> exception class table.

Why a table on SQLSTATE classes: the SQL layer speaks PostgreSQL's error vocabulary
(raftsql.sql.errors.SqlError), and the class of a code (its first two characters) already says
what PEP 249 wants to know: 23 integrity, 22 data, 0A not supported, 42 programming.

SQLite dialect: ``sqlite3`` raises OperationalError (not ProgrammingError) for "no such table"
and syntax errors. Code written for ``sqlite3`` catches OperationalError, code written for PEP
249 catches ProgrammingError, so in that dialect those errors are a class that is both
(``SqliteOperationalError``): either ``except`` works.
"""

from __future__ import annotations

from raftsql.sql.errors import SqlError


class Warning(Exception):  # noqa: A001 - the name is fixed by PEP 249
    """Important warnings (PEP 249)."""


class Error(Exception):
    """Base of every error this driver raises (PEP 249).

    ``sqlstate`` is the PostgreSQL SQLSTATE code when the error came from the database (None
    for driver misuse, e.g. a closed cursor)."""

    sqlstate: str | None = None

    def __init__(self, message: str = "", sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.sqlite_errorname = sqlstate  # sqlite3 compatibility: something to print


class InterfaceError(Error):
    """Misuse of the driver itself."""


class DatabaseError(Error):
    """Errors related to the database."""


class DataError(DatabaseError):
    """Bad data: division by zero, value out of range, invalid input text (SQLSTATE 22)."""


class OperationalError(DatabaseError):
    """The database's operation failed: no leader, quorum lost, outcome unknown, conflict
    (40001, 40003, 57P03, 08, 53, 55)."""


class IntegrityError(DatabaseError):
    """Relational integrity: unique, not null, foreign key, check (SQLSTATE 23)."""


class InternalError(DatabaseError):
    """The database hit an internal error (XX)."""


class ProgrammingError(DatabaseError):
    """Syntax error, unknown table or column, wrong number of parameters (SQLSTATE 42)."""


class NotSupportedError(DatabaseError):
    """A feature raftsql does not support (0A000)."""


class SqliteOperationalError(ProgrammingError, OperationalError):
    """A 42xxx error in the SQLite dialect: sqlite3 code catches it as OperationalError,
    PEP 249 code as ProgrammingError."""


class SqliteDatatypeError(DataError, IntegrityError):
    """22P02 in the SQLite dialect: a STRICT table's type check (SQLITE_CONSTRAINT_DATATYPE),
    which sqlite3 reports as IntegrityError; PEP 249 code expects DataError."""


_BY_CLASS: dict[str, type[DatabaseError]] = {
    "22": DataError,
    "23": IntegrityError,
    "0A": NotSupportedError,
    "42": ProgrammingError,
    "40": OperationalError,
    "57": OperationalError,
    "08": OperationalError,
    "53": OperationalError,
    "54": OperationalError,
    "55": OperationalError,
    "25": OperationalError,
    "3B": OperationalError,
    "XX": InternalError,
    "P0": IntegrityError,  # RAISE(ABORT) in a trigger: sqlite3 reports SQLITE_CONSTRAINT
}


def error_class(sqlstate: str, *, dialect: str = "postgres") -> type[DatabaseError]:
    """The PEP 249 class for a SQLSTATE (DatabaseError when the class is unknown)."""
    if sqlstate == "08P01":  # wrong number of parameters
        return ProgrammingError
    if sqlstate == "22P02" and dialect == "sqlite":
        return SqliteDatatypeError
    cls = _BY_CLASS.get(sqlstate[:2], DatabaseError)
    if cls is ProgrammingError and dialect == "sqlite":
        return SqliteOperationalError
    return cls


def from_sql_error(exc: SqlError, *, dialect: str = "postgres") -> DatabaseError:
    """The DB-API exception for a SqlError; the original stays as ``__cause__``."""
    return error_class(exc.sqlstate, dialect=dialect)(exc.message, exc.sqlstate)


__all__ = ["Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
           "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
           "NotSupportedError", "SqliteOperationalError", "SqliteDatatypeError", "error_class", "from_sql_error"]
