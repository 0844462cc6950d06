"""Run one statement on an apsw connection and capture a `StmtResult`.

Shared by the state machine, interactive transactions and reads so that all three report
columns, row counts and insert ids the same way. Two apsw details drive the shape:
  * column descriptions are read from an exec tracer, which runs after the statement is
    compiled and before its first step, so a SELECT with no rows still has its columns;
  * last_insert_rowid is per connection and survives across statements (and is 0 after a
    restart), so it is reset before each statement and reported only if this statement set it;
    otherwise results, which are stored for deduplication and hashed, would differ by node.
"""

from __future__ import annotations

from typing import Any

import apsw

from raftsql.sql.authorizer import Authorizer
from raftsql.sql.command import Param, StmtResult


def run_statement(
    conn: apsw.Connection, auth: Authorizer, sql: str, params: tuple[Param, ...] = ()
) -> StmtResult:
    """Execute `sql` and return its result; SQLite's exception propagates unchanged.

    rowcount is the number of rows returned for statements with a result (SELECT, RETURNING)
    and sqlite3_changes() for INSERT/UPDATE/DELETE without one, as PostgreSQL's command tag.
    """
    auth.reset()
    conn.set_last_insert_rowid(0)
    columns: list[tuple[str, str | None]] = []

    def trace(cursor: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
        try:
            columns[:] = [(str(name), decl) for name, decl in cursor.get_description()]
        except apsw.ExecutionCompleteError:
            columns.clear()
        return True

    cursor = conn.cursor()
    cursor.exec_trace = trace
    rows = tuple(cursor.execute(sql, params))  # apsw rows are tuples (no row tracer is set)
    lastrowid = conn.last_insert_rowid() or None
    if columns:
        rowcount = len(rows)
    elif auth.dml:
        rowcount = conn.changes()
    else:
        rowcount = 0
    return StmtResult(tuple(columns), rows, rowcount, lastrowid if auth.dml else None)
