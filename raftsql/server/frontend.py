"""The Postgres listener of a node: accepts connections, bounds them, runs one `PgSession`
task per client and routes CancelRequests to the session they name.

Why separate from the session: everything that concerns *all* clients lives here (the
connection limit, the cancel-key registry, shutdown), and nothing that concerns one client.
One slow or stuck client only ever blocks its own task; there is no lock shared between
sessions (the node's Database is used from the one event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import ssl
from pathlib import Path
from typing import Any

from raftsql import pgwire as pw
from raftsql.node.database import Database
from raftsql.pgwire.connection import DEFAULT_MAX_MESSAGE_SIZE
from raftsql.server.auth import Users
from raftsql.server.channel import AnswerBatch, ClientChannel
from raftsql.server.describe import Describer
from raftsql.server.metrics import FrontendCounters
from raftsql.server.session import PgSession

log = logging.getLogger("raftsql.server.frontend")

DEFAULT_MAX_CONNECTIONS = 100
STARTUP_TIMEOUT = 60.0
SSL_CODE, GSS_CODE = (80877103).to_bytes(4, "big"), (80877104).to_bytes(4, "big")  # PostgreSQL's authentication_timeout


def tls_from_env() -> ssl.SSLContext | None:
    """A server TLS context from RAFTSQL_TLS_CERT / RAFTSQL_TLS_KEY (PEM files), or None:
    then SSLRequest is answered 'N' and clients continue in plain text."""
    cert = os.environ.get("RAFTSQL_TLS_CERT")
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, os.environ.get("RAFTSQL_TLS_KEY") or None)
    return ctx


class PgFrontend:
    """`await start()` listens on `listen`; `await close()` stops listening and ends every
    session (their open transactions roll back)."""

    def __init__(self, db: Database, listen: tuple[str, int], users_file: Path | None = None,
                 counters: FrontendCounters | None = None, *,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 ssl_context: ssl.SSLContext | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT) -> None:
        self.db = db
        self.listen = listen
        self.users = Users.load(users_file) if users_file is not None else Users.trust()
        self.counters = counters if counters is not None else FrontendCounters()
        self.max_connections = int(os.environ.get("RAFTSQL_MAX_CONNECTIONS", max_connections))
        self.max_message_size = max_message_size
        self.ssl_context = ssl_context if ssl_context is not None else tls_from_env()
        self.startup_timeout = startup_timeout
        self.extra_databases: frozenset[str] = frozenset()
        self.describer = Describer(db.sm.path, lambda: db.sm.db.schema_generation)
        self.sessions: dict[int, PgSession] = {}  # pid -> registered (post-startup) session
        self._tasks: set[asyncio.Task[None]] = set()
        self._pids = itertools.count(os.getpid() * 1000 % 2_000_000_000 + 1)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        host, port = self.listen
        loop = asyncio.get_running_loop()
        batch = AnswerBatch()
        self.db.node.on_wake = batch.send
        self._server = await loop.create_server(
            lambda: ClientChannel(self._connected, batch), host, port)
        log.info("postgres frontend listening on %s:%d", host, port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            session.terminate()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self.describer.close()

    # ------------------------------------------------------------------ connections

    def _connected(self, channel: ClientChannel) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, channel: ClientChannel) -> None:
        session = PgSession(self, channel, next(self._pids))
        try:
            if len(self._tasks) > self.max_connections:
                await self._refuse(session)
                return
            self.counters.sessions_opened += 1
            self.counters.sessions_active += 1
            try:
                await session.run()
            finally:
                self.counters.sessions_active -= 1
        except Exception:  # a bug in one session must not take the listener down
            log.exception("session %d from %s failed", session.pid, session.peer)
        finally:
            self.sessions.pop(session.pid, None)
            channel.close()

    async def _refuse(self, session: PgSession) -> None:
        """Too many connections: PostgreSQL answers the startup packet with FATAL 53300."""
        channel = session.channel
        with contextlib.suppress(Exception):
            data = await asyncio.wait_for(channel.read(), 5)
            if data is not None and data[4:8] in (SSL_CODE, GSS_CODE):
                channel.write(b"N")  # say no, then read the startup packet
                await asyncio.wait_for(channel.read(), 5)
            channel.write(pw.ErrorResponse("FATAL", "53300",
                                           "sorry, too many clients already").encode())
            await channel.drain()

    def register(self, session: PgSession) -> None:
        self.sessions[session.pid] = session

    def cancel(self, pid: int, secret: int) -> None:
        """CancelRequest: cancel the statement of the session with this key; an unknown or
        wrong key is ignored silently, as PostgreSQL does."""
        session = self.sessions.get(pid)
        if session is not None and session.secret == secret:
            session.cancel()

    def status(self) -> dict[str, Any]:
        return {"sessions": len(self.sessions), "connections": len(self._tasks)}
