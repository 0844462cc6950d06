"""Interactive transactions: optimistic, serializable (docs/transactions.md).

A `Transaction` runs the client's statements so the client sees real results, including its
own writes, and records every statement with a digest of the result the client saw. `commit()`
turns that into a `Command`; the state machine runs the statements again at the commit point
and commits only if each one gives exactly the result the client saw (else 40001). So whatever
the client observed is what a serial execution at the commit index would have shown it:
serializable, validated by value rather than by which tables moved, so transactions that touch
the same tables but not the same rows (pgbench's TPC-B) do not conflict.

Where the statements run:
- until the first write, on a WAL read transaction opened at BEGIN: the snapshot at
  `base_index`, for free;
- from the first write on, on a write transaction of the current database that holds the
  transaction's recorded writes ("live"). Before anything else writes the file (the state
  machine applying an entry, or another transaction) the live transaction is rolled back
  ("parked"); the next statement takes the write lock again and replays the recorded writes.
  Statements run inside a SAVEPOINT, so a failure undoes only that statement. All of this
  happens on the thread that applies log entries, so nothing interleaves, and the apply loop
  never waits for a client's think time. A transaction that saw data which changed before it
  commits learns it at COMMIT (40001).
"""

from __future__ import annotations

import enum
import re

import apsw

from raftsql.sql.authorizer import Profile
from raftsql.sql.command import Command, Param, Stmt, StmtResult, result_digest
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError
from raftsql.sql.execute import run_statement
from raftsql.sql.reads import to_sql_error

DEFAULT_MAX_STATEMENTS = 10_000
_STMT_SAVEPOINT = "_raftsql_stmt"

_WRITE_HOLDERS: dict[str, Transaction] = {}
"""Per database file, the transaction whose replayed writes are live (SQLite has one writer)."""


def _is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, SqlError) and exc.sqlstate == "40001"


def release_write_lock(path: str) -> None:
    """Park the transaction holding ``path``'s write lock, if any. The state machine calls this
    before applying an entry; a transaction calls it before taking the lock itself. Everything
    runs on the one thread that applies entries, so this never races."""
    holder = _WRITE_HOLDERS.get(path)
    if holder is not None:
        holder._park()


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
        self._file, self._auth = open_connection(path, Profile.TXN)
        with self._auth.internal():
            self._file.execute("PRAGMA query_only=ON")
            self._file.execute("BEGIN")
            self.base_index = int(
                next(self._file.execute("SELECT applied_index FROM _raftsql_meta"))[0]
            )
        self.path = path
        self._replaying = False
        self._live = False  # the write transaction holding the replayed statements is open
        self._stmts: list[Stmt] = []  # the writes, replayed on the live transaction
        self._observed: list[Stmt] = []  # every statement with the digest of what it returned
        self._savepoints: list[tuple[str, int, int]] = []  # (name, len(_stmts), len(_observed))
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
        return tuple(self._stmts)

    # ---- statements ---------------------------------------------------------------------

    def execute(self, sql: str, params: tuple[Param, ...] = ()) -> StmtResult:
        """Run one statement and return its result; SqlError on failure (the transaction then
        is FAILED until ROLLBACK or ROLLBACK TO SAVEPOINT, as in PostgreSQL).

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
        if len(self._stmts) >= self.max_statements:
            self.state = TxnState.FAILED
            raise SqlError("54000", f"a transaction may hold at most {self.max_statements} writes")
        try:
            result = self._run(sql, params)
        except SqlError:
            self.state = TxnState.FAILED
            raise
        if self._auth.writes:
            self._stmts.append(Stmt(sql, tuple(params)))
            self.write_tables |= self._auth.writes
        self._observed.append(Stmt(sql, tuple(params), result_digest(result)))
        return result

    def _run(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        try:
            if not self._replaying:
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

    def _on_snapshot(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        try:
            return run_statement(self._file, self._auth, sql, params)
        finally:
            self.read_tables |= self._auth.reads

    def _start_replaying(self) -> None:
        with self._auth.internal():
            self._file.execute("ROLLBACK")
            self._file.execute("PRAGMA query_only=OFF")
        self._replaying = True

    def _replayed(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        conn = self._file
        if not self._live:
            release_write_lock(self.path)  # another transaction parks (one writer per file)
            with self._auth.internal():
                conn.execute("BEGIN IMMEDIATE")
            self._live = True
            _WRITE_HOLDERS[self.path] = self
            try:
                for stmt in self._stmts:
                    run_statement(conn, self._auth, stmt.sql, stmt.params)
            except BaseException:
                self._park()
                raise
        with self._auth.internal():
            conn.execute(f"SAVEPOINT {_STMT_SAVEPOINT}")
        try:
            try:
                result = run_statement(conn, self._auth, sql, params)
            finally:
                self.read_tables |= self._auth.reads
        except BaseException as exc:
            touched = self._auth.reads | self._auth.writes
            with self._auth.internal():
                conn.execute(f"ROLLBACK TO {_STMT_SAVEPOINT}")
                conn.execute(f"RELEASE {_STMT_SAVEPOINT}")
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
        with self._auth.internal():
            conn.execute(f"RELEASE {_STMT_SAVEPOINT}")
        return result

    def _moved_since_base(self, tables: set[str]) -> list[str]:
        """Tables among ``tables`` that an entry after ``base_index`` wrote."""
        if not tables:
            return []
        with self._auth.internal():
            return sorted(
                name
                for name, idx in self._file.execute(
                    "SELECT name, idx FROM _raftsql_table_versions WHERE idx > ?",
                    (self.base_index,),
                )
                if name in tables
            )

    def _park(self) -> None:
        """Give the write lock back; the next statement replays the recorded writes."""
        if not self._live:
            return
        self._live = False
        if _WRITE_HOLDERS.get(self.path) is self:
            del _WRITE_HOLDERS[self.path]
        with self._auth.internal():
            if self._file.in_transaction:
                self._file.execute("ROLLBACK")

    # ---- savepoints ---------------------------------------------------------------------

    def _find(self, name: str) -> int:
        for pos in range(len(self._savepoints) - 1, -1, -1):
            if self._savepoints[pos][0] == name:
                return pos
        raise SqlError("3B001", f'savepoint "{name}" does not exist')

    def savepoint(self, name: str) -> None:
        self._require("savepoint")
        self._savepoints.append((name, len(self._stmts), len(self._observed)))

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
        del self._stmts[writes_mark:]
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
        wrote = bool(self._stmts)
        self.rollback()
        if failed or not wrote:
            return None
        return Command(
            tuple(self._observed), self.base_index, frozenset(self.read_tables),
            frozenset(self.write_tables),
        )

    def rollback(self) -> None:
        """Discard everything; idempotent."""
        if self.state is TxnState.DONE:
            return
        self.state = TxnState.DONE
        self._park()
        conn = self._file
        with self._auth.internal():
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        conn.close()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()
