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
import contextlib
import functools
import logging
import os
import re
from collections.abc import Awaitable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from raftsql import pgwire as pw
from raftsql.node.errors import NodeError
from raftsql.pgwire import oids as o
from raftsql.pgwire.errors import ProtocolError
from raftsql.server import (
    answers,
    copying,
    cursors,
    inference,
    offloop,
    rewrites,
    sqlprepare,
    startup,
)
from raftsql.server import copy as copyfmt
from raftsql.server.channel import ClientChannel
from raftsql.server.cursors import CLOSE_RE, DECLARE_RE, FETCH_RE
from raftsql.server.inference import Column
from raftsql.server.portal import Portal, Prepared, encode_rows, fill_types, row_description
from raftsql.server.startup import PG_SETTINGS, REPORTED_LOWER
from raftsql.server.values import param_value
from raftsql.server.wire import Closed, error_response
from raftsql.sql.classify import StatementKind
from raftsql.sql.errors import SqlError
from raftsql.sql.rewrite.scan import Piece, split
from raftsql.sql.translate import translate
from raftsql.sql.txn import TxnState

if TYPE_CHECKING:
    from raftsql.node.database import Result
    from raftsql.server.frontend import PgFrontend

log = logging.getLogger("raftsql.server.session")
T = TypeVar("T")

MAX_PREPARED = 10_000
FLUSH_AT = 256 * 1024
PUMP_LIMIT = 64  # messages answered in one go before the session lets the event loop run

_TIMEOUT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


@contextlib.contextmanager
def _at_offset(offset: int) -> Iterator[None]:
    """Make an error position (ErrorResponse P) count from the start of the whole query
    string, as PostgreSQL's does, not from the start of one statement in it."""
    try:
        yield
    except SqlError as exc:
        if exc.position is not None:
            exc.position += offset
        raise


def _txn_connection(txn: Any) -> Any:
    """The connection an open transaction runs on, where its own DDL is visible (used only to
    describe statements; None when the transaction does not expose one)."""
    return getattr(txn, "_conn", None) or getattr(txn, "_file", None)


# Messages sent for nearly every statement, encoded once. They go out with send_raw, which
# skips the phase check of send: each is sent only in the ready phase (after a Bind, a
# Describe or a Sync, all of which are read only in it).
_READY_FOR_QUERY = {s: pw.ReadyForQuery(s).encode() for s in "ITE"}
_BIND_COMPLETE = pw.BindComplete().encode()
_NO_DATA = pw.NoData().encode()


@functools.lru_cache(maxsize=1024)
def _split(sql: str) -> tuple[Piece, ...]:
    """split() of a statement text, remembered: a client that sends the same text again
    (an unnamed Parse before psycopg's prepare threshold, a psql script in a loop) paid the
    Python scanner (~25 us) every time. Pieces are frozen; a syntax error is not cached."""
    return tuple(split(sql))
_COUNTED = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})

_DROP_IF_EXISTS = re.compile(r"^\s*DROP\s+(TABLE|INDEX|VIEW)\s+IF\s+EXISTS\s+"
                             r"(\"(?:[^\"]|\"\")+\"|[A-Za-z_][\w$]*)\s*$", re.IGNORECASE)


def _columns_need_run(stmt: Prepared) -> bool:
    """Only running the statement tells its result's column types: a cursor, or a statement
    whose columns were not described and are not all typed."""
    return stmt.kind == "cursor" or (stmt.columns is not None and not stmt.described and any(
        c.oid is None for c in stmt.columns))


