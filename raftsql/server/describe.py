"""Result columns and table schemas from SQLite without running anything.

Why: Describe (extended protocol) must report a statement's result columns before it runs,
and an INSERT ... RETURNING must not be executed to learn them. SQLite compiles a statement
and knows its result columns and their declared types at that point, so this module prepares
the statement and aborts before the first step (apsw's exec tracer returning False). The
connection is query_only and uses the TXN authorizer profile so that writes and DDL compile.

Why the schema is refreshed first: SQLite compiles against the schema it last loaded on this
connection and checks the schema cookie only when a statement steps (OP_Transaction). Since
these statements never step, a table altered, or dropped and created again with other types,
kept being described with its old columns: asyncpg got one column where the DataRow had two,
and a numeric(10,2) value typed int4 (found by a client audit, tests/compat/
test_wire_regressions.py). Stepping a statement that reads sqlite_schema begins a read
transaction, and SQLite reloads the schema there when the cookie moved. That costs a statement
(~6 us), so it runs only when the state machine's schema generation moved
(StateMachine.schema_generation counts every committed schema change and snapshot restore,
on the thread that describes); without that count it runs before every describe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from raftsql.sql.authorizer import Profile
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError
from raftsql.sql.reads import to_sql_error

_REFRESH_SCHEMA = "SELECT 1 FROM sqlite_schema WHERE 0"
"""Steps, so SQLite compares the schema cookie and reloads the schema when it moved (PRAGMA
schema_version reads the cookie without doing so)."""


class Describer:
    """One prepare-only connection to a node's state machine database (event-loop thread).

    ``schema_generation`` returns the state machine's count of committed schema changes
    (StateMachine.schema_generation); the schema is reloaded only when it moved."""

    def __init__(self, path: str, schema_generation: Callable[[], int] | None = None) -> None:
        self._conn, self._auth = open_connection(path, Profile.TXN)
        with self._auth.internal():
            self._conn.execute("PRAGMA query_only=ON")
        self._generation = schema_generation
        self._seen: int | None = None  # the generation the loaded schema is known to match

    def close(self) -> None:
        self._conn.close()

    def columns(self, sql: str, nparams: int,
                conn: apsw.Connection | None = None) -> tuple[tuple[str, str | None], ...]:
        """(name, declared type) of each result column of one SQLite statement, against the
        committed schema (or the schema of ``conn``, a transaction's connection)."""
        if conn is None:
            self._refresh_schema()
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

    def _refresh_schema(self) -> None:
        """Have SQLite reload this connection's schema if a committed change moved it."""
        now = self._generation() if self._generation is not None else None
        if now is not None and now == self._seen:
            return
        with self._auth.internal():
            self._conn.execute(_REFRESH_SCHEMA).get  # noqa: B018 (stepping is the point)
        self._seen = now

    def table_columns(self, table: str,
                      conn: apsw.Connection | None = None) -> dict[str, str | None]:
        """{lower-case column name: declared type} of a table; {} when there is none."""
        target = conn if conn is not None else self._conn
        try:
            rows = list(target.execute("SELECT name, type FROM pragma_table_info(?)", (table,)))
        except apsw.Error:
            return {}
        return {str(name).lower(): (str(decl) if decl else None) for name, decl in rows}
