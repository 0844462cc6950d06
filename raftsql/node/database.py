"""The SQL service of a node: sessions, routing of statements to reads, proposals and
transactions. The Postgres frontend and the embedded DB-API driver both stand on it.

Routing (ARCHITECTURE.md data flow):

- a read waits at the session's consistency level (lease, linearizable ReadIndex, stale), then
  for ``raftsql.min_applied_index``, and runs on a pooled read connection of the local SQLite;
- a write or DDL gets its non-deterministic values fixed, becomes one ``Command``, is proposed
  with the session's (client id, sequence) so a retry is answered once, and the state machine's
  result comes back;
- an interactive transaction runs on this node's own snapshot, taken after a read barrier at
  the session's level, so it sees every write committed before it began; its writes are
  proposed at COMMIT as one entry that the state machine validates optimistically (40001 on a
  conflict). Because validation happens at apply, in log order, it is serializable on any
  node; no statement has to travel to the leader. (docs/transactions.md)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import functools
import json
import os
import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import apsw

from raftsql.node.driver import RaftNode
from raftsql.node.errors import NodeError
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.sql import command
from raftsql.sql.authorizer import Profile
from raftsql.sql.classify import StatementKind, Translated
from raftsql.sql.determinism import (
    SchemaInfo,
    SqliteSchemaInfo,
    bind,
    fix_nondeterminism,
    fixes_nothing,
)
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError
from raftsql.sql.reads import ReadPool
from raftsql.sql.translate import translate
from raftsql.sql.txn import Transaction, TxnState

READ_LEVELS = ("lease", "linearizable", "stale")

SESSION_DEFAULTS: dict[str, str] = {
    "raftsql.read_consistency": "lease",
    "raftsql.min_applied_index": "0",
    "default_transaction_read_only": "off",
}
RAFTSQL_SETTINGS = frozenset((*SESSION_DEFAULTS, "raftsql.client_id", "raftsql.request_id"))
"""The settings under raftsql's reserved prefix; SET of any other `raftsql.` name is refused, as
PostgreSQL 15 refuses unknown names under an extension's prefix (a typo must not pass)."""
_BOOLEANS = {"on": "on", "true": "on", "yes": "on", "1": "on",
             "off": "off", "false": "off", "no": "off", "0": "off"}

_VIRTUAL = re.compile(r"\braftsql_(status|nodes)\b", re.IGNORECASE)