class PgSession:
    """The protocol state machine of one client on top of `pgwire.ServerConnection`."""

    def __init__(self, frontend: PgFrontend, channel: ClientChannel, pid: int) -> None:
        from raftsql.node.database import Session  # the node's per-client SQL state

        self.fe = frontend
        self.db = frontend.db
        self.channel = channel
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
        self._running: asyncio.Task[Any] | None = None  # this session's task, inside guarded()
        self._cancel_reason: str | None = None
        self._stops = 0  # cancel requests guarded() made of the session's task
        self._task: asyncio.Task[Any] | None = None  # the task running run()
        self._timeout_setting: tuple[str, float | None] = ("0", None)
        self._pipeline_txn = False  # an implicit transaction opened for an extended pipeline
        self.reported_leader = False  # what in_hot_standby last told the client
        self.peer = channel.peer
        self._work: Coroutine[Any, Any, None] | Exception | None = None  # _on_data's, for loop

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

    def _write_out(self) -> None:
        """One transport write for everything pending."""
        if self._out:
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._out_size = 0
            self.channel.write(data)

    async def flush(self) -> None:
        """Write everything pending; then wait while the client is slow to read, or raise
        that it is gone. drain() only then: otherwise it returns at once, and it is a
        coroutine per statement."""
        self._write_out()
        if self.channel.must_drain:
            await self.channel.drain()

    async def maybe_flush(self) -> None:
        if self._out_size >= FLUSH_AT:
            await self.flush()

    async def event(self) -> Any:
        """The next frontend message, outside `loop` (startup, COPY); flushes pending output
        before waiting for the client."""
        while True:
            ev = self.conn.next_event()
            if ev is pw.NEED_DATA:
                await self.flush()
                data = await self.channel.read()
                assert data is not None  # only a read with a sink answers None
                self.conn.receive_data(data)
                continue
            if isinstance(ev, pw.ConnectionClosed):
                raise Closed
            assert ev is not pw.PAUSED, f"paused in phase {self.conn.phase}"
            return ev

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        self._task = asyncio.current_task()
        try:
            if await startup.startup(self):
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
            self.send(error_response(exc, "FATAL"))
            await self.flush()
        except (ConnectionError, pw.LocalProtocolError):
            pass

    def cleanup(self) -> None:
        if self.dbs.txn is not None:
            self.db.abort_implicit(self.dbs)
        self.portals.clear()
        self.statements.clear()
        self.channel.close()
        if isinstance(self._work, Coroutine):  # left by _on_data when the session was ended
            self._work.close()

    def terminate(self) -> None:
        """The node is shutting down: tell the client, as a PostgreSQL backend does on a fast
        shutdown, before the session's task is cancelled. With FATAL 57P01 a client knows
        to reconnect to another node (docs/consistency.md); a bare close looks like a crash."""
        self.send(error_response(
            SqlError("57P01", "terminating connection due to administrator command"), "FATAL"))
        self._write_out()

    def cancel(self) -> None:
        """CancelRequest for this session: interrupt the running statement, if any."""
        task = self._running
        if task is not None:
            self._stop("user", task)

    def show(self, name: str) -> str:
        lower = name.lower()
        if lower in ("default_transaction_read_only", "in_hot_standby"):
            return startup.reported_value(self, lower)
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
        """Answer messages until Terminate (which raises Closed). `_pump` answers the
        buffered messages that need no wait; the loop awaits the one that does, or else
        flushes and waits for the client. Bytes that arrive during that wait are pumped in the
        channel's callback (`_on_data`), so that a point read under the lease is answered
        there, without waking this task."""
        conn = self.conn
        channel = self.channel
        while True:
            work = self._pump()
            if work is not None:
                await work
                continue
            await self.flush()
            data = await channel.read(self._on_data)
            if data is not None:
                conn.receive_data(data)
                continue
            left, self._work = self._work, None
            if isinstance(left, Exception):
                raise left
            if left is not None:
                await left

    def _on_data(self, data: bytes) -> bool:
        """Bytes that arrived while `loop` waits for them: pump them at once. True when every
        message was answered and the answers written; False when `loop` must go on, with
        what to await (or raise) in `_work`, or to wait for a slow client.

        A packet that is one whole execution of a prepared statement (`ServerConnection.
        whole_execution`) skips the framing: its Bind is bound here, and the rest is what
        `_pump` does after a Bind (`_execute_group`)."""
        whole = None if self._pipeline_txn else self.conn.whole_execution(data)
        if whole is None or not self._bind_quietly(whole[0]):
            whole = None
            self.conn.receive_data(data)
        try:
            work = self._pump() if whole is None else self._execute_group(whole[1], whole[2])
        except Exception as exc:  # noqa: BLE001 (Closed, a fatal protocol error: loop raises it)
            self._work = exc
            return False
        if work is not None:
            self._work = work
            return False
        self._write_out()
        return not self.channel.must_drain

    def _bind_quietly(self, ev: pw.Bind) -> bool:
        """`bind`; False, and nothing changed, when it fails. The caller then hands the bytes
        to the framer, and the general path answers the same failure in its place."""
        try:
            self.bind(ev)
        except Exception:  # noqa: BLE001 (answered by the general path, see above)
            return False
        return True

    def _pump(self) -> Coroutine[Any, Any, None] | None:
        """Answer the buffered messages that need no wait; return the coroutine that answers
        the first one that does, or None once every buffered message is answered.

        Bind and Sync (no pipeline) are answered without a coroutine: a prepared statement
        sends three or four messages per execution, and each coroutine is a visible cost
        there. After a Bind, the [Describe,] Execute, Sync that clients send with it are
        taken as one group when they are already buffered (`_execute_and_sync`), and run at
        once when the statement needs no wait (`_run_now`). After PUMP_LIMIT messages the
        rest waits for a turn of the event loop: a client that pipelines thousands of point
        reads must not hold up the Raft loop's ticks and heartbeats (docs/design.md)."""
        conn = self.conn
        for _ in range(PUMP_LIMIT):
            if self._out_size >= FLUSH_AT:
                return self.flush()
            try:
                ev = conn.next_event()
            except ProtocolError as exc:
                if exc.fatal:
                    raise
                self.send(error_response(exc))
                if exc.message_type is not None and exc.message_type in "PBDECSH":
                    self.conn.skip_until_sync()
                    if self._pipeline_txn:
                        self._pipeline_txn = False
                        self.db.abort_implicit(self.dbs)
                    self._fail_txn()
                else:
                    self._ready()
                continue
            if ev is pw.NEED_DATA:
                return None
            kind = type(ev)
            if kind is pw.Bind:
                try:
                    self.bind(cast(pw.Bind, ev))
                except Exception as exc:  # noqa: BLE001 (the client's error, as in dispatch)
                    self._message_failed(exc)
                    continue
                if not self._pipeline_txn and not cast(pw.Bind, ev).portal:
                    group = conn.take_execute_sync()
                    if group is not None:
                        work = self._execute_group(*group)
                        if work is not None:
                            return work
            elif kind is pw.Sync and not self._pipeline_txn:
                self._ready()
            elif kind is pw.Terminate or kind is pw.ConnectionClosed:
                raise Closed
            else:
                assert ev is not pw.PAUSED, f"paused in phase {conn.phase}"
                return self.dispatch(ev)
        return self._next_turn()

    async def _next_turn(self) -> None:
        """Answer what is still buffered after the event loop's next turn (`_pump`)."""
        self._write_out()
        await asyncio.sleep(0)

    async def dispatch(self, ev: Any) -> None:
        kind = type(ev)
        if kind is pw.Sync:
            if self._pipeline_txn:
                await self._end_pipeline()
            self._ready()
            return
        if kind is pw.Query:
            await self.simple_query(ev.sql)
            return
        if kind is pw.Flush:
            await self.flush()
            return
        if kind is pw.FunctionCall:
            # a message of its own, answered with ReadyForQuery: no Sync follows (55.2.7)
            self.send(error_response(SqlError(
                "0A000", "the fast-path function call interface is not supported")))
            self._fail_txn()
            self._ready()
            return
        try:
            if kind is pw.Bind:
                self.bind(ev)
            elif kind is pw.Execute:
                await self.execute(ev)
            elif kind is pw.Parse:
                await self.parse(ev)
            elif kind is pw.Describe:
                await self.describe(ev)
            elif kind is pw.Close:
                if ev.kind == "S":
                    self.statements.pop(ev.name, None)
                else:
                    self.portals.pop(ev.name, None)
                self.send(pw.CloseComplete())
            # stray CopyData/CopyDone/CopyFail after a failed COPY are dropped by the codec
        except Closed:
            raise
        except Exception as exc:  # noqa: BLE001 (any statement failure is the client's error)
            self._message_failed(exc)

    def _execute_group(self, describe: bool, max_rows: int) -> Coroutine[Any, Any, None] | None:
        """[Describe,] Execute, Sync after a Bind of the unnamed portal: answered at once
        (`_run_now`), or the coroutine that answers them when the statement must wait."""
        if self._run_now(describe, max_rows):
            return None
        return self._execute_and_sync(describe, max_rows)

    async def _execute_and_sync(self, describe: bool, max_rows: int) -> None:
        """[Describe portal "",] Execute "", Sync after a Bind of the unnamed portal, taken in
        one step (`ServerConnection.take_execute_sync`): what the three messages would have
        done one by one, without opening a pipeline transaction (the Sync ends the
        statement's)."""
        try:
            portal = self.portals[""]
            if describe:
                await self._describe_portal(portal)
            await self._execute_portal(portal, "", max_rows)
        except Closed:
            raise
        except Exception as exc:  # noqa: BLE001 (as in dispatch; the Sync is already taken)
            self.send(error_response(self._as_error(exc)))
            self._fail_txn()
        self._ready()

    def _run_now(self, describe: bool, max_rows: int) -> bool:
        """`_execute_and_sync` of a statement that `Database.run_now` runs at once (a point
        read under the lease, a statement inside a transaction), without a coroutine: the
        same messages in the same order. False when it cannot be run so: nothing was done,
        and the caller awaits `_execute_and_sync`."""
        portal = self.portals[""]
        stmt = portal.stmt
        t = stmt.translated
        if (stmt.kind != "sql" or t is None or t.session is not None
                or self.dbs.status == "E"):  # in a failed block, _check_not_aborted answers
            return False
        inside = self.dbs.txn is not None
        result: Result | Exception | None
        try:
            # the timeout matters only to a statement inside a block (Transaction.execute)
            result = self.db.run_now(self.dbs, t, portal.params,
                                     self._statement_timeout() if inside else None)
        except Exception as exc:  # noqa: BLE001 (the statement's error, sent below)
            result = exc
        if result is None:
            return False
        portal.executed = True
        need_run = _columns_need_run(stmt)
        try:
            if describe and not need_run:
                self._send_description(portal)  # before the rows or the error, as on any path
            if t.txn is not None:
                self._transaction_notice(t.txn.action, inside)
            if isinstance(result, Exception):
                raise result
            self._take_result(portal, result)
            if describe and need_run:
                self._send_description(portal)
            self._send_portal(portal, max_rows, describe=False)
            if portal.columns is None:
                self.portals.pop("", None)
        except Exception as exc:  # noqa: BLE001 (as in _execute_and_sync)
            self.send(error_response(self._as_error(exc)))
            self._fail_txn()
        self._ready()
        return True

    def _message_failed(self, exc: Exception) -> None:
        """An extended-protocol message failed: ErrorResponse, the pipeline's implicit
        transaction and any open block fail, and messages up to Sync are skipped (55.2.3)."""
        self.send(error_response(self._as_error(exc)))
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
            self.send(error_response(self._as_error(exc)))

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
        if status == "I" and self.portals:
            for name in [n for n, p in self.portals.items() if not p.holdable]:
                del self.portals[name]
        leader = self.db.node.is_leader()
        if leader != self.reported_leader:
            # the node became (or stopped being) the leader: like PostgreSQL after a
            # promotion, tell the client the new in_hot_standby/read-only values
            self.reported_leader = leader
            for name in ("default_transaction_read_only", "in_hot_standby"):
                self.send(pw.ParameterStatus(name, startup.reported_value(self, name)))
        self.send_raw(_READY_FOR_QUERY[status])

    def _fail_txn(self) -> None:
        txn = self.dbs.txn
        if txn is not None and txn.state is TxnState.OPEN:
            txn.state = TxnState.FAILED

    # ------------------------------------------------------------------ running statements

    def _statement_timeout(self) -> float | None:
        raw = self.dbs.settings.get("statement_timeout", "0")
        if raw == self._timeout_setting[0]:  # parsed once per value, not per statement
            return self._timeout_setting[1]
        value = self._parse_timeout(raw)
        self._timeout_setting = (raw, value)
        return value

    @staticmethod
    def _parse_timeout(raw: str) -> float | None:
        m = _TIMEOUT.match(raw)
        if m is None:
            return None
        ms = float(m.group(1)) * _UNIT_MS[(m.group(2) or "ms").lower()]
        return ms / 1000 if ms > 0 else None

    async def guarded(self, work: Awaitable[T], *, may_write: bool) -> T:
        """Run one statement so that CancelRequest and statement_timeout can stop it.

        The statement runs in this session's own task; a stop cancels that task, which can
        only be waiting inside `work` while `_running` is set. Why not a task per statement:
        creating and scheduling one cost two event loop turns per statement, more than a
        whole point read, and a point read never waits at all. The stop is then taken back
        (Task.uncancel) so only a cancellation from elsewhere (shutdown) ends the session.

        A stopped write may still commit (it was proposed): that is 40003, not 57014
        (ARCHITECTURE.md, errors contract)."""
        task = self._task or asyncio.current_task()
        assert task is not None
        self._cancel_reason = None
        self._stops = 0
        self._running = task
        timeout = self._statement_timeout()
        timer = None
        if timeout is not None:
            timer = asyncio.get_running_loop().call_later(timeout, self._stop, "timeout", task)
        try:
            return await work
        except asyncio.CancelledError:
            reason = self._cancel_reason
            if reason is None or self._take_back_stops(task) > 0:
                raise  # not (only) ours: the session itself is being cancelled
            why = "statement timeout" if reason == "timeout" else "user request"
            if may_write:
                raise SqlError("40003", f"canceling statement due to {why}",
                               detail="The write was proposed and may still commit.") from None
            raise SqlError("57014", f"canceling statement due to {why}") from None
        finally:
            if timer is not None:
                timer.cancel()
            self._running = None
            if self._stops:  # a stop the statement swallowed: do not leave it counted
                self._take_back_stops(task)

    def _stop(self, reason: str, task: asyncio.Task[Any]) -> None:
        """Stop the running statement (CancelRequest, statement_timeout)."""
        if self._running is task and not task.done():
            self._cancel_reason = reason
            self._stops += 1
            task.cancel()

    def _take_back_stops(self, task: asyncio.Task[Any]) -> int:
        """Undo this session's own cancel requests; the number still pending from others."""
        left = task.cancelling()
        for _ in range(self._stops):
            left = task.uncancel()
        self._stops = 0
        return left

    def _schema(self, table: str) -> dict[str, str | None]:
        txn = self.dbs.txn
        found = self.fe.describer.table_columns(table)
        if not found and txn is not None:
            found = self.fe.describer.table_columns(table, _txn_connection(txn))
        return found

    async def prepare(self, sql: str, client_oids: Sequence[int] = ()) -> Prepared:
        pieces = _split(sql)
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
        if DECLARE_RE.match(text) or FETCH_RE.match(text) or CLOSE_RE.match(text):
            return await self._prepare_cursor(text)
        if sqlprepare.is_sql_prepare(text):
            return Prepared(text, "sqlprepare")
        await offloop.analyse_long(text)
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
            desc: tuple[tuple[str, str | None], ...] | None = self.fe.describer.columns(
                t.sql, len(t.param_order))
        except SqlError:
            txn = self.dbs.txn
            desc = None
            if txn is not None:
                try:
                    desc = self.fe.describer.columns(t.sql, len(t.param_order),
                                                      _txn_connection(txn))
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
        assert desc is not None
        return inference.describe_columns(stmt.tree, desc, stmt.params, self._schema)

    async def _prepare_cursor(self, text: str) -> Prepared:
        m = DECLARE_RE.match(text)
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
            await cursors.run_cursor(self, stmt, portal)
            return
        if stmt.kind == "sqlprepare":
            await sqlprepare.run(self, stmt, portal)
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
            self._transaction_notice(t.txn.action, self.dbs.txn is not None)
        result = await self.guarded(
            self.db.run(self.dbs, t, portal.params, self._statement_timeout()), may_write=may_write)
        self._take_result(portal, result)

    def _take_result(self, portal: Portal, result: Result) -> None:
        """Keep a statement's result in its portal: the tag, and the columns and rows to send."""
        stmt = portal.stmt
        portal.tag = result.command_tag
        if stmt.returns_rows or result.columns:
            cols = stmt.columns
            if cols is None or not stmt.described:
                cols = inference.describe_columns(stmt.tree, result.columns, stmt.params,
                                                  self._schema)
                if stmt.columns is not None and len(stmt.columns) == len(cols):
                    cols = tuple(c if c.oid is not None else d
                                 for c, d in zip(stmt.columns, cols, strict=True))
            portal.columns = cols if stmt.typed and cols is stmt.columns else fill_types(
                cols, result.rows)
            portal.rows = result.rows
            word = portal.tag.split(" ", 1)[0]
            if word in _COUNTED:
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

    def _transaction_notice(self, action: str, inside: bool) -> None:
        """PostgreSQL's WARNINGs for BEGIN inside and COMMIT/ROLLBACK outside a block
        (`inside`: whether one was open before the statement)."""
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
        if action.action == "set" and action.local and self.dbs.txn is None:
            self.send(pw.NoticeResponse("WARNING", "25P01",
                                        "SET LOCAL can only be used in transaction blocks"))
        result = await self.db.run(self.dbs, t, portal.params)
        portal.tag = result.command_tag
        if action.action == "discard_all":
            self.statements.clear()
            self.portals = {k: v for k, v in self.portals.items() if v is portal}
        if action.action == "set" and action.name:
            canonical = REPORTED_LOWER.get(action.name.lower())
            if canonical is not None:
                self.send(pw.ParameterStatus(canonical, startup.reported_value(self, canonical)))

    # ------------------------------------------------------------------ simple query

    async def simple_query(self, sql: str) -> None:
        try:
            pieces = _split(sql)
        except SqlError as exc:
            self.send(error_response(exc))
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
            kinds = []
            for p in pieces:
                with _at_offset(p.offset):
                    kinds.append(await self._kind(p.original))
            implicit = (len(pieces) > 1 and self.dbs.txn is None
                        and StatementKind.TRANSACTION not in kinds
                        and any(k in (StatementKind.WRITE, StatementKind.DDL) for k in kinds)
                        and "copy" not in kinds)
            if implicit:
                await self.guarded(self.db.begin_implicit(self.dbs), may_write=False)
            for piece in pieces:
                with _at_offset(piece.offset):
                    stmt = await self.prepare(piece.original)
                self._drop_notice(stmt)
                await self._simple_one(stmt)
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
            self.send(error_response(error))
            self._fail_txn()
        self._ready()

    def _drop_notice(self, stmt: Prepared) -> None:
        """DROP ... IF EXISTS of a missing object: PostgreSQL's NOTICE '... does not exist,
        skipping' (psql prints it)."""
        for sub in stmt.subs:
            self._drop_notice(sub)
        m = _DROP_IF_EXISTS.match(stmt.sql) if stmt.kind == "sql" else None
        if m is None:
            return
        kind, raw = m.group(1).lower(), m.group(2)
        name = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()
        if kind == "table" and not self._schema(name):
            self.send(pw.NoticeResponse("NOTICE", "00000",
                                        f'table "{name}" does not exist, skipping'))

    async def _kind(self, text: str) -> StatementKind | str:
        """What a statement is, without analysing it against the schema."""
        expanded = rewrites.expand(text)
        first = expanded[0]
        if copyfmt.parse(first) is not None:
            return "copy"
        if DECLARE_RE.match(first) or FETCH_RE.match(first) or CLOSE_RE.match(first):
            return "cursor"
        if sqlprepare.is_sql_prepare(first):
            return "sqlprepare"
        await offloop.analyse_long(first)
        if answers.handles(first):
            try:  # not answered yet: that would run a catalog query twice
                return translate(first)[0].kind
            except SqlError:
                return "answer"
        return translate(first)[0].kind

    async def _simple_one(self, stmt: Prepared) -> None:
        if stmt.kind == "empty":
            self.send(pw.EmptyQueryResponse())
            return
        if stmt.kind == "copy":
            assert stmt.copy is not None
            await copying.run_copy(self, stmt.copy, [])
            return
        portal = Portal(stmt, [])
        await self.run_portal(portal)
        self._send_portal(portal, 0, describe=True)

    def _send_portal(self, portal: Portal, max_rows: int, describe: bool) -> None:
        """The portal's rows (up to max_rows, 0 for all) and its CommandComplete or
        PortalSuspended. A large result goes to the transport in pieces as it is encoded,
        and the caller waits for a slow client only after the message (`flush`). Why not wait
        during it: the rows are all in memory already and their encoding is smaller, and a
        send that never waits lets a point read be answered without a coroutine
        (`_run_now`)."""
        if portal.columns is not None:
            formats = portal.formats()
            if describe:
                self.send(row_description(portal.columns, formats))
            rows = portal.take(max_rows)
            if len(rows) <= 1000:
                if rows:
                    self.send_raw(encode_rows(portal.columns, formats, rows))
            else:
                for start in range(0, len(rows), 1000):
                    self.send_raw(encode_rows(portal.columns, formats, rows[start:start + 1000]))
                    if self._out_size >= FLUSH_AT:
                        self._write_out()  # no join of the whole result into one copy
            if max_rows > 0 and not portal.exhausted:
                self.send(pw.PortalSuspended())
                return
            tag = portal.tag
            if tag in _COUNTED:
                tag = f"INSERT 0 {len(rows)}" if tag == "INSERT" else f"{tag} {len(rows)}"
            self.send_raw(self.conn.command_complete(tag))
            return
        self.send_raw(self.conn.command_complete(portal.tag))

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
        """Bind the portal; a failure raises before anything is changed (_bind_quietly)."""
        stmt = self.statements.get(ev.statement)
        if stmt is None:
            what = f'"{ev.statement}"' if ev.statement else ""
            raise SqlError("26000", f"{'unnamed ' if not ev.statement else ''}prepared statement "
                           f"{what}{' ' if what else ''}does not exist".replace("  ", " "))
        if len(ev.params) != len(stmt.params):
            raise SqlError("08P01", f"bind message supplies {len(ev.params)} parameters, but "
                           f'prepared statement "{ev.statement}" requires {len(stmt.params)}')
        if len(self.portals) >= MAX_PREPARED and ev.portal not in self.portals:
            raise SqlError("53200", f"too many open portals (limit {MAX_PREPARED})")
        if ev.portal and ev.portal in self.portals:
            raise SqlError("42P03", f'cursor "{ev.portal}" already exists')
        codes = ev.param_formats
        if len(codes) <= 1:  # one format for all (the usual case): no per-value lookup
            fmt = codes[0] if codes else 0
            values = [param_value(oid, data, fmt)
                      for oid, data in zip(stmt.params, ev.params, strict=True)]
        else:
            values = [param_value(oid, data, fmt)
                      for oid, data, fmt in zip(stmt.params, ev.params, codes, strict=True)]
        portal = Portal(stmt, values, ev.result_formats)
        if stmt.columns is not None:
            portal.columns = stmt.columns
            ev.result_formats_for(len(stmt.columns))
        self.portals[ev.portal] = portal
        self.send_raw(_BIND_COMPLETE)

    async def describe(self, ev: pw.Describe) -> None:
        if ev.kind == "S":
            stmt = self.statements.get(ev.name)
            if stmt is None:
                raise SqlError("26000", f'prepared statement "{ev.name}" does not exist')
            self.send(pw.ParameterDescription(stmt.params))
            cols = stmt.final_columns()
            if cols is None:
                self.send_raw(_NO_DATA)
            else:
                self.send(row_description(cols, (0,) * len(cols)))
            return
        portal = self.portals.get(ev.name)
        if portal is None:
            raise SqlError("34000", f'portal "{ev.name}" does not exist')
        await self._describe_portal(portal)

    async def _describe_portal(self, portal: Portal) -> None:
        if _columns_need_run(portal.stmt) and not portal.executed:
            await self.run_portal(portal)
        self._send_description(portal)

    def _send_description(self, portal: Portal) -> None:
        """RowDescription (or NoData) of a portal: of its result when only running it gives
        the column types (`_columns_need_run`), else of its statement."""
        stmt = portal.stmt
        if stmt.columns is None and stmt.kind != "cursor":
            self.send_raw(_NO_DATA)
            return
        if not _columns_need_run(stmt):
            portal.columns = stmt.final_columns()
        if portal.columns is None:
            self.send_raw(_NO_DATA)
        else:
            self.send(portal.row_description())

    async def execute(self, ev: pw.Execute) -> None:
        portal = self.portals.get(ev.portal)
        if portal is None:
            raise SqlError("34000", f'portal "{ev.portal}" does not exist')
        if not portal.executed and (self._pipeline_txn or portal.stmt.may_open_pipeline):
            await self._maybe_begin_pipeline(portal.stmt)
        await self._execute_portal(portal, ev.portal, ev.max_rows)

    async def _execute_portal(self, portal: Portal, name: str, max_rows: int) -> None:
        stmt = portal.stmt
        if stmt.kind == "empty":
            self.send(pw.EmptyQueryResponse())
            return
        if stmt.kind == "copy":
            assert stmt.copy is not None
            await copying.run_copy(self, stmt.copy, portal.params)
            return
        if not portal.executed:
            await self.run_portal(portal)
        elif portal.columns is None:
            self.send(pw.CommandComplete(portal.tag))
            return
        self._send_portal(portal, max_rows, describe=False)
        if not name and portal.columns is None:
            self.portals.pop("", None)
