"""SQLite errors -> PostgreSQL SQLSTATEs, in one table, and which errors are deterministic.

Why the split matters: a statement that fails must fail the same way on every node so the
failure can be recorded as the entry's result and the apply loop moves on. An error that
depends on the node (disk full, I/O error, corruption, out of memory) must NOT be recorded:
recording it would make this node's state differ from its peers'. Those are `None` here and the
state machine re-raises them (the node stops and is repaired; the log still holds the entry).

Codes follow PostgreSQL's errcodes.txt (Appendix A of the PostgreSQL manual).
"""

from __future__ import annotations

import re

import apsw

# Extended constraint result codes (sqlite.org/rescode.html) -> SQLSTATE.
CONSTRAINT_CODES: dict[int, str] = {
    apsw.SQLITE_CONSTRAINT_UNIQUE: "23505",  # unique_violation
    apsw.SQLITE_CONSTRAINT_PRIMARYKEY: "23505",
    apsw.SQLITE_CONSTRAINT_ROWID: "23505",
    apsw.SQLITE_CONSTRAINT_NOTNULL: "23502",  # not_null_violation
    apsw.SQLITE_CONSTRAINT_FOREIGNKEY: "23503",  # foreign_key_violation
    apsw.SQLITE_CONSTRAINT_CHECK: "23514",  # check_violation
    apsw.SQLITE_CONSTRAINT_TRIGGER: "P0001",  # RAISE(ABORT, ...) ~ raise_exception
    apsw.SQLITE_CONSTRAINT_DATATYPE: "22P02",  # STRICT table type check ~ invalid input
}

# SQLITE_ERROR messages -> SQLSTATE; first match wins.
MESSAGE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), code)
    for p, code in (
        (r"^no such table", "42P01"),  # undefined_table
        (r"^no such view", "42P01"),
        (r"^no such column", "42703"),  # undefined_column
        (r"^no such function", "42883"),  # undefined_function
        (r"^wrong number of arguments to function", "42883"),
        (r"^no such (index|trigger|collation sequence|module)", "42704"),  # undefined_object
        (r"^(table|view|index) \S+ already exists", "42P07"),  # duplicate_table
        (r"^trigger \S+ already exists", "42710"),  # duplicate_object
        (r"^duplicate column name", "42701"),  # duplicate_column
        (r"^ambiguous column name", "42702"),  # ambiguous_column
        (r"syntax error|^incomplete input|^unrecognized token", "42601"),  # syntax_error
        (r"may not be modified|may not be dropped|may not be altered", "42501"),
        (r"^misuse of (aggregate|window)|not allowed in the GROUP BY", "42803"),  # grouping_error
        (r"^too many (SQL variables|columns|terms)", "54000"),  # program_limit_exceeded
        (r"^parser stack overflow|^Expression tree is too large", "54001"),
        (r"^integer overflow", "22003"),  # numeric_value_out_of_range
        (r"^cannot start a transaction within a transaction", "25001"),
        (r"^cannot VACUUM from within a transaction", "25001"),  # as PostgreSQL's VACUUM
        (r"^cannot (commit|rollback) - no transaction is active", "25P01"),
    )
)

# Exception classes -> SQLSTATE for the non-SQLITE_ERROR deterministic failures.
CLASS_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (apsw.MismatchError, "42804"),  # datatype_mismatch
    (apsw.TooBigError, "54000"),  # program_limit_exceeded
    (apsw.BindingsError, "08P01"),  # protocol_violation: wrong number of parameters
    (apsw.RangeError, "08P01"),
    (apsw.AuthError, "42501"),  # insufficient_privilege
    (apsw.ReadOnlyError, "25006"),  # read_only_sql_transaction
)

# Errors whose cause is this node, not the statement: never record, re-raise.
NODE_LOCAL: tuple[type[BaseException], ...] = (
    apsw.IOError,
    apsw.FullError,
    apsw.CorruptError,
    apsw.NoMemError,
    apsw.CantOpenError,
    apsw.BusyError,
    apsw.LockedError,
    apsw.InterruptError,
    apsw.NotADBError,
    apsw.ProtocolError,
    apsw.ThreadingViolationError,
    apsw.ConnectionClosedError,
    apsw.CursorClosedError,
    MemoryError,
    RecursionError,
    OSError,
)


def classify(exc: BaseException) -> tuple[str, str] | None:
    """(sqlstate, message) for an error that every node would raise the same way, or None for
    a node-local error that must not be recorded as a result."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):  # a raftsql SqlError raised by a helper function
        return sqlstate, str(getattr(exc, "message", exc))
    if isinstance(exc, NODE_LOCAL) or not isinstance(exc, Exception):
        return None
    message = str(exc)
    if isinstance(exc, apsw.ConstraintError):
        return CONSTRAINT_CODES.get(getattr(exc, "extendedresult", 0), "23000"), message
    if isinstance(exc, apsw.SQLError):
        for pattern, code in MESSAGE_PATTERNS:
            if pattern.search(message):
                return code, message
        return "42000", message  # syntax_error_or_access_rule_violation
    for cls, code in CLASS_CODES:
        if isinstance(exc, cls):
            return code, message
    # A deterministic bug in a helper function (TypeError and the like): record it rather than
    # stop every node of the cluster on the same entry.
    return "XX000", f"{exc.__class__.__name__}: {message}"