@dataclass
class Result:
    """One statement's outcome as the frontends need it."""

    command_tag: str
    columns: tuple[tuple[str, str | None], ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    rowcount: int = 0
    lastrowid: int | None = None
    index: int = 0
    """For a write: the log index it was committed at; for a read: the applied index read."""

    @property
    def returns_rows(self) -> bool:
        return bool(self.columns)


class _SchemaCache:
    """The leader's schema view for fix_nondeterminism, memoised per schema generation.

    Why: every autocommit write asked SQLite for the table's columns and defaults (pragma
    queries, ~6% of a write-heavy leader's CPU in a py-spy profile). The schema changes only
    when the state machine applies DDL or restores a snapshot, and it counts both
    (StateMachine.schema_generation); checking that count replaced a `PRAGMA schema_version`
    per write, which cost the leader 22 us of CPU per write at one client
    (bench/session_bench.py). Apply runs on the event loop's thread, as every caller does, so
    the memo never sees a schema between a change and its count."""

    def __init__(self, conn: apsw.Connection) -> None:
        self._info = SqliteSchemaInfo(conn)
        self._generation: int | None = None
        self._memo: dict[tuple[str, str], Any] = {}

    def current(self, generation: int) -> _SchemaCache:
        """The memo, emptied when the state machine's schema generation moved."""
        if generation != self._generation:
            self._generation, self._memo = generation, {}
        return self

    def _get(self, method: str, table: str) -> Any:
        key = (method, table.lower())
        if key not in self._memo:
            self._memo[key] = getattr(self._info, method)(table)
        return self._memo[key]

    def columns(self, table: str) -> Sequence[str]:
        return tuple(self._get("columns", table))

    def nondeterministic_defaults(self, table: str) -> dict[str, str]:
        return dict(self._get("nondeterministic_defaults", table))

    def table_sql(self, table: str) -> str | None:
        return self._get("table_sql", table)  # type: ignore[no-any-return]

    def index_sqls(self, table: str) -> Sequence[str]:
        return tuple(self._get("index_sqls", table))


_PLAIN_PARAMS = frozenset({type(None), bool, int, float, str, bytes})
"""Types to_param returns unchanged (checked by exact type, before calling it)."""


def to_param(value: Any) -> command.Param:
    """A client value in the replicated parameter vocabulary (command.py): values SQLite has
    no type for travel as the text PostgreSQL prints for them."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return json.dumps([to_param(v) if not isinstance(v, int | float | str) else v
                           for v in value])
    raise SqlError("42804", f"cannot use a value of type {type(value).__name__} as a parameter")


@functools.lru_cache(maxsize=4096)
def _is_virtual(text: str) -> bool:
    """Does a read name a raftsql_* view? Decided once per statement text (a prepared point
    read runs this for every execution; a regex search of the text cost more than the read)."""
    return _VIRTUAL.search(text) is not None


def _values(params: Sequence[Any]) -> list[Any]:
    """The client's $n values as SQLite parameters."""
    return [v if type(v) in _PLAIN_PARAMS else to_param(v) for v in params]


def _tag(t: Translated, rowcount: int) -> str:
    base = t.command_tag
    if base == "INSERT":
        return f"INSERT 0 {rowcount}"
    if base in ("SELECT", "UPDATE", "DELETE", "MOVE", "FETCH", "COPY"):
        return f"{base} {rowcount}"
    return base


def _read_only_by_default(session: Session) -> bool:
    return session.settings["default_transaction_read_only"] == "on"


def _settle_settings(session: Session, *, committed: bool) -> None:
    """Settle the settings of the transaction that just ended, as PostgreSQL does: a commit
    keeps its SETs and undoes its SET LOCALs; anything else restores the settings it began
    with. A request id the transaction used up stays used: `Session.next_seq` took it, and
    the same id on the next write would be answered with this one's result."""
    saved = session.settings_at_begin
    if saved is not None:
        if committed:
            for name, value in session.settings_after_commit.items():
                if value is None:
                    session.settings.pop(name, None)
                else:
                    session.settings[name] = value
        else:
            if "raftsql.request_id" not in session.settings:
                saved.pop("raftsql.request_id", None)
            session.settings = saved
    session.settings_at_begin = None
    session.settings_after_commit = {}


def _raise_if_failed(results: Sequence[command.StmtResult]) -> None:
    for r in results:
        if r.error is not None:
            raise SqlError(r.error[0], r.error[1])


@dataclass
class Session:
    """One client's state: identity for deduplication, settings, its open transaction."""

    client_id: bytes = field(default_factory=lambda: os.urandom(16))
    seq: int = 0
    settings: dict[str, str] = field(default_factory=lambda: dict(SESSION_DEFAULTS))
    txn: Transaction | None = None
    txn_read_only: bool = False
    last_write_index: int = 0
    settings_at_begin: dict[str, str] | None = None
    """The settings when the open transaction began: a rollback restores them (PostgreSQL
    undoes a SET made in a transaction that does not commit)."""
    settings_after_commit: dict[str, str | None] = field(default_factory=dict)
    """Names SET LOCAL changed in the open transaction -> the value each has once it commits
    (None: not set)."""
    expires: bool = True
    """Whether the state machine may forget this client's session once it has been idle for
    its window of entries (docs/transactions.md, "Session expiry"): a connection's own
    identity, which nothing can retry after the connection is gone. False once the client
    names itself or picks its request ids, since its retries may then come at any time."""

    @property
    def status(self) -> str:
        """ReadyForQuery status: I idle, T in a transaction, E in a failed transaction."""
        if self.txn is None:
            return "I"
        return "E" if self.txn.state is TxnState.FAILED else "T"

    @property
    def read_level(self) -> str:
        return self.settings["raftsql.read_consistency"]

    def next_seq(self) -> int:
        """The sequence number of the next write. A client that retries across connections
        sets ``raftsql.client_id`` once and ``raftsql.request_id`` before each write (the same
        values on a retry), so the state machine answers a retry with the first result."""
        requested = self.settings.pop("raftsql.request_id", None)
        if requested is not None:
            self.seq = int(requested)
            return self.seq
        self.seq += 1
        return self.seq


class Database:
    """SQL over one node. Every method runs on the node's event loop."""

    def __init__(self, node: RaftNode, sm: SqlStateMachine, read_pool_size: int = 4) -> None:
        self.node = node
        self.sm = sm
        self.reads = ReadPool(sm.path, size=read_pool_size)
        self._schema_conn, self._schema_auth = open_connection(sm.path, Profile.READ)
        self._schema = _SchemaCache(self._schema_conn)
        self._rng = random.Random()
        self.virtual_tables: Callable[[], dict[str, tuple[list[str], list[tuple[Any, ...]]]]]
        self.virtual_tables = self._raftsql_tables

    def close(self) -> None:
        self.reads.close()
        self._schema_conn.close()

    # ------------------------------------------------------------------ entry points

    async def execute(self, session: Session, sql: str, params: Sequence[Any] = ()) -> list[Result]:
        """Run a (possibly multi-statement) PostgreSQL text; returns one Result per statement.

        Several statements outside an explicit transaction run as one implicit transaction,
        as PostgreSQL's simple query protocol does."""
        statements = translate(sql)
        if len(statements) > 1 and session.txn is None and not any(
            t.kind is StatementKind.TRANSACTION for t in statements
        ):
            return await self._implicit_transaction(session, statements, params)
        return [await self.run(session, t, params) for t in statements]

    async def run(self, session: Session, t: Translated, params: Sequence[Any] = (),
                  timeout: float | None = None) -> Result:
        """Run one translated statement with the client's $n values (``timeout``: the
        session's statement_timeout, for what `run_now` runs)."""
        try:
            result = self.run_now(session, t, params, timeout)
            if result is not None:
                return result
            match t.kind:
                case StatementKind.TRANSACTION:
                    return await self._transaction_control(session, t)
                case StatementKind.READ:
                    return await self._read(session, t, _values(params))
                case StatementKind.WRITE | StatementKind.DDL:
                    return await self._write(session, t, _values(params))
        except NodeError as exc:
            raise SqlError(exc.sqlstate, exc.message) from None
        raise AssertionError(f"unhandled statement kind {t.kind}")

    def run_now(self, session: Session, t: Translated, params: Sequence[Any],
                timeout: float | None = None) -> Result | None:
        """`run` of a statement that needs no wait, done at once; None when it must wait (a
        write or COMMIT goes through Raft; a read or BEGIN may wait for its read index; a read
        may be too long for the event loop). Then nothing was done, and the caller awaits
        `run`.

        What is done at once: a statement inside a transaction (it runs on the
        transaction's own connection, docs/transactions.md), BEGIN and a read outside one
        while `RaftNode.read_index_now` answers (the lease holds) and the node has applied
        the session's own writes, and the statements that touch no data. Why: a prepared
        point read and six of pgbench's seven statements per transaction are answered
        without a coroutine (PgSession._run_now; issue 8)."""
        kind = t.kind
        if kind is StatementKind.TRANSACTION:
            return self._transaction_control_now(session, t)
        if kind is StatementKind.SESSION:
            return self._session_statement(session, t)
        if kind is StatementKind.FORBIDDEN:
            raise SqlError("42501", f"{t.command_tag} is not allowed")
        if kind is StatementKind.READ:
            if _is_virtual(t.original or t.sql):
                return self._virtual_read(t, _values(params))
            if session.txn is None:
                return self._read_now(session, t, params)
        elif session.txn is None:
            return None
        elif session.txn_read_only:
            raise SqlError("25006", "cannot execute a write in a read-only transaction")
        return self._in_transaction(session, t, _values(params), timeout)

    # ------------------------------------------------------------------ reads

    def _read_now(self, session: Session, t: Translated, params: Sequence[Any]) -> Result | None:
        """A read outside a transaction, at once when its read index is known and the node has
        applied what the session needs, and it is short (ReadPool.query_inline)."""
        level = session.read_level
        node = self.node
        if node.read_index_now(level) is None or node.reads.applied < self._floor(session):
            return None
        result = self._query_inline(t, _values(params))
        if result is not None:
            node.count_served_read(level)
        return result

    def _floor(self, session: Session) -> int:
        """The index the session's reads must see: its own last write, or more if it asked
        (raftsql.min_applied_index)."""
        floor = session.last_write_index
        wanted = session.settings["raftsql.min_applied_index"]
        if wanted != "0":  # the default: skip parsing it on every read
            floor = max(int(wanted), floor)
        return floor

    async def read_barrier(self, session: Session) -> int:
        index = await self.node.read_barrier(session.read_level)
        floor = self._floor(session)
        if self.node.reads.applied < floor:
            try:
                await self.node.wait_applied(floor, self.node.cfg.read_timeout)
            except TimeoutError:
                raise SqlError("57P03", f"this node has not applied index {floor} yet") from None
        return index

    async def _read(self, session: Session, t: Translated, values: list[Any]) -> Result:
        await self.read_barrier(session)
        result = self._query_inline(t, values)
        if result is None:  # long, or every pooled connection busy: off the event loop
            sql, bound = self._read_sql(t, values)
            qr = await asyncio.to_thread(self.reads.query, sql, bound,
                                         applied=self.node.reads.applied)
            result = Result(_tag(t, len(qr.rows)), qr.columns, qr.rows, len(qr.rows),
                            index=qr.applied_index)
        return result

    def _query_inline(self, t: Translated, values: list[Any]) -> Result | None:
        """The read on the event loop (ReadPool.query_inline), once the node has applied what
        it needs; None when it must run on a thread. The applied index is reported as a lower
        bound rather than paying for a transaction that reads the exact one (sql/reads.py)."""
        sql, bound = self._read_sql(t, values)
        qr = self.reads.query_inline(sql, bound, self.node.reads.applied)
        if qr is None:
            return None
        return Result(_tag(t, len(qr.rows)), qr.columns, qr.rows, len(qr.rows),
                      index=qr.applied_index)

    def _read_sql(self, t: Translated, values: list[Any]) -> tuple[str, tuple[Any, ...]]:
        sql, bound = self._fix(t, values)  # a read's fix never needs the schema it is given
        return sql, tuple(bound)

    # ------------------------------------------------------------------ writes

    def _fix(self, t: Translated, values: list[Any],
             txn: Transaction | None = None) -> tuple[str, list[Any]]:
        """``fix_nondeterminism`` against the schema the statement runs on. Once ``txn``
        changed the schema (a migration creating a table, then its trigger or first rows),
        that is the tables as the transaction has them; otherwise the leader's memo of the
        committed schema. Neither is looked at for a statement with nothing to fix: the
        transaction's view replays every write it made."""
        if fixes_nothing(t):
            return t.sql, bind(t, values)
        schema: SchemaInfo = (SqliteSchemaInfo(txn.schema_view())
                              if txn is not None and txn.changed_schema
                              else self._schema.current(self.sm.db.schema_generation))
        if fixes_nothing(t, schema):  # an INSERT with nothing to complete
            return t.sql, bind(t, values)
        return fix_nondeterminism(t, values, now=dt.datetime.now(dt.UTC), rng=self._rng,
                                  schema=schema)

    async def _write(self, session: Session, t: Translated, values: list[Any]) -> Result:
        if _read_only_by_default(session):  # default_transaction_read_only, outside a block
            raise SqlError("25006", "cannot execute a write in a read-only transaction")
        sql, bound = self._fix(t, values)
        index, results = await self._propose(
            session, command.Command((command.Stmt(sql, tuple(bound)),)))
        r = results[-1]
        return Result(_tag(t, r.rowcount), r.columns, r.rows, r.rowcount, r.lastrowid, index)

    async def _implicit_transaction(self, session: Session, statements: list[Translated],
                                    params: Sequence[Any]) -> list[Result]:
        if all(t.kind is StatementKind.READ for t in statements):
            return [await self.run(session, t, params) for t in statements]
        await self._begin(session, read_only=None)
        try:
            out = [await self.run(session, t, params) for t in statements]
        except BaseException:
            self._end(session)
            raise
        await self._commit(session)
        return out

    # ------------------------------------------------------------------ implicit transactions

    async def begin_implicit(self, session: Session) -> None:
        """Open the implicit transaction a frontend needs around several statements of one
        message (simple query, COPY batches); end it with commit_implicit/abort_implicit."""
        await self._begin(session, read_only=None)

    async def commit_implicit(self, session: Session) -> int:
        return await self._commit(session)

    def abort_implicit(self, session: Session) -> None:
        self._end(session)

    # ------------------------------------------------------------------ transactions

    # A transaction's statements run on the event loop's thread, as the apply does, so its
    # live writes and the apply's never interleave (txn.py).

    async def _begin(self, session: Session, read_only: bool | None) -> None:
        if not self._begin_now(session, read_only):
            await self.read_barrier(session)
            self._open_transaction(session, read_only)

    def _begin_now(self, session: Session, read_only: bool | None) -> bool:
        """Open the session's transaction if its read index is known now (as `_read_now`)."""
        level = session.read_level
        if (self.node.read_index_now(level) is None
                or self.node.reads.applied < self._floor(session)):
            return False
        self.node.count_served_read(level)
        self._open_transaction(session, read_only)
        return True

    def _open_transaction(self, session: Session, read_only: bool | None) -> None:
        session.txn = Transaction(self.sm.path)
        session.txn_read_only = _read_only_by_default(session) if read_only is None else read_only
        session.settings_at_begin = dict(session.settings)
        session.settings_after_commit = {}

    def _close(self, session: Session) -> None:
        """Close the open transaction (its settings are settled by the caller)."""
        if session.txn is not None:
            session.txn.rollback()
        session.txn = None
        session.txn_read_only = False

    def _end(self, session: Session) -> None:
        """End the open transaction without committing it: its settings are undone."""
        self._close(session)
        _settle_settings(session, committed=False)

    async def _commit(self, session: Session) -> int:
        txn = session.txn
        assert txn is not None
        failed = txn.state is TxnState.FAILED
        try:
            cmd = txn.commit()
        except BaseException:
            self._end(session)
            raise
        self._close(session)  # its settings stay the transaction's until the outcome is known
        if cmd is None:
            _settle_settings(session, committed=not failed)
            return 0
        try:
            index = (await self._propose(session, cmd))[0]
        except BaseException:
            _settle_settings(session, committed=False)
            raise
        _settle_settings(session, committed=True)
        return index

    async def _propose(self, session: Session,
                       cmd: command.Command) -> tuple[int, list[command.StmtResult]]:
        """Propose the session's next request and wait for it to apply: (index, results),
        raising the first statement error. The request carries this node's applied index, a
        lower bound of its log index, when its session may expire."""
        if session.expires:
            cmd.proposed_at = max(1, self.sm.db.applied_index)
        data = command.encode(cmd)
        if self.node.is_leader():
            self.sm.db.note_proposed(data, cmd)
        index, results = await self.node.propose_indexed(
            data, session.client_id, session.next_seq())
        session.last_write_index = index
        _raise_if_failed(results)
        return index, results

    def _in_transaction(self, session: Session, t: Translated, values: list[Any],
                        timeout: float | None = None) -> Result:
        txn = session.txn
        assert txn is not None
        sql, bound = self._fix(t, values, txn)
        r = txn.execute(sql, tuple(bound), timeout)
        return Result(_tag(t, r.rowcount), r.columns, r.rows, r.rowcount, r.lastrowid)

    def _transaction_control_now(self, session: Session, t: Translated) -> Result | None:
        """Transaction control but for what must wait: BEGIN until its read index is known
        (`_begin_now`), COMMIT of an open transaction (`_transaction_control`)."""
        action = t.txn
        assert action is not None
        match action.action:
            case "begin":
                if session.txn is None and not self._begin_now(session, action.read_only):
                    return None
                return Result(t.command_tag)
            case "commit":
                if session.txn is None:
                    return Result(t.command_tag)  # PostgreSQL warns and does nothing
                return None
            case "rollback":
                self._end(session)
                return Result(t.command_tag)
            case "savepoint" | "release" | "rollback_to":
                if session.txn is None:
                    raise SqlError("25P01", f"{t.command_tag} can only be used in transaction blocks")
                assert action.name is not None
                getattr(session.txn, action.action)(action.name)
                return Result(t.command_tag)
            case "set_transaction":
                if action.read_only is not None and session.txn is not None:
                    session.txn_read_only = action.read_only
                return Result(t.command_tag)
        raise SqlError("0A000", f"{t.command_tag} is not supported")

    async def _transaction_control(self, session: Session, t: Translated) -> Result:
        """What `_transaction_control_now` left: BEGIN that waits for its read index, COMMIT."""
        action = t.txn
        assert action is not None
        if action.action == "begin":
            await self._begin(session, read_only=action.read_only)
            return Result(t.command_tag)
        assert action.action == "commit" and session.txn is not None
        failed = session.txn.state is TxnState.FAILED
        index = await self._commit(session)
        return Result("ROLLBACK" if failed else t.command_tag, index=index)

    # ------------------------------------------------------------------ session statements

    def show(self, session: Session, name: str) -> str:
        name = name.lower()
        if name == "transaction_read_only":
            if not self.node.is_leader():
                return "on"  # a follower answers as a standby does (libpq target_session_attrs)
            if session.txn is not None:
                return "on" if session.txn_read_only else "off"
            return session.settings["default_transaction_read_only"]
        if name == "raftsql.applied_index":
            return str(self.node.reads.applied)
        if name == "raftsql.commit_index":
            st = self.node.status_snapshot
            return str(st.commit if st else 0)
        if name == "raftsql.node_id":
            return str(self.node.id)
        if name in session.settings:
            return session.settings[name]
        raise SqlError("42704", f'unrecognized configuration parameter "{name}"')

    def set(self, session: Session, name: str, value: str | None, local: bool = False) -> None:
        """SET (value None: RESET) of one setting. Inside a transaction block the change is
        the transaction's until it ends (`_settle_settings`); SET LOCAL outside one does
        nothing (the frontend warns, as PostgreSQL does)."""
        name = name.lower()
        if name.startswith("raftsql.") and name not in RAFTSQL_SETTINGS:
            raise SqlError("42602", f'invalid configuration parameter name "{name}"',
                           detail='"raftsql" is a reserved prefix.')
        if value is None:
            value = SESSION_DEFAULTS.get(name, "")
        elif name == "default_transaction_read_only":
            if value.lower() not in _BOOLEANS:
                raise SqlError("22023", f'parameter "{name}" requires a Boolean value')
            value = _BOOLEANS[value.lower()]
        if name == "raftsql.read_consistency" and value not in READ_LEVELS:
            raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"',
                           hint="one of " + ", ".join(READ_LEVELS))
        if name in ("raftsql.min_applied_index", "raftsql.request_id") and not value.isdigit():
            raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"')
        if name == "raftsql.client_id" and not 0 < len(value) <= 64:
            raise SqlError("22023", "raftsql.client_id must be 1 to 64 characters")
        if local or session.txn is not None:
            if session.txn is None:
                return
            if local:
                session.settings_after_commit.setdefault(name, session.settings.get(name))
            else:
                session.settings_after_commit.pop(name, None)
        if name in ("raftsql.client_id", "raftsql.request_id"):
            session.expires = False
        if name == "raftsql.client_id":
            session.client_id = b"c:" + value.encode()
        session.settings[name] = value

    def _session_statement(self, session: Session, t: Translated) -> Result:
        action = t.session
        assert action is not None
        match action.action:
            case "show":
                assert action.name is not None
                value = self.show(session, action.name)
                return Result("SHOW", ((action.name.lower(), "text"),), ((value,),), 1)
            case "set":
                assert action.name is not None
                self.set(session, action.name, action.value, local=action.local)
            case "reset":
                assert action.name is not None
                self.set(session, action.name, None)
            case "reset_all" | "discard_all":
                session.settings = dict(SESSION_DEFAULTS)
        return Result(t.command_tag)

    # ------------------------------------------------------------------ raftsql_* views

    def _raftsql_tables(self) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        """The views' columns (with their types, so that clients get int8 and bool) and rows."""
        d = self.node.describe()
        status_names = ["node_id", "role", "term", "leader_id", "commit_index", "applied_index",
                        "lease_remaining_ms", "first_index", "last_index", "snapshot_index"]
        status_cols = [f"{c} {'TEXT' if c == 'role' else 'BIGINT'}" for c in status_names]
        status = [tuple(d[c] for c in status_names)]
        node_cols = ["node_id BIGINT", "suffrage TEXT", "address TEXT", "is_leader BOOLEAN",
                     "match_index BIGINT", "lag BIGINT"]
        nodes = []
        for nid in sorted(set(d["voters"]) | set(d["learners"])):
            peer = d["peers"].get(str(nid), {})
            addr = self.node.member_address(nid)
            nodes.append((nid, "learner" if nid in d["learners"] else "voter",
                          f"{addr[0]}:{addr[1]}" if addr else None, nid == d["leader_id"],
                          peer.get("match"), peer.get("lag")))
        return {"raftsql_status": (status_cols, status), "raftsql_nodes": (node_cols, nodes)}

    def _virtual_read(self, t: Translated, values: list[Any]) -> Result:
        """Answer from the node's own state through a scratch in-memory SQLite, so any
        SELECT shape (WHERE, column lists, joins between the two) works."""
        conn = apsw.Connection(":memory:")
        try:
            for name, (cols, table_rows) in self.virtual_tables().items():
                conn.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
                if table_rows:
                    marks = ", ".join("?" * len(cols))
                    conn.executemany(f"INSERT INTO {name} VALUES ({marks})", table_rows)
            cur = conn.execute(t.sql, tuple(values))
            try:
                columns = tuple((name, decl) for name, decl in cur.get_description())
            except apsw.ExecutionCompleteError:
                columns = ()
            rows = tuple(tuple(r) for r in cur)
        except apsw.Error as exc:
            raise SqlError("42601", str(exc)) from None
        finally:
            conn.close()
        return Result(_tag(t, len(rows)), columns, rows, len(rows))
