"""The operations endpoint on ``--http-listen``: /status, /metrics, /healthz, /readyz, /backup.

HTTP parsing is h11's (sans-I/O, like our own pgwire codec); this module is the short asyncio
loop around it and the four handlers. Nothing here changes the node's state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import h11

log = logging.getLogger("raftsql.http")

MAX_REQUEST = 64 * 1024
FILE_CHUNK = 1 << 20


@dataclass
class FileBody:
    """A response body streamed from a file (``GET /backup``): sent in chunks with its
    content-length, so a large file never sits in memory; ``on_close`` runs once the response
    is sent or the client went away (the backup deletes its temp file there)."""

    path: Path
    headers: list[tuple[str, str]] = field(default_factory=list)
    on_close: Callable[[], None] = lambda: None


Response = tuple[int, str, bytes | FileBody]
Handler = Callable[[dict[str, str]], Awaitable[Response]]


class HttpServer:
    """Serves requests from a routing table ``{(method, path): handler}``; a handler gets the
    query parameters and returns (status, content type, body)."""

    def __init__(self, routes: dict[tuple[str, str], Handler]) -> None:
        self.routes = routes
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await asyncio.wait_for(reader.read(65536), 30)
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    status, ctype, body = await self._dispatch(event)
                    if isinstance(body, FileBody):
                        await self._send_file(conn, writer, status, ctype, body)
                        continue
                    headers = [("content-type", ctype), ("content-length", str(len(body)))]
                    writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
                    writer.write(conn.send(h11.Data(data=body)))
                    writer.write(conn.send(h11.EndOfMessage()))
                    await writer.drain()
                elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                        conn.start_next_cycle()
                        continue
                    break
        except (h11.RemoteProtocolError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _send_file(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int,
                         ctype: str, body: FileBody) -> None:
        try:
            with open(body.path, "rb") as f:
                size = f.seek(0, 2)
                f.seek(0)
                headers = [("content-type", ctype), ("content-length", str(size)), *body.headers]
                writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
                while chunk := await asyncio.to_thread(f.read, FILE_CHUNK):
                    writer.write(conn.send(h11.Data(data=chunk)))
                    await writer.drain()
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
        finally:
            body.on_close()

    async def _dispatch(self, request: h11.Request) -> Response:
        path, _, query = request.target.decode("latin-1").partition("?")
        handler = self.routes.get((request.method.decode("latin-1"), path))
        if handler is None:
            if any(p == path for _m, p in self.routes):
                return 405, "text/plain", b"method not allowed\n"
            return 404, "text/plain", b"not found\n"
        try:
            return await handler(dict(parse_qsl(query)))
        except Exception as exc:  # a broken handler must not take the endpoint down
            log.exception("handler for %s failed", path)
            return 500, "text/plain", f"{type(exc).__name__}: {exc}\n".encode()


def json_response(value: Any, status: int = 200) -> Response:
    return status, "application/json", (json.dumps(value, sort_keys=True) + "\n").encode()
