"""Result columns and table schemas from SQLite without running anything.

Why: Describe (extended protocol) must report a statement's result columns before it runs,
and an INSERT ... RETURNING must not be executed to learn them. SQLite compiles a statement
and knows its result columns and their declared types at that point, so this module prepares
the statement and aborts before the first step (apsw's exec tracer returning False). The
connection is query_only and uses the TXN authorizer profile so that writes and DDL compile.
"""

from __future__ import annotations

from typing import Any

import apsw

from raftsql.sql.authorizer import Profile
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError
from raftsql.sql.reads import to_sql_error


class Describer:
    """One prepare-only connection to a node's state machine database (event-loop thread)."""

    def __init__(self, path: str) -> None:
        self._conn, self._auth = open_connection(path, Profile.TXN)
        with self._auth.internal():
            self._conn.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        self._conn.close()

    def columns(self, sql: str, nparams: int,
                conn: apsw.Connection | None = None) -> tuple[tuple[str, str | None], ...]:
        """(name, declared type) of each result column of one SQLite statement."""
        target = conn if conn is not None else self._conn
        seen: list[tuple[tuple[str, str | None], ...]] = []

        def trace(cursor: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
            try:
                seen.append(tuple((n, d) for n, d in cursor.get_description()))
            except apsw.ExecutionCompleteError:
                seen.append(())
            return False

        cur = target.cursor()
        cur.exec_trace = trace
        try:
            cur.execute(sql, (None,) * nparams)
        except apsw.ExecTraceAbort:
            pass
        except apsw.Error as exc:
            error = to_sql_error(exc, self._auth) if conn is None else None
            raise error if error is not None else SqlError("42601", str(exc)) from None
        finally:
            cur.exec_trace = None
        return seen[0] if seen else ()

    def table_columns(self, table: str,
                      conn: apsw.Connection | None = None) -> dict[str, str | None]:
        """{lower-case column name: declared type} of a table; {} when there is none."""
        target = conn if conn is not None else self._conn
        try:
            rows = list(target.execute("SELECT name, type FROM pragma_table_info(?)", (table,)))
        except apsw.Error:
            return {}
        return {str(name).lower(): (str(decl) if decl else None) for name, decl in rows}
