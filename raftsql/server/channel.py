"""`ClientChannel`: the byte pipe of one client connection, an asyncio Protocol.

Why not asyncio's StreamReader/StreamWriter: a session reads whatever bytes have arrived and
frames them itself (`pgwire.ServerConnection`), so a stream's buffering, limits and line
reading are work done twice; and a stream can only wake the session's task. A channel can
instead hand bytes that arrive while the session waits for its next message straight to the
session (`read(sink=...)`), which answers what needs no wait (a prepared point read under the
lease, a statement inside a transaction) in the same callback: no task wake-up, no coroutine
(issue 8: the asyncio stream frames were a fifth of the leader's CPU per lease read at 64
clients).

Flow control both ways: reading pauses while more than READ_LIMIT bytes wait for the session,
and `drain()` waits while the transport's buffer is over its high-water mark.

Answers written in that callback are held, and sent together with those of the other clients
whose bytes arrived in the same turn of the event loop (`AnswerBatch`): a client process
(pgbench's threads, a pool's event loop) sleeping in poll() is then woken once for all of its
answers, not once per answer. On a virtual machine whose idle cores halt, each such wake-up
costs the writer 10-20 us (docs/benchmarks.md, twenty-sixth and twenty-eighth rounds). Answers
written elsewhere (a write's, after its commit) go out at once: holding those made the first
clients of a commit wait for the last.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Final, cast

READ_LIMIT: Final = 1 << 20


class AnswerBatch:
    """The channels holding answers written in this turn's data callbacks; one callback,
    scheduled by the first, sends them all once the turn's I/O callbacks have run."""

    def __init__(self) -> None:
        self._held: list[ClientChannel] = []

    def hold(self, channel: ClientChannel) -> None:
        if not self._held:
            asyncio.get_running_loop().call_soon(self.send)
        self._held.append(channel)

    def send(self) -> None:
        if not self._held:  # the common case: called before every answer written at once
            return
        held, self._held = self._held, []
        for channel in held:
            channel.send_held()


class ClientChannel(asyncio.Protocol):
    """`on_connect(channel)` is called once the connection is made; the session then uses
    `read`, `write`, `drain`, `close` and `start_tls`. With `batch`, answers written in the
    data callback are held for it (module docstring)."""

    def __init__(self, on_connect: Callable[[ClientChannel], None],
                 batch: AnswerBatch | None = None) -> None:
        self._on_connect = on_connect
        self._batch = batch
        self._in_callback = False
        self._held: list[bytes] | None = None  # answers waiting for the batch, in order
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._pending = bytearray()  # received, not yet read
        self._reading_paused = False
        self._eof = False
        self._lost: Exception | None = None  # why the connection is gone; None while it is up
        self._waiter: asyncio.Future[bytes | None] | None = None
        self._sink: Callable[[bytes], bool] | None = None
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            sink = self._sink
            if sink is None:
                waiter.set_result(data)
                return
            self._in_callback = True
            try:
                keep_waiting = sink(data)
            finally:
                self._in_callback = False
            if not keep_waiting:
                waiter.set_result(None)
            return
        self._pending += data
        if len(self._pending) > READ_LIMIT and not self._reading_paused:
            self._reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close the transport: a client that stops sending is done

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc if exc is not None else ConnectionResetError("connection lost")
        self._eof = True
        self._wake()
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_exception(self._lost)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(b"")

    # ------------------------------------------------------------------ the session's side

    async def read(self, sink: Callable[[bytes], bool] | None = None) -> bytes | None:
        """The bytes received since the last read, waiting for some; b"" at end of input.

        With `sink`, bytes that arrive while this waits are given to sink first, in the
        protocol callback. sink takes them in either case: when it returns True, this goes
        on waiting; when False, this returns None, and the caller looks at what sink left."""
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            if self._reading_paused and self.transport is not None:
                self._reading_paused = False
                self.transport.resume_reading()
            return data
        if self._eof:
            return b""
        self._waiter = asyncio.get_running_loop().create_future()
        self._sink = sink
        try:
            return await self._waiter
        finally:
            self._waiter = None
            self._sink = None

    def write(self, data: bytes) -> None:
        if self._batch is None:
            self._write_now(data)
        elif self._in_callback:
            if self._held is None:
                self._held = []
                self._batch.hold(self)
            self._held.append(data)
        else:
            self._batch.send()  # the answers held before this one go first
            self._write_now(data)

    def _write_now(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def send_held(self) -> None:
        """Write the answers held for the batch (`AnswerBatch.send`, `close`)."""
        held, self._held = self._held, None
        if held:
            self._write_now(held[0] if len(held) == 1 else b"".join(held))

    @property
    def must_drain(self) -> bool:
        """`drain()` would wait (the client is slow to read) or raise (it is gone)."""
        return self._write_paused or self._lost is not None

    async def drain(self) -> None:
        """Wait while the transport holds more than its high-water mark; raises
        ConnectionError once the connection is gone."""
        if self._lost is not None:
            raise self._lost
        if not self._write_paused:
            return
        self._drained = asyncio.get_running_loop().create_future()
        try:
            await self._drained
        finally:
            self._drained = None

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        self.send_held()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Switch to TLS (after answering SSLRequest with 'S'): from here on, bytes come
        and go through the TLS transport."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(self.transport, self, context, server_side=True)
        if transport is None:
            raise ConnectionResetError("connection lost during the TLS handshake")
        self.transport = transport
