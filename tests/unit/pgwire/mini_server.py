"""A throwaway PostgreSQL-speaking server built only on raftsql.pgwire, for testing the codec
against real client libraries (asyncpg, libpq via psycopg). It knows a handful of canned
statements and echoes parameters through the type codecs: whatever the client encodes must
decode, and whatever we encode must decode in the client to the same value."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from raftsql import pgwire as pw
from raftsql.pgwire import oids as o
from raftsql.pgwire import types
from raftsql.pgwire.auth import ScramSecret, ScramServer

ECHO_SQL = "SELECT $1::int4 AS i, $2::text AS t, $3::numeric AS n, $4::timestamptz AS ts, " \
           "$5::text[] AS arr, $6::bytea AS b, $7::float8 AS f, $8::jsonb AS j"
ECHO_TYPES = (o.INT4, o.TEXT, o.NUMERIC, o.TIMESTAMPTZ, o.TEXT_ARRAY, o.BYTEA, o.FLOAT8,
              o.JSONB)
ECHO_NAMES = ("i", "t", "n", "ts", "arr", "b", "f", "j")
STARTUP_PARAMS = {
    "server_version": "15.6 (raftsql test)", "server_encoding": "UTF8",
    "client_encoding": "UTF8", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres",
    "TimeZone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on",
    "default_transaction_read_only": "off", "in_hot_standby": "off",
}


@dataclass
class Statement:
    sql: str
    param_oids: tuple[int, ...]
    columns: tuple[tuple[str, int], ...]


@dataclass
class Session:
    conn: pw.ServerConnection = field(default_factory=pw.ServerConnection)
    statements: dict[str, Statement] = field(default_factory=dict)
    portals: dict[str, tuple[Statement, tuple[object, ...], pw.Bind]] = field(
        default_factory=dict)
    scram: ScramServer | None = None


def _plan(sql: str, client_oids: tuple[int, ...]) -> Statement:
    if sql == ECHO_SQL:
        oids = tuple(c or d for c, d in zip(client_oids + (0,) * 8, ECHO_TYPES, strict=False))
        return Statement(sql, oids[:8], tuple(zip(ECHO_NAMES, ECHO_TYPES, strict=True)))
    if sql.strip().rstrip(";").upper() == "SELECT 1":
        return Statement(sql, (), (("?column?", o.INT4),))
    if sql.strip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SET")):
        return Statement(sql, (), ())
    raise pw.ProtocolError("42601", f'syntax error at or near "{sql.split()[0]}"')


def _row_description(stmt: Statement, formats: tuple[int, ...]) -> pw.RowDescription:
    return pw.RowDescription(tuple(
        types.field(name, oid, fmt) for (name, oid), fmt in zip(stmt.columns, formats, strict=True)
    ))


def _tag(stmt: Statement) -> str:
    return "SELECT 1" if stmt.columns else stmt.sql.split()[0].upper().rstrip(";")


class MiniServer:
    def __init__(self, password: str | None = None) -> None:
        self.secret = ScramSecret.from_password(password) if password else None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0
        self.errors: list[BaseException] = []

    def __enter__(self) -> MiniServer:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self.loop)
        self.server = fut.result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _shutdown(self) -> None:
        """Close the listener and end every session task before the loop stops, so no
        coroutine is finalised later by the garbage collector."""
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = Session()
        try:
            while True:
                ev = s.conn.next_event()
                if ev is pw.NEED_DATA:
                    s.conn.receive_data(await asyncio.wait_for(reader.read(65536), 20))
                    continue
                if isinstance(ev, pw.ConnectionClosed):
                    break
                out = self._handle(s, ev)
                writer.write(b"".join(out))
                await writer.drain()
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001  (recorded; the test asserts none happened)
            self.errors.append(exc)
        finally:
            writer.close()

    def _handle(self, s: Session, ev: object) -> list[bytes]:
        send = s.conn.send
        try:
            return self._dispatch(s, ev)
        except pw.ProtocolError as err:
            if err.fatal:
                return [send(pw.ErrorResponse("FATAL", err.sqlstate, err.message))]
            out = [send(pw.ErrorResponse("ERROR", err.sqlstate, err.message))]
            if isinstance(ev, (pw.Parse, pw.Bind, pw.Describe, pw.Execute, pw.Close)):
                s.conn.skip_until_sync()
            else:
                out.append(send(pw.ReadyForQuery("I")))
            return out

    def _dispatch(self, s: Session, ev: object) -> list[bytes]:
        send = s.conn.send
        match ev:
            case pw.SSLRequest():
                return [send(pw.SSLResponse(False))]
            case pw.GSSENCRequest():
                return [send(pw.GSSENCResponse())]
            case pw.StartupMessage():
                if self.secret is None:
                    return self._welcome(s)
                return [send(pw.AuthenticationSASL(("SCRAM-SHA-256",)))]
            case pw.SASLInitialResponse(data=data):
                assert self.secret is not None and s.conn.startup is not None
                s.scram = ScramServer(s.conn.startup.user, self.secret)
                return [send(pw.AuthenticationSASLContinue(s.scram.client_first(data)))]
            case pw.SASLResponse(data=data):
                assert s.scram is not None
                final = s.scram.client_final(data)
                return [send(pw.AuthenticationSASLFinal(final)), *self._welcome(s)]
            case pw.Query(sql=sql):
                if not sql.strip():
                    return [send(pw.EmptyQueryResponse()), send(pw.ReadyForQuery("I"))]
                stmt = _plan(sql, ())
                out = []
                if stmt.columns:
                    out.append(send(_row_description(stmt, (0,))))
                    out.append(s.conn.send_rows([[b"1"]]))
                return [*out, send(pw.CommandComplete(_tag(stmt))), send(pw.ReadyForQuery("I"))]
            case pw.Parse(name=name, query=sql, param_oids=oids):
                s.statements[name] = _plan(sql, oids)
                return [send(pw.ParseComplete())]
            case pw.Bind():
                stmt = s.statements[ev.statement]
                values = tuple(
                    None if raw is None else types.decode(oid, raw, ev.param_format(i))
                    for i, (raw, oid) in enumerate(zip(ev.params, stmt.param_oids, strict=True)))
                s.portals[ev.portal] = (stmt, values, ev)
                return [send(pw.BindComplete())]
            case pw.Describe(kind="S", name=name):
                stmt = s.statements[name]
                out = [send(pw.ParameterDescription(stmt.param_oids))]
                if not stmt.columns:
                    return [*out, send(pw.NoData())]
                return [*out, send(_row_description(stmt, (0,) * len(stmt.columns)))]
            case pw.Describe(kind="P", name=name):
                stmt, _, bind = s.portals[name]
                if not stmt.columns:
                    return [send(pw.NoData())]
                fmts = bind.result_formats_for(len(stmt.columns))
                return [send(_row_description(stmt, fmts))]
            case pw.Execute(portal=name):
                stmt, values, bind = s.portals[name]
                if not stmt.columns:
                    return [send(pw.CommandComplete(_tag(stmt)))]
                fmts = bind.result_formats_for(len(stmt.columns))
                if stmt.sql == ECHO_SQL:
                    row = [None if v is None else types.encode(oid, v, fmt)
                           for v, (_, oid), fmt in zip(values, stmt.columns, fmts, strict=True)]
                else:
                    row = [types.encode(o.INT4, 1, fmts[0])]
                return [s.conn.send_rows([row]), send(pw.CommandComplete("SELECT 1"))]
            case pw.Close():
                return [send(pw.CloseComplete())]
            case pw.Sync():
                return [send(pw.ReadyForQuery("I"))]
            case pw.Flush() | pw.Terminate():
                return []
        raise AssertionError(f"unexpected event {ev!r}")

    def _welcome(self, s: Session) -> list[bytes]:
        send = s.conn.send
        out = [send(pw.AuthenticationOk())]
        out += [send(pw.ParameterStatus(k, v)) for k, v in STARTUP_PARAMS.items()]
        return [*out, send(pw.BackendKeyData(4242, 17)), send(pw.ReadyForQuery("I"))]
