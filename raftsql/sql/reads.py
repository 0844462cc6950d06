"""Local reads on pooled read-only connections that never block the apply loop.

SQLite in WAL mode gives each read transaction a snapshot and lets one writer commit
meanwhile, so a read here never waits for apply and apply never waits for a read. Every read
runs in its own transaction that first reads `applied_index`, so the caller learns exactly which
prefix of the log the rows reflect (a ReadIndex read needs applied >= read index; `stale` reads
can report freshness). Connections are `PRAGMA query_only` and use the READ authorizer profile.
Whether a read may be served here at all (lease, ReadIndex) is the node's decision, not this
module's.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import apsw

from raftsql.sql.authorizer import Authorizer, Profile
from raftsql.sql.command import Param, Value
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError
from raftsql.sql.execute import run_statement
from raftsql.sql.sqlite_errors import classify

DEFAULT_POOL_SIZE = 4
DEFAULT_WAIT_SECONDS = 5.0
INLINE_STEPS = 2000
"""SQLite VM instructions a read may take on the event loop's thread (query_inline): about
a hundred microseconds; a point lookup by key needs a few dozen."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a read. columns are (name, declared type or None); the declared type is what the
    frontend maps to a PostgreSQL type OID. applied_index is the state the rows reflect."""

    columns: tuple[tuple[str, str | None], ...]
    rows: tuple[tuple[Value, ...], ...]
    applied_index: int


def to_sql_error(exc: BaseException, auth: Authorizer) -> SqlError | None:
    """The client-facing error for a failed statement, or None if it is node-local."""
    if isinstance(exc, SqlError):
        return exc
    error = auth.denial or classify(exc)
    return SqlError(*error) if error is not None else None


class ReadPool:
    """A bounded pool of read-only connections to the state machine's database file.

    The database must already exist (StateMachine creates it). Thread-safe: each query takes a
    connection out of the pool for its whole duration.
    """

    def __init__(self, path: str, size: int = DEFAULT_POOL_SIZE) -> None:
        assert size > 0
        self.path = path
        self.size = size
        self._idle: queue.LifoQueue[tuple[apsw.Connection, Authorizer]] = queue.LifoQueue()
        self._opened = 0
        self._lock = threading.Lock()
        self._closed = False

    def _take(self, wait: float) -> tuple[apsw.Connection, Authorizer]:
        with self._lock:
            if self._closed:
                raise SqlError("57P01", "read pool is closed")
            if self._idle.empty() and self._opened < self.size:
                self._opened += 1
                try:
                    return open_connection(self.path, Profile.READ)
                except BaseException:
                    self._opened -= 1
                    raise
        try:
            return self._idle.get(timeout=wait)
        except queue.Empty:
            raise SqlError("53300", f"all {self.size} read connections are busy") from None

    def query(
        self, sql: str, params: tuple[Param, ...] = (), *, wait: float = DEFAULT_WAIT_SECONDS
    ) -> QueryResult:
        """Run one read-only statement; raises SqlError (e.g. 25006 for a write, 42P01)."""
        conn, auth = self._take(wait)
        try:
            return self._run(conn, auth, sql, params)
        finally:
            self._give_back(conn, auth)

    def query_inline(self, sql: str, params: tuple[Param, ...] = ()) -> QueryResult | None:
        """Run a read on the calling thread if it is short; None if it must go to a thread.

        Why: a point read takes tens of microseconds, less than the hop to a worker thread
        and back (the event loop calls this). "Short" is enforced, not guessed: a progress
        handler stops the statement after INLINE_STEPS SQLite VM instructions, and the caller
        then runs it again with ``query`` on a thread (a read has no effects, so running it
        twice is harmless). Uses only an idle pooled connection, never waits for one."""
        try:
            conn, auth = self._idle.get_nowait()
        except queue.Empty:
            return None
        gave_up = False

        def stop() -> bool:
            nonlocal gave_up
            gave_up = True
            return True

        conn.set_progress_handler(stop, INLINE_STEPS)
        try:
            return self._run(conn, auth, sql, params)
        except Exception:
            if gave_up:
                return None
            raise
        finally:
            conn.set_progress_handler(None)
            self._give_back(conn, auth)

    def _run(self, conn: apsw.Connection, auth: Authorizer, sql: str,
             params: tuple[Param, ...]) -> QueryResult:
        with auth.internal():
            conn.execute("BEGIN")
            applied = int(next(conn.execute("SELECT applied_index FROM _raftsql_meta"))[0])
        try:
            result = run_statement(conn, auth, sql, params)
        except Exception as exc:
            error = to_sql_error(exc, auth)
            if error is None:
                raise
            raise error from exc
        return QueryResult(result.columns, result.rows, applied)

    def _give_back(self, conn: apsw.Connection, auth: Authorizer) -> None:
        with auth.internal():
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        self._idle.put((conn, auth))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            while not self._idle.empty():
                self._idle.get_nowait()[0].close()
