"""One client connection: startup, authentication, simple and extended query, COPY, cursors.

Why one object per connection: the protocol is a conversation whose state (prepared
statements, portals, the transaction, a COPY in progress) belongs to that connection only. The
bytes are framed and checked by `raftsql.pgwire.ServerConnection`; SQL runs through the node's
`Database`. This class is the short loop in between (STYLE.md rule 5): read bytes, take events,
answer them, and flush what is pending before waiting for the client again, which is when
PostgreSQL flushes too (so Flush, pipelining and Sync need no special path).

Sources: PostgreSQL 15 docs 55.2 (message flow) and 55.7 (formats); PGWIRE.md sections 0-8.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from raftsql import pgwire as pw
from raftsql.node.errors import NodeError
from raftsql.pgwire import oids as o
from raftsql.pgwire.auth import ScramServer, check_cleartext, check_md5
from raftsql.pgwire.errors import ProtocolError
from raftsql.server import answers, inference, rewrites
from raftsql.server import copy as copyfmt
from raftsql.server.inference import Column
from raftsql.server.portal import Portal, Prepared, encode_rows, fill_types, row_description
from raftsql.server.values import param_value
from raftsql.sql.classify import StatementKind
from raftsql.sql.errors import SqlError
from raftsql.sql.rewrite.scan import split
from raftsql.sql.translate import translate
from raftsql.sql.txn import TxnState

if TYPE_CHECKING:
    from raftsql.server.frontend import PgFrontend

log = logging.getLogger("raftsql.server.session")
T = TypeVar("T")

# Reported at startup (PGWIRE.md 1.4, PostgreSQL 15's list of GUC_REPORT parameters).
REPORTED = ("application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
            "in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser",
            "server_encoding", "server_version", "session_authorization",
            "standard_conforming_strings", "TimeZone")
_REPORTED_LOWER = {name.lower(): name for name in REPORTED}
PG_SETTINGS = {
    "server_version": answers.SERVER_VERSION, "server_version_num": "150006",
    "server_encoding": "UTF8", "client_encoding": "UTF8", "datestyle": "ISO, MDY",
    "intervalstyle": "postgres", "timezone": "UTC", "integer_datetimes": "on",
    "standard_conforming_strings": "on", "transaction_isolation": "serializable",
    "default_transaction_isolation": "serializable", "application_name": "",
    "is_superuser": "off", "search_path": '"$user", public', "max_identifier_length": "63",
    "lc_collate": "C", "lc_ctype": "C", "statement_timeout": "0", "bytea_output": "hex",
    "extra_float_digits": "1", "jit": "off", "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0", "max_connections": "100",
    "default_transaction_deferrable": "off", "transaction_deferrable": "off",
    "synchronous_commit": "on", "client_min_messages": "notice",
}
DATABASES = frozenset({"raftsql", "postgres"})
COPY_BATCH_ROWS = 1000
MAX_PREPARED = 10_000
FLUSH_AT = 256 * 1024

_CURSOR = re.compile(
    r"^\s*DECLARE\s+(?P<name>\"(?:[^\"]|\"\")+\"|\w+)\s+(?P<opts>(?:BINARY\s+|INSENSITIVE\s+|"
    r"ASENSITIVE\s+|NO\s+SCROLL\s+|SCROLL\s+)*)CURSOR\s+(?:(?P<hold>WITH|WITHOUT)\s+HOLD\s+)?"
    r"FOR\s+(?P<query>.*)$", re.IGNORECASE | re.DOTALL)
_FETCH = re.compile(
    r"^\s*(?P<verb>FETCH|MOVE)\s+(?:(?P<dir>NEXT|FORWARD\s+ALL|FORWARD\s+\d+|FORWARD|ALL|\d+)\s+)?"
    r"(?:(?:FROM|IN)\s+)?(?P<name>\"(?:[^\"]|\"\")+\"|\w+)\s*$", re.IGNORECASE)
_CLOSE = re.compile(r"^\s*CLOSE\s+(?P<name>ALL|\"(?:[^\"]|\"\")+\"|\w+)\s*$", re.IGNORECASE)
_TIMEOUT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _ident(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _error(exc: SqlError | ProtocolError, severity: str = "ERROR") -> pw.ErrorResponse:
    if isinstance(exc, ProtocolError):
        return pw.ErrorResponse(severity, exc.sqlstate, str(exc.args[0]) if exc.args else "")
    return pw.ErrorResponse(severity, exc.sqlstate, exc.message, detail=exc.detail,
                            hint=exc.hint, position=exc.position)


class Closed(Exception):
    """The client went away (or sent Terminate): end the session quietly."""


class PgSession:
    """The protocol state machine of one client on top of `pgwire.ServerConnection`."""

    def __init__(self, frontend: PgFrontend, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, pid: int) -> None:
        from raftsql.node.database import Session  # the node's per-client SQL state

        self.fe = frontend
        self.db = frontend.db
        self.reader = reader
        self.writer = writer
        self.conn = pw.ServerConnection(max_message_size=frontend.max_message_size)
        self.dbs = Session()
        self.pid = pid
        self.secret = int.from_bytes(os.urandom(4), "big", signed=True)
        self.user = ""
        self.database = ""
        self.statements: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self._out: list[bytes] = []
        self._out_size = 0
        self._running: asyncio.Task[Any] | None = None
        self._cancel_reason: str | None = None
        self._pipeline_txn = False  # an implicit transaction opened for an extended pipeline
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    # ------------------------------------------------------------------ I/O

    def send(self, message: Any) -> None:
        if isinstance(message, pw.ErrorResponse):
            self.fe.counters.errors_by_sqlstate[message.code] += 1
        data = self.conn.send(message)
        self._out.append(data)
        self._out_size += len(data)

    def send_raw(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    async def flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._out_size = 0
            self.writer.write(data)
            await self.writer.drain()

    async def maybe_flush(self) -> None:
        if self._out_size >= FLUSH_AT:
            await self.flush()

    async def event(self) -> Any:
        """The next frontend message; flushes pending output before blocking on the socket."""
        while True:
            ev = self.conn.next_event()
            if ev is pw.NEED_DATA:
                await self.flush()
                data = await self.reader.read(65536)
                self.conn.receive_data(data)
                continue
            if isinstance(ev, pw.ConnectionClosed):
                raise Closed
            assert ev is not pw.PAUSED, f"paused in phase {self.conn.phase}"
            return ev

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        try:
            if await self.startup():
                await self.loop()
        except Closed:
            pass
        except ProtocolError as exc:
            await self._fatal(exc)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except pw.LocalProtocolError:  # our own out-of-phase send: a bug worth a log line
            log.warning("session %d: protocol state error", self.pid, exc_info=True)
        finally:
            self.cleanup()

    async def _fatal(self, exc: SqlError | ProtocolError) -> None:
        try:
            self.send(_error(exc, "FATAL"))
            await self.flush()
        except (ConnectionError, pw.LocalProtocolError):
            pass

    def cleanup(self) -> None:
        if self.dbs.txn is not None:
            self.db.abort_implicit(self.dbs)
        self.portals.clear()
        self.statements.clear()
        if not self.writer.is_closing():
            self.writer.close()

    def cancel(self) -> None:
        """CancelRequest for this session: interrupt the running statement, if any."""
        task = self._running
        if task is not None and not task.done():
            self._cancel_reason = "user"
            task.cancel()

    # ------------------------------------------------------------------ startup

    async def startup(self) -> bool:
        while True:
            ev = await asyncio.wait_for(self.event(), self.fe.startup_timeout)
            if isinstance(ev, pw.SSLRequest):
                ctx = self.fe.ssl_context
                self.send(pw.SSLResponse(ctx is not None))
                await self.flush()
                if ctx is not None:
                    await self.writer.start_tls(ctx)
            elif isinstance(ev, pw.GSSENCRequest):
                self.send(pw.GSSENCResponse())
            elif isinstance(ev, pw.CancelRequest):
                self.fe.cancel(ev.pid, ev.secret_key)
                return False
            elif isinstance(ev, pw.StartupMessage):
                break
        params = dict(ev.parameters)
        user = params.get("user", "")
        if not user:
            raise ProtocolError("28000", "no PostgreSQL user name specified in startup packet",
                                fatal=True)
        negotiate = self.conn.negotiate_protocol()
        if negotiate is not None:
            self.send(negotiate)
        self.user = user
        self.database = params.get("database") or user
        await asyncio.wait_for(self.authenticate(user), self.fe.startup_timeout)
        if self.database not in DATABASES | self.fe.extra_databases:
            raise ProtocolError("3D000", f'database "{self.database}" does not exist',
                                fatal=True)
        self.apply_startup_settings(params)
        self.send(pw.AuthenticationOk())
        for name in REPORTED:
            self.send(pw.ParameterStatus(name, self.reported_value(name)))
        self.send(pw.BackendKeyData(self.pid, self.secret))
        self.send(pw.ReadyForQuery("I"))
        self.fe.register(self)
        return True

    async def authenticate(self, user: str) -> None:
        users = self.fe.users
        if users.is_trust:
            return
        creds = users.lookup(user)
        method = creds.method if creds is not None else "scram-sha-256"
        if method == "scram-sha-256":
            self.send(pw.AuthenticationSASL(("SCRAM-SHA-256",)))
            first = await self.event()
            if not isinstance(first, pw.SASLInitialResponse) or first.mechanism != "SCRAM-SHA-256":
                raise ProtocolError("08P01", "client selected an invalid SASL authentication "
                                    "mechanism", fatal=True)
            scram = ScramServer(user, creds.scram if creds is not None else None)
            self.send(pw.AuthenticationSASLContinue(scram.client_first(first.data)))
            final = await self.event()
            assert isinstance(final, pw.SASLResponse)
            self.send(pw.AuthenticationSASLFinal(scram.client_final(final.data)))
            return
        salt = os.urandom(4)
        self.send(pw.AuthenticationMD5Password(salt) if method == "md5"
                  else pw.AuthenticationCleartextPassword())
        answer = await self.event()
        assert isinstance(answer, pw.PasswordMessage) and creds is not None
        ok = (check_md5(answer.password, creds.md5 or "", salt) if method == "md5"
              else check_cleartext(answer.password, creds.password or ""))
        if not ok:
            raise pw.ProtocolError("28P01", f'password authentication failed for user "{user}"',
                                   fatal=True)

    def apply_startup_settings(self, params: dict[str, str]) -> None:
        settings: dict[str, str] = {}
        for key, value in params.items():
            if key in ("user", "database", "options", "replication", "client_encoding"):
                continue
            settings[key] = value
        for m in re.finditer(r"(?:-c\s*|--)([\w.]+)=((?:\\.|\S)*)", params.get("options", "")):
            settings[m.group(1)] = m.group(2).replace("\\ ", " ")
        for key, value in settings.items():
            try:
                self.db.set(self.dbs, key, value)
            except SqlError as exc:
                raise ProtocolError(exc.sqlstate, exc.message, fatal=True) from None

    def reported_value(self, name: str) -> str:
        lower = name.lower()
        if lower in ("default_transaction_read_only", "in_hot_standby"):
            return "off" if self.db.node.is_leader() else "on"
        if lower == "session_authorization":
            return self.user
        if lower in ("client_encoding", "server_encoding"):
            return "UTF8"
        if lower in self.dbs.settings and lower not in ("datestyle", "timezone",
                                                          "intervalstyle"):
            return self.dbs.settings[lower]
        return PG_SETTINGS.get(lower, "")

    def show(self, name: str) -> str:
        lower = name.lower()
        if lower in ("default_transaction_read_only", "in_hot_standby"):
            return "off" if self.db.node.is_leader() else "on"
        try:
            return self.db.show(self.dbs, lower)
        except SqlError:
            if lower == "session_authorization":
                return self.user
            if lower in PG_SETTINGS:
                return PG_SETTINGS[lower]
            raise

    def context(self) -> answers.Context:
        return answers.Context(self.user, self.database, self.db.node.is_leader, self.show,
                               self.pid, extra={"db": self.db, "session": self.dbs})

    # ------------------------------------------------------------------ main loop

    async def loop(self) -> None:
        while True:
            try:
                ev = await self.event()
            except ProtocolError as exc:
                if exc.fatal:
                    raise
                self.send(_error(exc))
                if exc.message_type is not None and exc.message_type in "PBDECSH":
                    self.conn.skip_until_sync()
                    if self._pipeline_txn:
                        self._pipeline_txn = False
                        self.db.abort_implicit(self.dbs)
                    self._fail_txn()
                else:
                    self._ready()
                continue
            if isinstance(ev, pw.Terminate):
                return
            await self.dispatch(ev)
            await self.maybe_flush()

    async def dispatch(self, ev: Any) -> None:
        if isinstance(ev, pw.Query):
            await self.simple_query(ev.sql)
            return
        if isinstance(ev, pw.Sync):
            await self._end_pipeline()
            self._ready()
            return
        if isinstance(ev, pw.Flush):
            await self.flush()
            return
        try:
            if isinstance(ev, pw.Parse):
                await self.parse(ev)
            elif isinstance(ev, pw.Bind):
                self.bind(ev)
            elif isinstance(ev, pw.Describe):
                await self.describe(ev)
            elif isinstance(ev, pw.Execute):
                await self.execute(ev)
            elif isinstance(ev, pw.Close):
                if ev.kind == "S":
                    self.statements.pop(ev.name, None)
                else:
                    self.portals.pop(ev.name, None)
                self.send(pw.CloseComplete())
            elif isinstance(ev, pw.FunctionCall):
                raise SqlError("0A000", "the fast-path function call interface is not supported")
            # stray CopyData/CopyDone/CopyFail after a failed COPY are dropped by the codec
        except Closed:
            raise
        except Exception as exc:  # noqa: BLE001 (any statement failure is the client's error)
            self.send(_error(self._as_error(exc)))
            if self._pipeline_txn:
                self._pipeline_txn = False
                self.db.abort_implicit(self.dbs)
            self._fail_txn()
            self.conn.skip_until_sync()

    async def _maybe_begin_pipeline(self, stmt: Prepared) -> None:
        """Statements between two Syncs are one implicit transaction (55.2.3): open one when
        a write is executed outside a block and more messages than a Sync are already queued
        behind it (psycopg/asyncpg executemany, pipelines). A lone write stays a single
        proposal. A BEGIN inside the pipeline turns it into the client's own block."""
        t = stmt.translated
        if t is None:
            return
        if self._pipeline_txn and t.kind is StatementKind.TRANSACTION:
            self._pipeline_txn = False
            return
        if (not self._pipeline_txn and self.dbs.txn is None and stmt.kind == "sql"
                and t.kind in (StatementKind.WRITE, StatementKind.DDL)
                and self.conn.buffered > 5):
            await self.guarded(self.db.begin_implicit(self.dbs), may_write=False)
            self._pipeline_txn = True

    async def _end_pipeline(self) -> None:
        if not self._pipeline_txn:
            return
        self._pipeline_txn = False
        if self.dbs.txn is None:
            return
        try:
            await self.guarded(self.db.commit_implicit(self.dbs), may_write=True)
        except Closed:
            raise
        except Exception as exc:  # noqa: BLE001
            self.send(_error(self._as_error(exc)))

    def _as_error(self, exc: Exception) -> SqlError | ProtocolError:
        """The ErrorResponse for a failed statement: SQL and node errors keep their SQLSTATE
        (ARCHITECTURE.md errors contract); a fatal protocol error ends the session; anything
        else is a server bug, logged and reported as XX000 without ending the session."""
        if isinstance(exc, ProtocolError):
            if exc.fatal:
                raise exc
            return exc
        if isinstance(exc, SqlError):
            return exc
        if isinstance(exc, NodeError):
            return SqlError(exc.sqlstate, exc.message)
        log.exception("session %d: internal error", self.pid)
        return SqlError("XX000", f"internal error: {type(exc).__name__}: {exc}")

    def _ready(self) -> None:
        status = self.dbs.status
        if status == "I":
            for name in [n for n, p in self.portals.items() if not p.holdable]:
                del self.portals[name]
        self.send(pw.ReadyForQuery(status))

    def _fail_txn(self) -> None:
        txn = self.dbs.txn
        if txn is not None and txn.state is TxnState.OPEN:
            txn.state = TxnState.FAILED

    # ------------------------------------------------------------------ running statements

    def _statement_timeout(self) -> float | None:
        raw = self.dbs.settings.get("statement_timeout", "0")
        m = _TIMEOUT.match(raw)
        if m is None:
            return None
        ms = float(m.group(1)) * _UNIT_MS[(m.group(2) or "ms").lower()]
        return ms / 1000 if ms > 0 else None

    async def guarded(self, work: Awaitable[T], *, may_write: bool) -> T:
        """Run one statement so that CancelRequest and statement_timeout can stop it.

        A stopped write may still commit (it was proposed): that is 40003, not 57014
        (ARCHITECTURE.md, errors contract)."""
        self._cancel_reason = None
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._running = task
        timeout = self._statement_timeout()
        timer = None
        if timeout is not None:
            def expire() -> None:
                if not task.done():
                    self._cancel_reason = "timeout"
                    task.cancel()
            timer = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            return await task
        except asyncio.CancelledError:
            reason = self._cancel_reason
            if reason is None or not task.cancelled():
                raise
            why = "statement timeout" if reason == "timeout" else "user request"
            if may_write:
                raise SqlError("40003", f"canceling statement due to {why}",
                               detail="The write was proposed and may still commit.") from None
            raise SqlError("57014", f"canceling statement due to {why}") from None
        finally:
            if timer is not None:
                timer.cancel()
            self._running = None

    def _schema(self, table: str) -> dict[str, str | None]:
        txn = self.dbs.txn
        found = self.fe.describer.table_columns(table)
        if not found and txn is not None:
            found = self.fe.describer.table_columns(table, txn._conn)  # noqa: SLF001
        return found

    async def prepare(self, sql: str, client_oids: Sequence[int] = ()) -> Prepared:
        pieces = split(sql)
        if not pieces:
            return Prepared(sql, "empty")
        if len(pieces) > 1:
            raise SqlError("42601", "cannot insert multiple commands into a prepared statement")
        expanded = rewrites.expand(pieces[0].original)
        if len(expanded) > 1:
            subs = [await self.prepare(part, client_oids) for part in expanded]
            return Prepared(pieces[0].original, "multi", subs=subs,
                            translated=subs[-1].translated)
        text = expanded[0]
        spec = copyfmt.parse(text)
        if spec is not None:
            return Prepared(text, "copy", copy=spec)
        if _CURSOR.match(text) or _FETCH.match(text) or _CLOSE.match(text):
            return await self._prepare_cursor(text)
        found = answers.answer(text, self.context()) if answers.handles(text) else None
        if found is not None:
            known = answers.param_oids(text)
            nparams = max(pieces[0].nparams, len(client_oids), len(known or ()))
            params = inference.infer_params(inference.parse(text), nparams, client_oids,
                                            self._schema)
            if known is not None and len(known) == nparams:
                # ours where we found a type (casts, client OIDs), the catalog's elsewhere
                params = tuple(k if p == o.TEXT else p
                               for p, k in zip(params, known, strict=True))
            return Prepared(text, "answer", params=params, columns=found.columns, answer=found,
                            fresh=not params)
        t = translate(text)[0]
        tree = inference.parse(text)
        nparams = max(t.nparams, len(client_oids))
        params = inference.infer_params(tree, nparams, client_oids, self._schema)
        stmt = Prepared(text, "sql", params=params, translated=t, tree=tree)
        if t.kind is StatementKind.SESSION and t.session is not None and (
                t.session.action == "show"):
            stmt.columns = (Column((t.session.name or "").lower(), o.TEXT),)
        elif t.returns_rows:
            stmt.columns = await self._describe_sql(stmt)
        return stmt

    async def _describe_sql(self, stmt: Prepared) -> tuple[Column, ...] | None:
        t = stmt.translated
        assert t is not None
        try:
            desc = self.fe.describer.columns(t.sql, len(t.param_order))
        except SqlError:
            txn = self.dbs.txn
            desc = None
            if txn is not None:
                try:
                    desc = self.fe.describer.columns(t.sql, len(t.param_order), txn._conn)  # noqa: SLF001
                except SqlError:
                    desc = None
            if desc is None:
                if t.kind is not StatementKind.READ:
                    raise
                # e.g. raftsql_status: a read has no side effects, so run it to learn its shape
                result = await self.guarded(
                    self.db.run(self.dbs, t, [None] * t.nparams), may_write=False)
                desc = result.columns
                cols = inference.describe_columns(stmt.tree, desc, stmt.params, self._schema)
                return fill_types(cols, result.rows)
        return inference.describe_columns(stmt.tree, desc, stmt.params, self._schema)

    async def _prepare_cursor(self, text: str) -> Prepared:
        m = _CURSOR.match(text)
        if m is not None:
            inner = await self.prepare(m.group("query"))
            if inner.kind != "sql" or not inner.returns_rows:
                raise SqlError("42601", "DECLARE CURSOR needs a query that returns rows")
            return Prepared(text, "cursor", params=inner.params, tree=inner.tree,
                            translated=inner.translated, columns=None,
                            answer=answers.Answer(inner.columns or (), [], "DECLARE CURSOR"))
        return Prepared(text, "cursor")

    async def run_portal(self, portal: Portal) -> None:
        """Execute the portal's statement once; rows are kept for Execute/FETCH."""
        stmt = portal.stmt
        portal.executed = True
        self._check_not_aborted(stmt)
        if stmt.kind == "multi":
            for sub in stmt.subs:
                part = Portal(sub, portal.params)
                await self.run_portal(part)
                portal.tag = part.tag
            return
        if stmt.kind == "answer":
            found = stmt.answer if stmt.fresh else None
            stmt.fresh = False
            if found is None:
                found = answers.answer(stmt.sql, self.context(), portal.params)
            if found is None:
                raise SqlError("XX000", "the answer to this statement went away")
            portal.columns, portal.rows, portal.tag = stmt.columns, found.rows, "SELECT"
            return
        if stmt.kind == "cursor":
            await self.run_cursor(stmt, portal)
            return
        t = stmt.translated
        assert t is not None
        may_write = t.kind in (StatementKind.WRITE, StatementKind.DDL) and self.dbs.txn is None
        if t.txn is not None and t.txn.action == "commit":
            may_write = True
        if t.session is not None:
            await self._session_statement(portal)
            return
        if t.txn is not None:
            self._transaction_notice(t.txn.action)
        result = await self.guarded(self.db.run(self.dbs, t, portal.params), may_write=may_write)
        portal.tag = result.command_tag
        if stmt.returns_rows or result.columns:
            cols = stmt.columns
            if cols is None or not stmt.described:
                cols = inference.describe_columns(stmt.tree, result.columns, stmt.params,
                                                  self._schema)
                if stmt.columns is not None and len(stmt.columns) == len(cols):
                    cols = tuple(c if c.oid is not None else d
                                 for c, d in zip(stmt.columns, cols, strict=True))
            portal.columns = fill_types(cols, result.rows)
            portal.rows = result.rows
            word = portal.tag.split(" ", 1)[0]
            if word in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                portal.tag = word  # the count is of the rows sent (_send_portal)

    def _check_not_aborted(self, stmt: Prepared) -> None:
        """In a failed block only ROLLBACK [TO SAVEPOINT] and COMMIT run (25P02)."""
        if self.dbs.status != "E":
            return
        t = stmt.translated
        if stmt.kind == "sql" and t is not None and t.txn is not None and t.txn.action in (
                "rollback", "rollback_to", "commit"):
            return
        raise SqlError("25P02", "current transaction is aborted, commands ignored until end "
                       "of transaction block")

    def _transaction_notice(self, action: str) -> None:
        """PostgreSQL's WARNINGs for BEGIN inside and COMMIT/ROLLBACK outside a block."""
        inside = self.dbs.txn is not None
        if action == "begin" and inside:
            self.send(pw.NoticeResponse("WARNING", "25001",
                                        "there is already a transaction in progress"))
        elif action in ("commit", "rollback") and not inside:
            self.send(pw.NoticeResponse("WARNING", "25P01",
                                        "there is no transaction in progress"))

    async def _session_statement(self, portal: Portal) -> None:
        t = portal.stmt.translated
        assert t is not None and t.session is not None
        action = t.session
        if action.action == "show":
            name = action.name or ""
            portal.columns = (Column(name.lower(), o.TEXT),)
            portal.rows = [(self.show(name),)]
            portal.tag = "SHOW"
            return
        if action.action in ("deallocate", "deallocate_all"):
            if action.action == "deallocate_all":
                self.statements.clear()
            elif self.statements.pop(action.name or "", None) is None:
                raise SqlError("26000", f'prepared statement "{action.name}" does not exist')
            portal.tag = t.command_tag
            return
        result = await self.db.run(self.dbs, t, portal.params)
        portal.tag = result.command_tag
        if action.action == "discard_all":
            self.statements.clear()
            self.portals = {k: v for k, v in self.portals.items() if v is portal}
        if action.action == "set" and action.name:
            canonical = _REPORTED_LOWER.get(action.name.lower())
            if canonical is not None:
                self.send(pw.ParameterStatus(canonical, self.reported_value(canonical)))

    async def run_cursor(self, stmt: Prepared, portal: Portal) -> None:
        text = stmt.sql
        m = _CURSOR.match(text)
        if m is not None:
            name = _ident(m.group("name"))
            hold = (m.group("hold") or "").upper() == "WITH"
            if self.dbs.txn is None and not hold:
                raise SqlError("25P01", "DECLARE CURSOR can only be used in transaction blocks")
            if name in self.portals:
                raise SqlError("42P03", f'cursor "{name}" already exists')
            inner = Prepared(m.group("query"), "sql", params=stmt.params, tree=stmt.tree,
                             translated=stmt.translated,
                             columns=stmt.answer.columns if stmt.answer else None)
            binary = "BINARY" in m.group("opts").upper()
            cursor = Portal(inner, portal.params, (1,) if binary else (), holdable=hold)
            await self.run_portal(cursor)
            self.portals[name] = cursor
            portal.tag = "DECLARE CURSOR"
            return
        m = _CLOSE.match(text)
        if m is not None:
            if m.group("name").upper() == "ALL":
                self.portals = {k: v for k, v in self.portals.items() if not k}
                portal.tag = "CLOSE CURSOR ALL"
                return
            name = _ident(m.group("name"))
            if self.portals.pop(name, None) is None:
                raise SqlError("34000", f'cursor "{name}" does not exist')
            portal.tag = "CLOSE CURSOR"
            return
        m = _FETCH.match(text)
        assert m is not None
        name = _ident(m.group("name"))
        cursor = self.portals.get(name)
        if cursor is None:
            raise SqlError("34000", f'cursor "{name}" does not exist')
        direction = " ".join((m.group("dir") or "NEXT").upper().split())
        count = -1 if direction in ("ALL", "FORWARD ALL") else 1 if direction in (
            "NEXT", "FORWARD") else int(direction.split()[-1])
        rows = cursor.take(count if count >= 0 else 0)
        verb = m.group("verb").upper()
        portal.tag = f"{verb} {len(rows)}"
        if verb == "FETCH":
            portal.columns = cursor.columns
            portal.rows = list(rows)
            portal.extra["formats"] = cursor.formats()

    # ------------------------------------------------------------------ simple query

    async def simple_query(self, sql: str) -> None:
        try:
            pieces = split(sql)
        except SqlError as exc:
            self.send(_error(exc))
            self._fail_txn()
            self._ready()
            return
        if not pieces:
            self.send(pw.EmptyQueryResponse())
            self._ready()
            return
        implicit = False
        try:
            # Parse everything first (a syntax error anywhere runs nothing), but analyse each
            # statement just before it runs: it may use a table an earlier one creates.
            kinds = [self._kind(p.original) for p in pieces]
            implicit = (len(pieces) > 1 and self.dbs.txn is None
                        and StatementKind.TRANSACTION not in kinds
                        and any(k in (StatementKind.WRITE, StatementKind.DDL) for k in kinds)
                        and "copy" not in kinds)
            if implicit:
                await self.guarded(self.db.begin_implicit(self.dbs), may_write=False)
            for piece in pieces:
                await self._simple_one(await self.prepare(piece.original))
                await self.maybe_flush()
            if implicit:
                implicit = False
                await self.guarded(self.db.commit_implicit(self.dbs), may_write=True)
        except Closed:
            raise
        except Exception as exc:  # noqa: BLE001
            error = self._as_error(exc)
            if implicit:
                self.db.abort_implicit(self.dbs)
            self.send(_error(error))
            self._fail_txn()
        self._ready()

    def _kind(self, text: str) -> StatementKind | str:
        """What a statement is, without analysing it against the schema."""
        expanded = rewrites.expand(text)
        first = expanded[0]
        if copyfmt.parse(first) is not None:
            return "copy"
        if _CURSOR.match(first) or _FETCH.match(first) or _CLOSE.match(first):
            return "cursor"
        if answers.handles(first) and answers.answer(first, self.context()) is not None:
            return "answer"
        return translate(first)[0].kind

    async def _simple_one(self, stmt: Prepared) -> None:
        if stmt.kind == "empty":
            self.send(pw.EmptyQueryResponse())
            return
        if stmt.kind == "copy":
            assert stmt.copy is not None
            await self.run_copy(stmt.copy, [])
            return
        portal = Portal(stmt, [])
        await self.run_portal(portal)
        await self._send_portal(portal, 0, describe=True)

    async def _send_portal(self, portal: Portal, max_rows: int, describe: bool) -> None:
        if portal.columns is not None:
            formats = portal.extra.get("formats") or portal.formats()
            if describe:
                self.send(row_description(portal.columns, formats))
            rows = portal.take(max_rows)
            for start in range(0, len(rows), 1000):
                self.send_raw(encode_rows(portal.columns, formats, rows[start:start + 1000]))
                await self.maybe_flush()
            if max_rows > 0 and not portal.exhausted:
                self.send(pw.PortalSuspended())
                return
            tag = portal.tag
            if tag in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                tag = f"INSERT 0 {len(rows)}" if tag == "INSERT" else f"{tag} {len(rows)}"
            self.send(pw.CommandComplete(tag))
            return
        self.send(pw.CommandComplete(portal.tag))

    # ------------------------------------------------------------------ extended query

    async def parse(self, ev: pw.Parse) -> None:
        if ev.name and ev.name in self.statements:
            raise SqlError("42P05", f'prepared statement "{ev.name}" already exists')
        if len(self.statements) >= MAX_PREPARED:
            raise SqlError("53200", f"too many prepared statements (limit {MAX_PREPARED})")
        stmt = await self.prepare(ev.query, ev.param_oids)
        self.statements[ev.name] = stmt
        self.send(pw.ParseComplete())

    def bind(self, ev: pw.Bind) -> None:
        stmt = self.statements.get(ev.statement)
        if stmt is None:
            what = f'"{ev.statement}"' if ev.statement else ""
            raise SqlError("26000", f"{'unnamed ' if not ev.statement else ''}prepared statement "
                           f"{what}{' ' if what else ''}does not exist".replace("  ", " "))
        if len(ev.params) != len(stmt.params):
            raise SqlError("08P01", f"bind message supplies {len(ev.params)} parameters, but "
                           f'prepared statement "{ev.statement}" requires {len(stmt.params)}')
        if ev.portal and ev.portal in self.portals:
            raise SqlError("42P03", f'cursor "{ev.portal}" already exists')
        values = [param_value(oid, data, ev.param_format(i))
                  for i, (oid, data) in enumerate(zip(stmt.params, ev.params, strict=True))]
        portal = Portal(stmt, values, ev.result_formats)
        if stmt.columns is not None:
            portal.columns = stmt.columns
            ev.result_formats_for(len(stmt.columns))
        self.portals[ev.portal] = portal
        self.send(pw.BindComplete())

    async def describe(self, ev: pw.Describe) -> None:
        if ev.kind == "S":
            stmt = self.statements.get(ev.name)
            if stmt is None:
                raise SqlError("26000", f'prepared statement "{ev.name}" does not exist')
            self.send(pw.ParameterDescription(stmt.params))
            cols = stmt.final_columns()
            if cols is None:
                self.send(pw.NoData())
            else:
                self.send(row_description(cols, (0,) * len(cols)))
            return
        portal = self.portals.get(ev.name)
        if portal is None:
            raise SqlError("34000", f'portal "{ev.name}" does not exist')
        stmt = portal.stmt
        if stmt.columns is None and stmt.kind != "cursor":
            self.send(pw.NoData())
            return
        if stmt.kind == "cursor" or (not stmt.described and any(
                c.oid is None for c in stmt.columns or ())):
            if not portal.executed:
                await self.run_portal(portal)
        else:
            portal.columns = stmt.final_columns()
        if portal.columns is None:
            self.send(pw.NoData())
        else:
            self.send(portal.row_description())

    async def execute(self, ev: pw.Execute) -> None:
        portal = self.portals.get(ev.portal)
        if portal is None:
            raise SqlError("34000", f'portal "{ev.portal}" does not exist')
        stmt = portal.stmt
        if stmt.kind == "empty":
            self.send(pw.EmptyQueryResponse())
            return
        if stmt.kind == "copy":
            assert stmt.copy is not None
            await self.run_copy(stmt.copy, portal.params)
            return
        if not portal.executed:
            await self._maybe_begin_pipeline(stmt)
            await self.run_portal(portal)
        elif portal.columns is None:
            self.send(pw.CommandComplete(portal.tag))
            return
        await self._send_portal(portal, ev.max_rows, describe=False)
        if not ev.portal and portal.columns is None:
            self.portals.pop("", None)

    # ------------------------------------------------------------------ COPY

    async def run_copy(self, spec: copyfmt.CopySpec, _params: list[Any]) -> None:
        if self.dbs.status == "E":
            raise SqlError("25P02", "current transaction is aborted, commands ignored until "
                           "end of transaction block")
        if spec.direction == "to":
            await self._copy_out(spec)
            return
        if self.dbs.txn is not None:
            count = await self._copy_in(spec)
        else:
            # COPY is all or nothing: outside a block its batches share one implicit
            # transaction, proposed once at the end
            await self.guarded(self.db.begin_implicit(self.dbs), may_write=False)
            try:
                count = await self._copy_in(spec)
            except BaseException:
                self.db.abort_implicit(self.dbs)
                raise
            await self.guarded(self.db.commit_implicit(self.dbs), may_write=True)
        self.send(pw.CommandComplete(f"COPY {count}"))

    async def _copy_out(self, spec: copyfmt.CopySpec) -> None:
        if spec.query is not None:
            stmt = await self.prepare(spec.query)
        else:
            cols = ", ".join(f'"{c}"' for c in spec.columns) if spec.columns else "*"
            stmt = await self.prepare(f'SELECT {cols} FROM "{spec.table}"')
        if stmt.kind not in ("sql", "answer") or not stmt.returns_rows:
            raise SqlError("42601", "COPY query must return rows")
        portal = Portal(stmt, [])
        await self.run_portal(portal)
        columns = portal.columns or ()
        fmt = 1 if spec.format == "binary" else 0
        self.send(pw.CopyOutResponse(fmt, (fmt,) * len(columns)))
        if fmt == 1:
            self.send(pw.BackendCopyData(copyfmt.binary_header()))
        elif spec.header:
            self.send(pw.BackendCopyData(copyfmt.header_row(spec, [c.name for c in columns])))
        count = 0
        from raftsql.server.values import encode_result
        for row in portal.rows:
            fields = [encode_result(c.oid or o.TEXT, v, fmt, c.scale)
                      for c, v in zip(columns, row, strict=False)]
            self.send(pw.BackendCopyData(copyfmt.encode_row(spec, fields)))
            count += 1
            if count % 1000 == 0:
                await self.maybe_flush()
        if fmt == 1:
            self.send(pw.BackendCopyData(copyfmt.binary_trailer()))
        self.send(pw.BackendCopyDone())
        self.send(pw.CommandComplete(f"COPY {count}"))

    async def _copy_in(self, spec: copyfmt.CopySpec) -> int:
        assert spec.table is not None
        table_cols = self._schema(spec.table)
        if not table_cols:
            raise SqlError("42P01", f'relation "{spec.table}" does not exist')
        names = list(spec.columns) if spec.columns else list(table_cols)
        for n in names:
            if n not in table_cols:
                raise SqlError("42703", f'column "{n}" of relation "{spec.table}" does not exist')
        oids = [inference.declared_column(n, table_cols[n]).oid or o.TEXT for n in names]
        fmt = 1 if spec.format == "binary" else 0
        self.send(pw.CopyInResponse(fmt, (fmt,) * len(names)))
        decoder = copyfmt.Decoder(spec, len(names))
        batch: list[list[Any]] = []
        count = 0
        error: SqlError | None = None
        collist = ", ".join(f'"{n}"' for n in names)
        while True:
            ev = await self.event()
            if isinstance(ev, pw.CopyData):
                if error is not None:
                    continue
                try:
                    for row in decoder.feed(ev.data):
                        batch.append([param_value(oid, f, fmt) for oid, f in
                                      zip(oids, row, strict=True)])
                        if len(batch) >= COPY_BATCH_ROWS:
                            count += await self._insert_batch(spec.table, collist, batch)
                            batch = []
                except SqlError as exc:
                    error = exc
                continue
            if isinstance(ev, pw.CopyFail):
                raise SqlError("57014", f"COPY from stdin failed: {ev.message}")
            if isinstance(ev, pw.Terminate):
                raise Closed
            assert isinstance(ev, pw.CopyDone)
            break
        if error is not None:
            raise error
        for row in decoder.finish():
            batch.append([param_value(oid, f, fmt) for oid, f in zip(oids, row, strict=True)])
        if batch:
            count += await self._insert_batch(spec.table, collist, batch)
        return count

    async def _insert_batch(self, table: str, collist: str, rows: list[list[Any]]) -> int:
        width = len(rows[0])
        per = max(1, min(len(rows), 30_000 // max(width, 1)))
        done = 0
        for start in range(0, len(rows), per):
            chunk = rows[start:start + per]
            marks, n = [], 0
            for _ in chunk:
                marks.append("(" + ", ".join(f"${n + i + 1}" for i in range(width)) + ")")
                n += width
            sql = f'INSERT INTO "{table}" ({collist}) VALUES {", ".join(marks)}'
            t = translate(sql)[0]
            flat = [v for row in chunk for v in row]
            result = await self.guarded(self.db.run(self.dbs, t, flat),
                                        may_write=self.dbs.txn is None)
            done += result.rowcount
        return done
