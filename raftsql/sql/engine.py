"""Opening SQLite connections the one way raftsql uses them (apsw, pinned engine).

Why one function: every connection must have the same settings or nodes diverge in subtle ways
(foreign keys off on one connection, a helper function missing on another). apsw bundles its
own SQLite, so the engine version is part of the build; `ENGINE_VERSION` is recorded in each
database (see apply.py) so a data file written by another engine is noticed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import apsw

from raftsql.sql import functions
from raftsql.sql.authorizer import Authorizer, Profile
from raftsql.sql.command import Param, StmtResult

ENGINE_VERSION: str = apsw.sqlite_lib_version()
BUSY_TIMEOUT_MS = 5000


CLIENT_PREPARE_FLAGS = apsw.SQLITE_PREPARE_PERSISTENT
"""Prepare flags of every client statement run with `run_cached`. apsw's statement cache
looks statements up by text AND prepare flags, and raftsql's own statements (compiled under
`Authorizer.internal()`, so past the policy) use none: a client sending the text of one of
them therefore never finds it compiled, and is asked about (tests/unit/sql/test_txn_replay.py
checks both the apply and the transaction connections). PERSISTENT itself only tells SQLite the
statement will be kept, which a cached one is."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_connection(
    path: str, profile: Profile, *, authorizer: Authorizer | None = None,
    statement_cache: int = 0,
) -> tuple[apsw.Connection, Authorizer]:
    """A configured connection and its authorizer.

    Statement caching is off by default so the authorizer sees every statement compiled (a
    cached one would skip it, and the apply and transaction paths read what it tracked). A
    caller that needs only the authorizer's verdict may ask for a cache (`statement_cache`
    statements): a denied statement never compiles, so it is never cached, and SQLite
    recompiles a cached one after a schema change, asking the authorizer again. Only READ
    connections get a real clock for now()/random(): on replicated profiles those functions
    raise, because a write must carry fixed values (functions.py).
    """
    conn = apsw.Connection(path, statementcachesize=statement_cache)
    conn.enable_load_extension(False)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    # can_cache=False: a client sending the same text must not find it compiled (authorizer.py)
    conn.execute("PRAGMA foreign_keys=ON", can_cache=False)
    if profile is Profile.READ:
        conn.execute("PRAGMA query_only=ON", can_cache=False)
    functions.register(conn, clock=None if profile.replicated else _utc_now)
    auth = authorizer if authorizer is not None else Authorizer(profile)
    conn.authorizer = auth
    return conn, auth


def cacheable(sql: str, auth: Authorizer) -> bool:
    """Whether ``sql`` may come from (and go to) the statement cache: only when ``auth`` still
    holds the findings of its last compile, since a cached run asks them of it (a text whose
    findings were dropped compiles once more, uncached, and is known again); and one statement
    per text only: for several, a partly cached run would leave partial findings (a ';'
    inside a literal only costs the cache)."""
    if auth.known(sql) is None:
        return False
    return ";" not in sql or ";" not in sql.rstrip().rstrip(";")


def _describe(conn: apsw.Connection, sql: str,
              params: tuple[Param, ...]) -> tuple[tuple[str, str | None], ...]:
    """The columns of ``sql`` as now compiled, without running it: an exec tracer on a fresh
    cursor takes them after the prepare and aborts before the first step."""
    found: list[tuple[tuple[str, str | None], ...]] = []

    def trace(cursor: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
        found.append(cursor.get_description())
        return False  # abort: nothing runs

    cursor = conn.cursor()
    cursor.exec_trace = trace
    try:
        cursor.execute(sql, params, can_cache=True, prepare_flags=CLIENT_PREPARE_FLAGS)
    except apsw.ExecTraceAbort:
        pass
    return found[0] if found else ()


def run_cached(conn: apsw.Connection, auth: Authorizer, sql: str,
               params: tuple[Param, ...] = ()) -> StmtResult:
    """Run a client's statement on a connection with a statement cache; as
    execute.run_statement otherwise. The authorizer's findings are settled per SQL text
    (Authorizer.settle) before they are used, since a cached statement is not compiled.

    Columns: the exec tracer's, taken after the prepare and before the first step; when
    SQLite recompiled the cached statement inside that step (a schema change: the authorizer
    was asked only then), those of the recompiled statement (`_describe` when there is no
    row). The columns must not depend on what a node had cached: they are part of the
    results stored for deduplication, which every node hashes into its checksum.
    last_insert_rowid is reset first and reported only for a row write
    (execute.py says why)."""
    auth.reset()
    conn.set_last_insert_rowid(0)
    traced: tuple[tuple[str, str | None], ...] = ()
    compiled_before_step = False

    def trace(cursor: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
        nonlocal traced, compiled_before_step
        traced = cursor.get_description()  # prepared, not yet stepped: never complete here
        compiled_before_step = auth.compiled
        return True

    cursor = conn.cursor()
    cursor.exec_trace = trace
    try:
        cursor.execute(sql, params, can_cache=cacheable(sql, auth),
                       prepare_flags=CLIENT_PREPARE_FLAGS)
        columns = traced
        if auth.compiled and not compiled_before_step:  # recompiled inside the first step
            try:
                # `description`, not get_description(): apsw keeps each format's answer per
                # cursor, and get_description's is the one the tracer took before the step
                columns = tuple((d[0], d[1]) for d in cursor.description)
            except apsw.ExecutionCompleteError:
                columns = _describe(conn, sql, params)  # no row to ask
        rows = tuple(cursor)
    finally:
        auth.settle(sql)
    dml = auth.dml
    lastrowid = conn.last_insert_rowid() or None
    if columns:
        rowcount = len(rows)
    elif dml:
        rowcount = conn.changes()
    else:
        rowcount = 0
    return StmtResult(columns, rows, rowcount, lastrowid if dml else None)
