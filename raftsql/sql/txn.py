"""Interactive transactions: optimistic, serializable (docs/transactions.md).

A `Transaction` runs the client's statements so the client sees real results, including its
own writes, and records every statement with a digest of the result the client saw. `commit()`
turns that into a `Command`; the state machine runs the statements again at the commit point
and commits only if each one gives exactly the result the client saw (else 40001). So whatever
the client observed is what a serial execution at the commit index would have shown it:
serializable, validated by value rather than by which tables moved, so transactions that touch
the same tables but not the same rows (pgbench's TPC-B) do not conflict.

Where the statements run:
- until the first write, on a WAL read transaction opened at the first statement (as
  PostgreSQL takes its snapshot): the snapshot at `base_index`, for free;
- from the first write on, on a write transaction of the current database that holds the
  transaction's recorded writes ("live"). Before anything else writes the file (the state
  machine applying an entry, or another transaction) the live transaction is rolled back
  ("parked"); the next statement takes the write lock again and replays the recorded writes
  it depends on (`_needed`: by the tables its compile read and wrote, which the authorizer
  reports, foreign keys and triggers included); when its compile or a failure shows that was
  not enough, it runs again on all of them. Why this is still sound: what a statement shows
  the client is checked at apply anyway (a wrong view can only cost a 40001), and it sees
  every earlier write that touched what it depends on, so no needless 40001 either.
  A failed statement parks the live transaction, so nothing of it stays (`_guarded`). Every
  run of a statement, the first, a replay or a retry, draws the leader's seeded random() from
  fresh streams (functions.SeededStreams.reset), as the apply does, so it gives what the
  client saw. All of this happens on the thread that applies log entries, so nothing
  interleaves, and the apply loop never waits for a client's think time.
  A transaction that saw data which changed before it commits learns it at COMMIT (40001).

Connections come from a per-file pool with a statement cache: the authorizer is then consulted
only when SQLite compiles, so its findings are kept per SQL text (Authorizer.settle), and
raftsql's own statements are cached apart from the client's (engine.CLIENT_PREPARE_FLAGS).
"""

from __future__ import annotations

import collections
import enum
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import apsw

from raftsql.sql.authorizer import SCHEMA_TABLE, Authorizer, Profile
from raftsql.sql.command import Command, Param, Stmt, StmtResult, result_digest
from raftsql.sql.engine import CLIENT_PREPARE_FLAGS, cacheable, open_connection, run_cached
from raftsql.sql.errors import SqlError
from raftsql.sql.functions import seeded_streams
from raftsql.sql.reads import to_sql_error

DEFAULT_MAX_STATEMENTS = 10_000
STATEMENT_CACHE = 64
"""Compiled statements kept per transaction connection (the authorizer's findings are kept per
SQL text alongside, Authorizer.settle)."""
POOL_SIZE = 32
"""Idle transaction connections kept per database file: opening one and registering the SQL
functions cost more than a TPC-B transaction's own statements (issue 8)."""

_WRITE_HOLDERS: dict[str, Callable[[], None]] = {}
"""Per database file, how to make whoever holds the write lock give it back: a transaction
whose replayed writes are live parks, the state machine drops a run applied ahead of its
commit (SQLite has one writer)."""


def _is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, SqlError) and exc.sqlstate == "40001"


_OPEN: collections.Counter[str] = collections.Counter()
"""Per database file, the transactions open (not yet committed or rolled back)."""


def open_transactions(path: str) -> int:
    """How many interactive transactions are open on ``path``: each may take the write lock
    at its next statement (the state machine applies nothing ahead of its commit meanwhile,
    apply.py `apply_ahead`)."""
    return _OPEN[path]


def release_write_lock(path: str) -> None:
    """Make whoever holds ``path``'s write lock give it back, if anyone does. The state
    machine calls this before applying an entry; a transaction calls it before taking the
    lock itself. Everything runs on the one thread that applies entries, so this never
    races."""
    give_back = _WRITE_HOLDERS.pop(path, None)
    if give_back is not None:
        give_back()


