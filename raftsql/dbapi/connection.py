"""PEP 249 Connection and Cursor over an embedded node's ``Database``.

Transactions follow ``sqlite3``'s legacy rules (the ones PEP 249 code written for sqlite3
relies on): with ``isolation_level`` not None, an INSERT/UPDATE/DELETE/REPLACE outside a
transaction opens one; ``commit()`` proposes everything as ONE log entry (the interactive
transaction of docs/transactions.md, validated optimistically at apply: a conflict raises
OperationalError with sqlstate 40001); ``rollback()`` discards it, nothing was proposed.
SELECT and DDL do not open a transaction. ``isolation_level=None`` is autocommit.

In the SQLite dialect a failed statement inside a transaction undoes only itself and the
transaction goes on, as in SQLite (PostgreSQL would abort the whole transaction).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import Any

from raftsql.dbapi import exceptions as exc
from raftsql.dbapi.embedded import EmbeddedNode, release
from raftsql.dbapi.sqlite_sql import SqliteStatement, first_word, translate_sqlite
from raftsql.node.database import READ_LEVELS, Result, Session
from raftsql.node.errors import NodeError
from raftsql.sql.classify import StatementKind
from raftsql.sql.errors import SqlError
from raftsql.sql.translate import translate
from raftsql.sql.txn import TxnState

DIALECTS = ("sqlite", "postgres")
_DML_WORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")

Row = tuple[Any, ...]


class Connection:
    """A DB-API connection: one raftsql session on the embedded node.

    Thread-safe (PEP 249 threadsafety 2): a lock serialises the calls of threads that share
    the connection, and the node's loop serialises everything else."""

    def __init__(self, node: EmbeddedNode, *, dialect: str = "sqlite",
                 read_consistency: str = "lease", isolation_level: str | None = "") -> None:
        if dialect not in DIALECTS:
            raise exc.InterfaceError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
        self._node: EmbeddedNode | None = node
        self.dialect = dialect
        self.session = Session()
        self.read_consistency = read_consistency
        self._isolation_level = isolation_level
        self.row_factory: Callable[[Cursor, Row], Any] | None = None
        self._lock = threading.RLock()
        self._last_insert_rowid = 0
        self._savepoint_opened: str | None = None
        for name in exc.__all__:
            if name[0].isupper():
                setattr(self, name, getattr(exc, name))  # PEP 249 optional extension

    # ---------------------------------------------------------------- settings

    @property
    def read_consistency(self) -> str:
        return self.session.settings["raftsql.read_consistency"]

    @read_consistency.setter
    def read_consistency(self, level: str) -> None:
        if level not in READ_LEVELS:
            raise exc.InterfaceError(f"read_consistency must be one of {READ_LEVELS}")
        self.session.settings["raftsql.read_consistency"] = level

    @property
    def isolation_level(self) -> str | None:
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        """As sqlite3: switching to autocommit (None) commits an open transaction."""
        if value is None and self.session.txn is not None:
            self.commit()
        self._isolation_level = value

    @property
    def in_transaction(self) -> bool:
        return self.session.txn is not None

    @property
    def node(self) -> EmbeddedNode:
        if self._node is None:
            raise exc.ProgrammingError("Cannot operate on a closed database.")
        return self._node

    # ---------------------------------------------------------------- plumbing

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the node's loop; every failure leaves as a DB-API error."""
        node = self.node
        try:
            return node.call(coro)
        except SqlError as e:
            raise exc.from_sql_error(e, dialect=self.dialect) from e
        except NodeError as e:
            raise exc.error_class(e.sqlstate)(e.message, e.sqlstate) from e
        except TimeoutError as e:
            raise exc.OperationalError("the node did not answer in time; the outcome is "
                                       "unknown", "40003") from e
        except exc.Error:
            raise
        except Exception as e:
            raise exc.InternalError(f"{type(e).__name__}: {e}", "XX000") from e

    def _prepare(self, sql: str) -> list[SqliteStatement]:
        if not isinstance(sql, str):
            raise exc.ProgrammingError(f"SQL must be a str, not {type(sql).__name__}")
        try:
            if self.dialect == "sqlite":
                return translate_sqlite(sql)
            return [SqliteStatement(t) for t in translate(sql)]
        except SqlError as e:
            raise exc.from_sql_error(e, dialect=self.dialect) from e

    # ---------------------------------------------------------------- running statements

    async def _run(self, stmt: SqliteStatement, values: Sequence[Any], *,
                   implicit: bool = True) -> Result:
        """One statement with sqlite3's transaction rules (runs on the node's loop)."""
        db, session, t = self.node.db, self.session, stmt.translated
        if t.kind is StatementKind.TRANSACTION and self.dialect == "sqlite":
            return await self._sqlite_transaction(stmt)
        if implicit and self.isolation_level is not None and session.txn is None \
                and first_word(t.original) in _DML_WORDS:
            await db.begin_implicit(session)
        try:
            return await db.run(session, t, values)
        except SqlError:
            txn = session.txn
            if self.dialect == "sqlite" and txn is not None and txn.state is TxnState.FAILED:
                txn.state = TxnState.OPEN  # SQLite: the statement is undone, not the transaction
            raise

    async def _sqlite_transaction(self, stmt: SqliteStatement) -> Result:
        db, session, t = self.node.db, self.session, stmt.translated
        action = t.txn
        assert action is not None
        match action.action:
            case "begin":
                if session.txn is not None:
                    raise SqlError("25001", "cannot start a transaction within a transaction")
                await db.begin_implicit(session)
                self._savepoint_opened = None
            case "commit":
                if session.txn is None:
                    raise SqlError("25P01", "cannot commit - no transaction is active")
                await db.commit_implicit(session)
            case "rollback":
                if session.txn is None:
                    raise SqlError("25P01", "cannot rollback - no transaction is active")
                db.abort_implicit(session)
            case "savepoint":
                if session.txn is None:  # SQLite: SAVEPOINT outside a transaction opens one
                    await db.begin_implicit(session)
                    self._savepoint_opened = action.name
                return await db.run(session, t, ())
            case "release":
                if session.txn is None:
                    raise SqlError("3B001", f"no such savepoint: {action.name}")
                if action.name == self._savepoint_opened:  # releasing the outermost commits
                    self._savepoint_opened = None
                    await db.commit_implicit(session)
                    return Result("RELEASE")
                return await db.run(session, t, ())
            case "rollback_to":
                if session.txn is None:
                    raise SqlError("3B001", f"no such savepoint: {action.name}")
                return await db.run(session, t, ())
        return Result(t.command_tag)

    def _bind(self, stmt: SqliteStatement, params: Any) -> list[Any]:
        """Client parameters in $n order, checked as sqlite3 checks them."""
        t = stmt.translated
        if params is None:
            params = ()
        if stmt.named:
            if isinstance(params, Mapping):
                missing = [n for n in stmt.names if n not in params]
                if missing:
                    raise exc.ProgrammingError(
                        f"You did not supply a value for binding parameter :{missing[0]}.",
                        "08P01")
                return [params[n] for n in stmt.names]
        elif isinstance(params, Mapping) and t.nparams:
            raise exc.ProgrammingError("Binding 1 has no name, but you supplied a dictionary "
                                       "(which has only names).", "08P01")
        if isinstance(params, Mapping):
            params = ()
        if isinstance(params, str | bytes) or not isinstance(params, Sequence):
            raise exc.ProgrammingError("parameters are of unsupported type")
        if len(params) != t.nparams:
            self._compile_error(t.sql)
            raise exc.ProgrammingError(
                f"Incorrect number of bindings supplied. The current statement uses "
                f"{t.nparams}, and there are {len(params)} supplied.", "08P01")
        return list(params)

    def _compile_error(self, sql: str) -> None:
        """sqlite3 compiles a statement before it counts the bindings, so a statement that
        does not compile reports that error first. Compile it (EXPLAIN, nothing runs) on a
        local read connection and raise its 42xxx error if it has one."""
        if self.dialect != "sqlite":
            return
        try:
            self.node.db.reads.query("EXPLAIN " + sql, ())
        except SqlError as e:
            if e.sqlstate.startswith("42") and e.sqlstate != "42501":
                raise exc.from_sql_error(e, dialect=self.dialect) from e
        except Exception:  # noqa: BLE001 - only a compile error is of interest here
            return

    # ---------------------------------------------------------------- PEP 249 methods

    def cursor(self) -> Cursor:
        self.node  # noqa: B018 - raises on a closed connection
        return Cursor(self)

    def commit(self) -> None:
        with self._lock:
            self.node  # noqa: B018 - raises on a closed connection
            if self.session.txn is not None:
                self._savepoint_opened = None
                self._call(self.node.db.commit_implicit(self.session))

    def rollback(self) -> None:
        with self._lock:
            self.node  # noqa: B018 - raises on a closed connection
            if self.session.txn is not None:
                self._savepoint_opened = None
                self._call(self._abort())

    async def _abort(self) -> None:
        self.node.db.abort_implicit(self.session)

    def close(self) -> None:
        """Discard an open transaction (as sqlite3 does) and release the node."""
        with self._lock:
            if self._node is None:
                return
            try:
                if self.session.txn is not None and not self._node.closed:
                    self._call(self._abort())
            finally:
                node, self._node = self._node, None
                release(node)

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, script: str) -> Cursor:
        return self.cursor().executescript(script)

    def __enter__(self) -> Connection:
        self.node  # noqa: B018
        return self

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        """sqlite3 semantics: commit on success, roll back on an exception; stay open."""
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def __del__(self) -> None:
        node = getattr(self, "_node", None)
        if node is None:
            return
        if node.on_loop_thread():  # collected on the node's own thread: close from another
            threading.Thread(target=self._close_quietly, daemon=True).start()
        else:
            self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to report to at collection time
            pass


