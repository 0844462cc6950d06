"""Local reads on pooled read-only connections that never block the apply loop.

SQLite in WAL mode gives each read transaction a snapshot and lets one writer commit
meanwhile, so a read here never waits for apply and apply never waits for a read. A single
statement is its own read transaction, so the rows always come from one committed prefix of
the log. Which prefix the caller learns one of two ways:

* it passes ``applied``, the node's applied index taken before the read (the node's read
  barrier already waited for the index the read needs). The statement then runs alone, with no
  BEGIN / SELECT applied_index / ROLLBACK around it, and ``applied`` is reported as a lower
  bound of the state the rows reflect. This is the point-read path: those three statements
  cost more than the read itself (issue 8);
* it passes nothing: the statement runs in a transaction that first reads `applied_index`, and
  the exact index is reported (tools, tests, `stale` reads that show their freshness).

Connections are `PRAGMA query_only`, use the READ authorizer profile and keep a small statement
cache (the authorizer still rules on every statement SQLite compiles; engine.py says why that
is enough). Whether a read may be served here at all (lease, ReadIndex) is the node's
decision, not this module's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import apsw

from raftsql.sql.authorizer import Authorizer, Profile
from raftsql.sql.command import Param, Value
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError
from raftsql.sql.sqlite_errors import classify

DEFAULT_POOL_SIZE = 4
DEFAULT_WAIT_SECONDS = 5.0
INLINE_STEPS = 2000
"""SQLite VM instructions a read may take on the event loop's thread (query_inline): about
a hundred microseconds; a point lookup by key needs a few dozen."""
PROGRESS_EVERY = 250
"""VM instructions between two calls of a pooled connection's progress handler."""
STATEMENT_CACHE = 128
"""Compiled statements kept per pooled connection: a prepared point read compiles once."""


@dataclass(slots=True)
class QueryResult:
    """Rows of a read. columns are (name, declared type or None); the declared type is what the
    frontend maps to a PostgreSQL type OID. applied_index is the state the rows reflect: exact
    when the pool read it, else the caller's lower bound (module docstring). Not frozen (a
    frozen dataclass's __init__ costs four times as much, one is made per read; issue 8)."""

    columns: tuple[tuple[str, str | None], ...]
    rows: tuple[tuple[Value, ...], ...]
    applied_index: int


def to_sql_error(exc: BaseException, auth: Authorizer) -> SqlError | None:
    """The client-facing error for a failed statement, or None if it is node-local."""
    if isinstance(exc, SqlError):
        return exc
    error = auth.denial or classify(exc)
    return SqlError(*error) if error is not None else None


_Found = tuple[tuple[tuple[str, str | None], ...], tuple[tuple[Value, ...], ...]]
"""(columns, rows) of a read: the caller adds the applied index (one QueryResult per read)."""


def _rows(conn: apsw.Connection, sql: str, params: tuple[Param, ...]) -> _Found | None:
    """Run a read; None when it returned no row (its columns are then unknown here).

    The columns are asked of the cursor while it holds the first row, i.e. after SQLite's
    first step: a cached statement is recompiled inside that step when the schema changed
    (sqlite3_prepare_v3), so an exec tracer, which runs before it, could describe the old
    schema (a test caught `SELECT *` losing a just-added column)."""
    cursor = conn.execute(sql, params)
    try:
        columns = cursor.get_description()
    except apsw.ExecutionCompleteError:
        return None
    return columns, tuple(cursor)


