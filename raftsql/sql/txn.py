"""Interactive transactions on the leader: optimistic, serializable (docs/transactions.md).

A `Transaction` runs the client's statements against a private snapshot so the client sees
real results, including its own writes, and records what must be replayed: the statements
that wrote, in order, plus every table read or written. `commit()` turns that into a `Command`
for proposal; the state machine applies it only if none of those tables was written by an
entry after the snapshot's index (else 40001), so the transaction behaves as if it had run
alone at its commit index.

Where the statements run: a read transaction on the WAL database gives the snapshot for free,
but SQLite cannot write inside it while the apply loop commits (the upgrade fails with
SQLITE_BUSY_SNAPSHOT) and holding the write lock would stall apply for the client's think time.
So reads run on the snapshot directly, and the first write copies that same snapshot into a
private in-memory database (sqlite3_serialize inside the read transaction) where it and
everything after it run. Read-only transactions never pay the copy; write transactions pay
O(database size) once, bounded by `max_copy_bytes`.
"""

from __future__ import annotations

import enum
import re

import apsw

from raftsql.sql.authorizer import Profile
from raftsql.sql.command import Command, Param, Stmt, StmtResult
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError
from raftsql.sql.execute import run_statement
from raftsql.sql.reads import to_sql_error

DEFAULT_MAX_COPY_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_STATEMENTS = 10_000
_STMT_SAVEPOINT = "_raftsql_stmt"


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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token.lower()  # PostgreSQL folds unquoted identifiers


class Transaction:
    """One client's interactive transaction on the leader. Not thread-safe."""

    def __init__(
        self,
        path: str,
        *,
        max_copy_bytes: int = DEFAULT_MAX_COPY_BYTES,
        max_statements: int = DEFAULT_MAX_STATEMENTS,
    ) -> None:
        self.max_copy_bytes = max_copy_bytes
        self.max_statements = max_statements
        self._file, self._auth = open_connection(path, Profile.TXN)
        with self._auth.internal():
            self._file.execute("PRAGMA query_only=ON")
            self._file.execute("BEGIN")
            self.base_index = int(
                next(self._file.execute("SELECT applied_index FROM _raftsql_meta"))[0]
            )
        self._mem: apsw.Connection | None = None
        self._stmts: list[Stmt] = []
        self._savepoints: list[tuple[str, int]] = []  # (name, len(_stmts) when created)
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
    def _conn(self) -> apsw.Connection:
        return self._mem if self._mem is not None else self._file

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
        return result

    def _run(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        try:
            if self._mem is None:
                try:
                    return self._attempt(sql, params)
                except apsw.ReadOnlyError:
                    if not self._auth.writes:
                        raise
                    self._materialize()  # the first write: move to the private copy
            return self._attempt(sql, params)
        except SqlError:
            raise
        except Exception as exc:
            error = to_sql_error(exc, self._auth)
            if error is None:
                raise
            raise error from exc

    def _attempt(self, sql: str, params: tuple[Param, ...]) -> StmtResult:
        """Run inside a statement savepoint (private copy only) so a failure undoes just it."""
        conn = self._conn
        if self._mem is None:
            try:
                return run_statement(conn, self._auth, sql, params)
            finally:
                self.read_tables |= self._auth.reads
        with self._auth.internal():
            conn.execute(f"SAVEPOINT {_STMT_SAVEPOINT}")
        try:
            result = run_statement(conn, self._auth, sql, params)
        except BaseException:
            self.read_tables |= self._auth.reads
            with self._auth.internal():
                conn.execute(f"ROLLBACK TO {_STMT_SAVEPOINT}")
                conn.execute(f"RELEASE {_STMT_SAVEPOINT}")
            raise
        self.read_tables |= self._auth.reads
        with self._auth.internal():
            conn.execute(f"RELEASE {_STMT_SAVEPOINT}")
        return result

    def _materialize(self) -> None:
        """Copy the snapshot into a private in-memory database and continue there."""
        with self._auth.internal():
            pages = int(next(self._file.execute("PRAGMA page_count"))[0])
            page_size = int(next(self._file.execute("PRAGMA page_size"))[0])
            if pages * page_size > self.max_copy_bytes:
                raise SqlError(
                    "54000",
                    f"database too large ({pages * page_size} bytes) for a write transaction "
                    f"(limit {self.max_copy_bytes}); use single statements",
                )
            image = bytearray(self._file.serialize("main") or b"")
        # The header says WAL (bytes 18-19 = 2); an in-memory database cannot use WAL.
        image[18] = image[19] = 1
        mem, _ = open_connection(":memory:", Profile.TXN, authorizer=self._auth)
        with self._auth.internal():
            mem.deserialize("main", bytes(image))
            mem.execute("BEGIN")
            for name, _ in self._savepoints:
                mem.execute(f"SAVEPOINT {_quote(name)}")
            self._file.execute("ROLLBACK")
        self._file.close()
        self._mem = mem

    # ---- savepoints ---------------------------------------------------------------------

    def _find(self, name: str) -> int:
        for pos in range(len(self._savepoints) - 1, -1, -1):
            if self._savepoints[pos][0] == name:
                return pos
        raise SqlError("3B001", f'savepoint "{name}" does not exist')

    def savepoint(self, name: str) -> None:
        self._require("savepoint")
        self._savepoints.append((name, len(self._stmts)))
        if self._mem is not None:
            with self._auth.internal():
                self._mem.execute(f"SAVEPOINT {_quote(name)}")

    def release(self, name: str) -> None:
        """Forget the savepoint (and later ones); its statements stay."""
        self._require("release")
        pos = self._find(name)
        del self._savepoints[pos:]
        if self._mem is not None:
            with self._auth.internal():
                self._mem.execute(f"RELEASE {_quote(name)}")

    def rollback_to(self, name: str) -> None:
        """Undo everything after the savepoint, which stays; drops the recorded statements."""
        self._require("rollback_to")
        pos = self._find(name)
        mark = self._savepoints[pos][1]
        del self._savepoints[pos + 1 :]
        del self._stmts[mark:]
        if self._mem is not None:
            with self._auth.internal():
                self._mem.execute(f"ROLLBACK TO {_quote(name)}")
        self.state = TxnState.OPEN

    # ---- the end ------------------------------------------------------------------------

    def commit(self) -> Command | None:
        """The command to propose, or None when there is nothing to propose: a read-only
        transaction (its reads were served from one snapshot) or a FAILED one (PostgreSQL
        answers COMMIT of an aborted transaction with ROLLBACK)."""
        self._require("commit")
        failed = self.state is TxnState.FAILED
        stmts = tuple(self._stmts)
        self.rollback()
        if failed or not stmts:
            return None
        return Command(
            stmts, self.base_index, frozenset(self.read_tables), frozenset(self.write_tables)
        )

    def rollback(self) -> None:
        """Discard everything; idempotent."""
        if self.state is TxnState.DONE:
            return
        self.state = TxnState.DONE
        conn = self._conn
        with self._auth.internal():
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        conn.close()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()