class Cursor:
    """A DB-API cursor. Results are fetched whole by execute() and handed out from memory."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.description: tuple[tuple[Any, ...], ...] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.row_factory = connection.row_factory
        self._rows: list[Row] = []
        self._pos = 0
        self._closed = False

    def _check(self) -> Connection:
        if self._closed:
            raise exc.ProgrammingError("Cannot operate on a closed cursor.")
        self.connection.node  # noqa: B018 - raises on a closed connection
        return self.connection

    def _one(self, sql: str) -> SqliteStatement | None:
        stmts = self.connection._prepare(sql)
        if len(stmts) > 1:
            raise exc.ProgrammingError("You can only execute one statement at a time.")
        return stmts[0] if stmts else None

    def _reset(self) -> None:
        self.description = None
        self.rowcount = -1
        self._rows = []
        self._pos = 0

    def _take(self, stmt: SqliteStatement, result: Result, *, many: bool = False) -> None:
        conn = self.connection
        t = stmt.translated
        if result.columns:
            self.description = tuple((name, None if conn.dialect == "sqlite" else decl,
                                      None, None, None, None, None)
                                     for name, decl in result.columns)
            self._rows = list(result.rows)
        dml = t.kind is StatementKind.WRITE
        if dml:
            self.rowcount = max(self.rowcount, 0) + result.rowcount
            if result.lastrowid is not None:
                conn._last_insert_rowid = result.lastrowid
        if not many:  # sqlite3: after execute(), the connection's last insert rowid
            self.lastrowid = conn._last_insert_rowid

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        conn = self._check()
        with conn._lock:
            self._reset()
            stmt = self._one(sql)
            if stmt is None:
                return self
            values = conn._bind(stmt, parameters)
            result = conn._call(conn._run(stmt, values))
            self._take(stmt, result)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        """One statement for each parameter set; inside one transaction (one log entry at
        commit) unless the connection is in autocommit mode."""
        conn = self._check()
        with conn._lock:
            self._reset()
            stmt = self._one(sql)
            if stmt is None:
                return self
            if stmt.translated.kind is not StatementKind.WRITE:
                raise exc.ProgrammingError("executemany() can only execute DML statements.")
            bound = [conn._bind(stmt, p) for p in seq_of_parameters]

            async def run_all() -> list[Result]:
                return [await conn._run(stmt, values) for values in bound]

            self.rowcount = 0
            for result in conn._call(run_all()):
                self._take(stmt, result, many=True)
        return self

    def executescript(self, script: str) -> Cursor:
        """Commit a pending transaction, then run every statement as written (sqlite3; the
        cursor's rowcount, lastrowid and description are left as they were)."""
        conn = self._check()
        with conn._lock:
            conn.commit()
            stmts = conn._prepare(script)

            async def run_all() -> None:
                for stmt in stmts:
                    result = await conn._run(stmt, (), implicit=False)
                    if result.lastrowid is not None and stmt.translated.kind is \
                            StatementKind.WRITE:
                        conn._last_insert_rowid = result.lastrowid

            conn._call(run_all())
        return self

    def _factory(self, row: Row) -> Any:
        return row if self.row_factory is None else self.row_factory(self, row)

    def fetchone(self) -> Any:
        self._check()
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return self._factory(row)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        self._check()
        n = self.arraysize if size is None else size
        rows = self._rows[self._pos : self._pos + max(n, 0)]
        self._pos += len(rows)
        return [self._factory(r) for r in rows]

    def fetchall(self) -> list[Any]:
        self._check()
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return [self._factory(r) for r in rows]

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def close(self) -> None:
        self._closed = True
        self._rows = []

    def setinputsizes(self, sizes: Any) -> None:
        """Accepted and ignored (PEP 249 allows it)."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """Accepted and ignored (PEP 249 allows it)."""

    def callproc(self, procname: str, parameters: Any = ()) -> Any:
        raise exc.NotSupportedError("stored procedures are not supported")

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