def _rows_and_columns(conn: apsw.Connection, sql: str, params: tuple[Param, ...]) -> _Found:
    """A read that returned no row, run again with a tracer for its columns. The first run
    recompiled the statement if the schema had changed, so the tracer now sees the statement
    as it runs. Running a read twice is harmless; the second run's rows are returned."""
    found: list[tuple[tuple[str, str | None], ...]] = [()]

    def trace(cursor: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
        try:
            found[0] = cursor.get_description()
        except apsw.ExecutionCompleteError:
            found[0] = ()
        return True

    cursor = conn.cursor()
    cursor.exec_trace = trace
    rows = tuple(cursor.execute(sql, params))
    return found[0], rows


class _Budget:
    """A connection's progress handler: stops the statement once it has used its budget.

    Why counted here: SQLite calls the handler every PROGRESS_EVERY instructions of a
    statement's *lifetime* count, which a cached statement carries over from earlier runs, so
    "the first call" would stop a point read every few hundred runs. Counting calls per run
    bounds a run to INLINE_STEPS (give or take PROGRESS_EVERY). Installed once per connection;
    a read on a thread gets an unlimited budget."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = -1  # negative: unlimited

    def __call__(self) -> bool:
        if self.left < 0:
            return False
        self.left -= 1
        return self.left <= 0


@dataclass(slots=True)
class _Conn:
    conn: apsw.Connection
    auth: Authorizer
    budget: _Budget


class ReadPool:
    """A bounded pool of read-only connections to the state machine's database file.

    The database must already exist (StateMachine creates it). Thread-safe: each query takes a
    connection out of the pool for its whole duration.
    """

    def __init__(self, path: str, size: int = DEFAULT_POOL_SIZE) -> None:
        assert size > 0
        self.path = path
        self.size = size
        self._idle: list[_Conn] = []  # LIFO: the warmest connection is reused first
        self._opened = 0
        self._lock = threading.Lock()  # entered directly on the hot path (C, not Python)
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._closed = False

    def _open(self) -> _Conn:
        conn, auth = open_connection(self.path, Profile.READ, statement_cache=STATEMENT_CACHE)
        budget = _Budget()
        conn.set_progress_handler(budget, PROGRESS_EVERY)
        return _Conn(conn, auth, budget)

    def _take(self, wait: float) -> _Conn:
        deadline = None
        with self._cond:
            while True:
                if self._closed:
                    raise SqlError("57P01", "read pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._opened < self.size:
                    self._opened += 1
                    break
                if deadline is None:
                    deadline = time.monotonic() + wait
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SqlError("53300", f"all {self.size} read connections are busy")
                self._waiters += 1
                try:
                    self._cond.wait(left)
                finally:
                    self._waiters -= 1
        try:
            return self._open()
        except BaseException:
            with self._cond:
                self._opened -= 1
                if self._waiters:
                    self._cond.notify()
            raise

    def query(
        self, sql: str, params: tuple[Param, ...] = (), *, wait: float = DEFAULT_WAIT_SECONDS,
        applied: int | None = None,
    ) -> QueryResult:
        """Run one read-only statement; raises SqlError (e.g. 25006 for a write, 42P01).
        ``applied``: the caller's lower bound of the state read (module docstring)."""
        c = self._take(wait)
        try:
            return self._run(c, sql, params, applied)
        finally:
            self._give_back(c)

    def query_inline(self, sql: str, params: tuple[Param, ...] = (),
                     applied: int | None = None) -> QueryResult | None:
        """Run a read on the calling thread if it is short; None if it must go to a thread.

        Why: a point read takes tens of microseconds, less than the hop to a worker thread
        and back (the event loop calls this). "Short" is enforced, not guessed: a progress
        handler stops the statement after INLINE_STEPS SQLite VM instructions, and the caller
        then runs it again with ``query`` on a thread (a read has no effects, so running it
        twice is harmless). Uses only an idle pooled connection, never waits for one."""
        with self._lock:
            if not self._idle:
                return None
            c = self._idle.pop()
        c.budget.left = INLINE_STEPS // PROGRESS_EVERY
        try:
            return self._run(c, sql, params, applied)
        except apsw.InterruptError:
            return None  # ran past its budget: nobody else interrupts pool connections
        finally:
            c.budget.left = -1
            self._give_back(c)

    def _run(self, c: _Conn, sql: str, params: tuple[Param, ...],
             applied: int | None) -> QueryResult:
        conn, auth = c.conn, c.auth
        if applied is None:
            # can_cache=False: raftsql's own statements compile under internal(); cached, a
            # client sending the same text would skip the authorizer (authorizer.py)
            with auth.internal():
                conn.execute("BEGIN", can_cache=False)
                applied = int(next(conn.execute("SELECT applied_index FROM _raftsql_meta",
                                                can_cache=False))[0])
        if auth.denial is not None or auth.reads or auth.writes:
            auth.reset()  # only a compile fills these; a cached statement is not compiled
        try:
            found = _rows(conn, sql, params) or _rows_and_columns(conn, sql, params)
        except Exception as exc:
            error = to_sql_error(exc, auth)
            if error is None:
                raise
            raise error from exc
        return QueryResult(*found, applied)

    def _give_back(self, c: _Conn) -> None:
        conn = c.conn
        if conn.in_transaction:
            with c.auth.internal():
                conn.execute("ROLLBACK", can_cache=False)
        with self._lock:
            if self._closed:
                conn.close()
                return
            self._idle.append(c)
            if self._waiters:
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for c in self._idle:
                c.conn.close()
            self._idle.clear()
            self._cond.notify_all()