def hold_write_lock(path: str, give_back: Callable[[], None]) -> None:
    """Note that the caller holds ``path``'s write lock and how to make it give it back."""
    _WRITE_HOLDERS[path] = give_back


def unhold_write_lock(path: str, give_back: Callable[[], None]) -> None:
    """The caller gave ``path``'s write lock back by itself."""
    if _WRITE_HOLDERS.get(path) == give_back:
        del _WRITE_HOLDERS[path]


# ---- the connection pool ----------------------------------------------------------------


class _Pool:
    """Idle transaction connections of one database file. An idle connection is outside any
    transaction and keeps its compiled statements and functions; whether it is
    `PRAGMA query_only` is kept with it (a transaction switches only when it must).
    The file's identity (device, inode) is checked at every take: a file replaced at the same
    path (a test's or an operator's fresh directory) gets fresh connections."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file_id = _file_id(path)
        self.idle: list[tuple[apsw.Connection, Authorizer, bool]] = []  # (.., query_only)


_POOLS: dict[str, _Pool] = {}
_POOLS_LOCK = threading.Lock()


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


DEADLINE_CHECK_EVERY = 1000
"""SQLite VM instructions between two looks at the clock while a statement has a timeout."""


class _Deadline:
    """A progress handler that stops the statement once the monotonic clock passes ``until``
    (``passed`` then tells an interrupt by it from any other failure)."""

    __slots__ = ("until", "passed")

    def __init__(self, until: float) -> None:
        self.until = until
        self.passed = False

    def __call__(self) -> bool:
        if time.monotonic() >= self.until:
            self.passed = True
        return self.passed


def _take_connection(path: str) -> tuple[apsw.Connection, Authorizer, bool, Any]:
    """(connection, its authorizer, whether it is query_only, the file's identity)."""
    file_id = _file_id(path)
    with _POOLS_LOCK:
        pool = _POOLS.get(path)
        if pool is not None and pool.file_id != file_id:
            stale, pool.idle = pool.idle, []
            pool.file_id = file_id
            for conn, _, _ in stale:
                conn.close()
        if pool is not None and pool.idle:
            return (*pool.idle.pop(), file_id)
    conn, auth = open_connection(path, Profile.TXN, statement_cache=STATEMENT_CACHE)
    return conn, auth, False, file_id


def _give_back(path: str, conn: apsw.Connection, auth: Authorizer, query_only: bool,
               file_id: Any) -> None:
    with _POOLS_LOCK:
        pool = _POOLS.get(path)
        if pool is None:
            pool = _POOLS[path] = _Pool(path)
        if pool.file_id == file_id and len(pool.idle) < POOL_SIZE:
            auth.reset()
            pool.idle.append((conn, auth, query_only))
            return
    conn.close()


def close_pool(path: str) -> None:
    """Close the idle transaction connections of ``path`` (the state machine's close)."""
    with _POOLS_LOCK:
        pool = _POOLS.pop(path, None)
    for conn, _, _ in pool.idle if pool is not None else ():
        conn.close()


# ---- running statements -----------------------------------------------------------------


def _internal(conn: apsw.Connection, auth: Authorizer, sql: str,
              params: tuple[Param, ...] = ()) -> list[Any]:
    """One of raftsql's own statements, past the authorizer. It is cached without the client
    statements' prepare flags, so a client sending the same text never finds it compiled
    (engine.CLIENT_PREPARE_FLAGS)."""
    with auth.internal():
        return conn.execute(sql, params).fetchall()


class _RetryOnFullView(Exception):
    """A statement run on a partial view of the transaction's writes must run on all."""


class _Write(NamedTuple):
    """A recorded statement that wrote, with the tables it wrote and the tables its result
    depends on (read or written, foreign keys and triggers included: SQLite asks the authorizer
    about all of them at compile time). A NamedTuple: one is made per write, on the hot path."""

    sql: str
    params: tuple[Param, ...]
    writes: frozenset[str]
    depends: frozenset[str]


class _SchemaView:
    """A transaction's connection as determinism.SqliteSchemaInfo reads it: raftsql's own
    queries, past the authorizer (`_internal`)."""

    def __init__(self, conn: apsw.Connection, auth: Authorizer) -> None:
        self._conn, self._auth = conn, auth

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return _internal(self._conn, self._auth, sql, params)


class TxnState(enum.Enum):
    """OPEN runs statements; FAILED (after an error) accepts only ROLLBACK [TO SAVEPOINT],
    as PostgreSQL's aborted transaction block; DONE accepts nothing."""

    OPEN = "open"
    FAILED = "failed"
    DONE = "done"


# operation -> states it is allowed in (STYLE.md rule 6: the table is the state machine)
ALLOWED: dict[str, frozenset[TxnState]] = {
    "execute": frozenset({TxnState.OPEN}),
    "savepoint": frozenset({TxnState.OPEN}),
    "release": frozenset({TxnState.OPEN}),
    "rollback_to": frozenset({TxnState.OPEN, TxnState.FAILED}),
    "commit": frozenset({TxnState.OPEN, TxnState.FAILED}),
    "rollback": frozenset({TxnState.OPEN, TxnState.FAILED, TxnState.DONE}),
}

_SAVEPOINT_SQL = re.compile(
    r"^\s*(?:(SAVEPOINT)|(RELEASE)(?:\s+SAVEPOINT)?|(ROLLBACK)\s+(?:WORK\s+|TRANSACTION\s+)?TO"
    r"(?:\s+SAVEPOINT)?)\s+(\"(?:[^\"]|\"\")+\"|\w+)\s*;?\s*$",
    re.IGNORECASE,
)


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token.lower()  # PostgreSQL folds unquoted identifiers


class Transaction:
    """One client's interactive transaction on the leader. Not thread-safe."""

    def __init__(self, path: str, *, max_statements: int = DEFAULT_MAX_STATEMENTS) -> None:
        self.max_statements = max_statements
        self._file, self._auth, self._query_only, self._file_id = _take_connection(path)
        self._streams = seeded_streams(self._file)  # reset before each run of a statement
        self.base_index: int | None = None  # set by the first statement (_start)
        self.path = path
        _OPEN[path] += 1
        self._started = False
        self._replaying = False
        self._live = False  # the write transaction holding (some of) the recorded writes is open
        self._live_set: set[int] = set()  # which recorded writes it holds (positions in _writes)
        self._writes: list[_Write] = []  # the writes, replayed on the live transaction
        self._observed: list[Stmt] = []  # every statement with the digest of what it returned
        self._savepoints: list[tuple[str, int, int]] = []  # (name, len(_writes), len(_observed))
        self.read_tables: set[str] = set()
        self.write_tables: set[str] = set()
        self.state = TxnState.OPEN

    # ---- state table --------------------------------------------------------------------

    def _require(self, op: str) -> None:
        if self.state in ALLOWED[op]:
            return
        if self.state is TxnState.FAILED:
            raise SqlError(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            )
        raise SqlError("25P01", f"{op}: the transaction is already finished")

    @property
    def statements(self) -> tuple[Stmt, ...]:
        return tuple(Stmt(w.sql, w.params) for w in self._writes)

    # ---- statements ---------------------------------------------------------------------

    def execute(self, sql: str, params: tuple[Param, ...] = (),
                timeout: float | None = None) -> StmtResult:
        """Run one statement and return its result; SqlError on failure (the transaction then
        is FAILED until ROLLBACK or ROLLBACK TO SAVEPOINT, as in PostgreSQL).

        With ``timeout`` (the session's statement_timeout, seconds) SQLite stops the statement
        once it has run that long: 57014, and the transaction is FAILED, as in PostgreSQL. The
        statement runs on the caller's thread (the event loop's, module docstring), where no
        task can be cancelled, so the stop has to come from inside SQLite.

        SAVEPOINT / RELEASE / ROLLBACK TO given as SQL are routed to the methods below."""
        match = _SAVEPOINT_SQL.match(sql)
        if match is not None:
            name = _unquote(match.group(4))
            if match.group(1):
                self.savepoint(name)
            elif match.group(2):
                self.release(name)
            else:
                self.rollback_to(name)
            return StmtResult()
        self._require("execute")
        if len(self._writes) >= self.max_statements:
            self.state = TxnState.FAILED
            raise SqlError("54000", f"a transaction may hold at most {self.max_statements} writes")
        stop = None if timeout is None else _Deadline(time.monotonic() + timeout)
        if stop is not None:
            self._file.set_progress_handler(stop, DEADLINE_CHECK_EVERY)
        try:
            result = self._run(sql, params)
        except BaseException as exc:
            if stop is not None and stop.passed:
                self.state = TxnState.FAILED
                raise SqlError("57014", "canceling statement due to statement timeout") from None
            if isinstance(exc, SqlError):
                self.state = TxnState.FAILED
            raise
        finally:
            if stop is not None:
                self._file.set_progress_handler(None)
        auth = self._auth
        if auth.writes:
            writes = frozenset(auth.writes)
            self._live_set.add(len(self._writes))  # it ran on the live transaction
            self._writes.append(_Write(sql, tuple(params), writes, writes | auth.reads))
            self.write_tables |= writes
        self._observed.append(Stmt(sql, tuple(params), result_digest(result)))
        return result

    def _run(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        try:
            if not self._started:
                self._start(sql)
            if not self._replaying:
                found = self._auth.known(sql)
                if found is not None and found.writes:
                    self._start_replaying()  # a known write: no failed try on the snapshot
                    return self._replayed(sql, params)
                try:
                    return self._on_snapshot(sql, params)
                except apsw.ReadOnlyError:
                    if not self._auth.writes:
                        raise
                    self._start_replaying()  # the first write
            return self._replayed(sql, params)
        except SqlError:
            raise
        except Exception as exc:
            error = to_sql_error(exc, self._auth)
            if error is None:
                raise
            raise error from exc

    def _start(self, sql: str) -> None:
        """Take the snapshot at the first statement, as PostgreSQL does (the node's read
        barrier ran before BEGIN, so it holds at least what was committed then). When that
        statement is known to write (pgbench's TPC-B), skip the read snapshot it would leave at
        once: `_go_live` reads `base_index` in the write transaction instead."""
        self._started = True
        found = self._auth.known(sql)
        if found is not None and found.writes:
            self._set_query_only(False)
            self._replaying = True
            return
        self._set_query_only(True)
        _internal(self._file, self._auth, "BEGIN")
        self._read_base_index()

    def _read_base_index(self) -> None:
        rows = _internal(self._file, self._auth, "SELECT applied_index FROM _raftsql_meta")
        self.base_index = int(rows[0][0])

    def _set_query_only(self, on: bool) -> None:
        """Before the first write the connection is query_only, so a write fails with
        ReadOnlyError instead of writing in the snapshot."""
        if self._query_only != on:
            _internal(self._file, self._auth, f"PRAGMA query_only={'ON' if on else 'OFF'}")
            self._query_only = on

    def _on_snapshot(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        self._streams.reset()
        try:
            return run_cached(self._file, self._auth, sql, params)
        finally:
            self.read_tables |= self._auth.reads

    def _start_replaying(self) -> None:
        _internal(self._file, self._auth, "ROLLBACK")
        self._set_query_only(False)
        self._replaying = True

    def _needed(self, depends: frozenset[str] | None) -> set[int]:
        """The recorded writes a statement depending on the tables ``depends`` must see
        (None: unknown, all of them). Why not always all: replaying every earlier write after
        each interruption made TPC-B run 18 statements per transaction instead of 10 (issue 8).

        A write is needed if it wrote a table the statement depends on, and then so is every
        earlier write that wrote a table the needed write depended on (taken backwards in one
        pass: a write depends only on earlier ones). Each needed write then does what it did in
        the full sequence, so the statement's tables hold what they hold after all the writes.
        A schema change in the transaction makes everything depend on everything."""
        writes = self._writes
        if depends is None or SCHEMA_TABLE in depends or SCHEMA_TABLE in self.write_tables:
            return set(range(len(writes)))
        need: set[int] = set()
        for pos in range(len(writes) - 1, -1, -1):
            w = writes[pos]
            if not w.writes.isdisjoint(depends):
                need.add(pos)
                depends = depends | w.depends
        return need

    def _go_live(self, need: set[int]) -> None:
        """Take the write lock (parking whoever holds it) and replay the ``need`` writes in
        their order."""
        conn, auth = self._file, self._auth
        release_write_lock(self.path)  # another transaction parks (one writer per file)
        _internal(conn, auth, "BEGIN IMMEDIATE")
        self._live = True
        self._live_set = set()
        hold_write_lock(self.path, self._park)
        try:
            if self.base_index is None:
                self._read_base_index()
            for pos in sorted(need):
                stmt = self._writes[pos]
                auth.reset()
                self._streams.reset()  # draw what its first run drew
                try:
                    conn.execute(stmt.sql, stmt.params, can_cache=cacheable(stmt.sql, auth),
                                 prepare_flags=CLIENT_PREPARE_FLAGS).fetchall()
                finally:
                    auth.settle(stmt.sql)
        except BaseException:
            self._park()
            raise
        self._live_set = need

    def _replayed(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        """Run the statement on the live transaction, holding at least the recorded writes it
        needs (`_needed`, by what its last compile on this connection showed). Its compile
        may show more this time (a schema change since): then, or when it fails on a partial
        view, it is undone and run once more on all of them, so what the client sees is what
        it would see after every earlier write."""
        found = self._auth.known(sql)
        full = set(range(len(self._writes)))
        need = self._needed(None if found is None else found.reads | found.writes)
        for attempt in (need, full) if need != full else (full,):
            if self._live and not attempt <= self._live_set:
                self._park()
            if not self._live:
                self._go_live(attempt)
            try:
                return self._guarded(sql, params, self._live_set != full)
            except _RetryOnFullView:
                self._park()
        raise AssertionError("unreachable: a statement on the full view is never retried")

    def _guarded(self, sql: str, params: tuple[Param, ...], partial: bool) -> StmtResult:
        """Run the statement on the live transaction; if it fails, park it. On a ``partial``
        view, raise _RetryOnFullView when it failed or its compile showed dependencies the
        view lacks.

        Why no SAVEPOINT around each statement: a failed statement may leave part of its
        effects (ON CONFLICT FAIL), but parking drops them with the rest of the live
        transaction, and the next statement replays only the recorded writes, which never
        include a failed one. Failures are rare; two statements per statement were not."""
        conn, auth = self._file, self._auth
        holding = self._live_set
        self._streams.reset()  # a retry on the full view draws what the first try drew
        try:
            try:
                result = run_cached(conn, auth, sql, params)
            finally:
                self.read_tables |= auth.reads
            if partial and not self._needed(frozenset(auth.reads | auth.writes)) <= holding:
                raise _RetryOnFullView
        except BaseException as exc:
            touched = auth.reads | auth.writes
            self._park()
            if isinstance(exc, _RetryOnFullView):
                raise
            if partial and isinstance(exc, Exception):
                raise _RetryOnFullView from exc
            moved = self._moved_since_base(touched | self.read_tables | self.write_tables)
            if moved and isinstance(exc, Exception) and not _is_conflict(exc):
                # It failed on data newer than the snapshot (e.g. a key another transaction
                # committed meanwhile): on the snapshot alone it might not have. PostgreSQL
                # reports such failures of serializable transactions as 40001 too.
                raise SqlError(
                    "40001",
                    "could not serialize access due to concurrent update of "
                    + ", ".join(moved),
                ) from exc
            raise
        return result

    def _moved_since_base(self, tables: set[str]) -> list[str]:
        """Tables among ``tables`` that an entry after ``base_index`` wrote."""
        if not tables:
            return []
        rows = _internal(
            self._file, self._auth,
            "SELECT name, idx FROM _raftsql_table_versions WHERE idx > ?", (self.base_index,),
        )
        return sorted(name for name, _ in rows if name in tables)

    def _park(self) -> None:
        """Give the write lock back; the next statement replays the recorded writes."""
        if not self._live:
            return
        self._live = False
        self._live_set = set()
        unhold_write_lock(self.path, self._park)
        if self._file.in_transaction:
            _internal(self._file, self._auth, "ROLLBACK")

    @property
    def changed_schema(self) -> bool:
        """A statement of this transaction wrote the schema (DDL)."""
        return SCHEMA_TABLE in self.write_tables

    def schema_view(self) -> _SchemaView:
        """The schema as this transaction sees it, its own DDL included: a check that must run
        before a statement (determinism's trigger check) reads the tables it created. Holds
        the transaction's writes live for that (a replay when it was parked)."""
        if self._replaying and self._writes:
            full = set(range(len(self._writes)))
            if not (self._live and full <= self._live_set):
                self._park()
                self._go_live(full)
        return _SchemaView(self._file, self._auth)

    # ---- savepoints ---------------------------------------------------------------------

    def _find(self, name: str) -> int:
        for pos in range(len(self._savepoints) - 1, -1, -1):
            if self._savepoints[pos][0] == name:
                return pos
        raise SqlError("3B001", f'savepoint "{name}" does not exist')

    def savepoint(self, name: str) -> None:
        self._require("savepoint")
        self._savepoints.append((name, len(self._writes), len(self._observed)))

    def release(self, name: str) -> None:
        """Forget the savepoint (and later ones); its statements stay."""
        self._require("release")
        pos = self._find(name)
        del self._savepoints[pos:]

    def rollback_to(self, name: str) -> None:
        """Undo everything after the savepoint, which stays; drops the recorded statements."""
        self._require("rollback_to")
        pos = self._find(name)
        _, writes_mark, observed_mark = self._savepoints[pos]
        del self._savepoints[pos + 1 :]
        del self._writes[writes_mark:]
        del self._observed[observed_mark:]
        self._park()  # the live transaction holds the dropped statements' effects
        self.state = TxnState.OPEN

    # ---- the end ------------------------------------------------------------------------

    def commit(self) -> Command | None:
        """The command to propose, or None when there is nothing to propose: a read-only
        transaction (its reads were served from one snapshot) or a FAILED one (PostgreSQL
        answers COMMIT of an aborted transaction with ROLLBACK)."""
        self._require("commit")
        failed = self.state is TxnState.FAILED
        wrote = bool(self._writes)
        self.rollback()
        if failed or not wrote:
            return None
        assert self.base_index is not None  # a statement wrote
        return Command(
            tuple(self._observed), self.base_index, frozenset(self.read_tables),
            frozenset(self.write_tables),
        )

    def rollback(self) -> None:
        """Discard everything; idempotent."""
        if self.state is TxnState.DONE:
            return
        self.state = TxnState.DONE
        _OPEN[self.path] -= 1
        if not _OPEN[self.path]:
            del _OPEN[self.path]
        self._park()
        conn, auth = self._file, self._auth
        try:
            if conn.in_transaction:
                _internal(conn, auth, "ROLLBACK")
        except BaseException:
            conn.close()
            raise
        _give_back(self.path, conn, auth, self._query_only, self._file_id)

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()
