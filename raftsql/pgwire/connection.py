"""`ServerConnection`: the sans-I/O server side of the PostgreSQL v3 protocol.

Bytes go in with `receive_data()`, events come out of `next_event()`, and backend messages
become bytes with `send()`. Nothing here touches a socket, a clock or SQL, so the asyncio
listener is a short loop and every protocol rule is testable with plain bytes (the model is
h11's `Connection`; STYLE.md rule 5).

Bounds (STYLE.md rule 15): a frame's declared length is checked as soon as its 5-byte header
(4-byte length for startup packets) is buffered, before its body is, against
`max_message_size` (54000), the 10 000-byte startup cap and PostgreSQL's small-message cap
(08P01). Bytes after a bad header are dropped, so the buffer holds at most the frames already
validated plus one partial frame. Callers drain `next_event()` until NEED_DATA or PAUSED
before feeding more data.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Final, Literal

from . import backend as be
from . import frontend as fe
from .errors import (
    PROGRAM_LIMIT_EXCEEDED,
    PROTOCOL_VIOLATION,
    LocalProtocolError,
    ProtocolError,
)
from .state import (
    BACKEND,
    COPY_PHASES,
    FRONTEND,
    SERVER_TURN,
    SKIP_FROM,
    UNTAGGED,
    Action,
    Phase,
)

DEFAULT_MAX_MESSAGE_SIZE: Final = 64 * 1024 * 1024
MAX_STARTUP_PACKET_LENGTH: Final = 10_000  # PostgreSQL's cap on the length word minus 4
SMALL_MESSAGE_LIMIT: Final = 10_000  # PostgreSQL's PQ_SMALL_MESSAGE_LIMIT
MAX_AUTH_TOKEN_LENGTH: Final = 65_535  # PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH
_COMPACT_AT: Final = 64 * 1024

_I32 = struct.Struct("!i")
_TAG_LEN = struct.Struct("!Bi")
_SMALL_TAGS = frozenset(b"CDEHSXc")
_PASSWORD_TAG = ord("p")
_KNOWN_TAGS = frozenset(fe.READY_DECODERS) | {_PASSWORD_TAG}
_SYNC, _TERMINATE, _BIND_TAG = ord("S"), ord("X"), ord("B")
# What asyncpg, psycopg and pgbench send after each Bind of a prepared statement: an optional
# Describe of the unnamed portal, then Execute of it (for all rows, or one: asyncpg's
# fetchrow()), then Sync.
_DESCRIBE_UNNAMED = b"D\x00\x00\x00\x06P\x00"
_EXECUTE_UNNAMED = b"E\x00\x00\x00\x09\x00"  # Execute of portal "", its row limit follows
_SYNC_FRAME = b"S\x00\x00\x00\x04"
_SHORTEST_EXECUTION = 13 + 10 + 5  # Bind of "" to "" with no values, Execute "", Sync

# The ready phase's tables, looked up once: Enum members hash in Python, so a dict or set
# lookup keyed by the phase costs a function call, several per message on the hot path.
_READY: Final = Phase.READY
_READY_FRONTEND: Final = FRONTEND[Phase.READY]
_READY_BACKEND: Final = BACKEND[Phase.READY]
_SPECIAL_SENDS: Final = frozenset({be.ErrorResponse, be.SSLResponse, be.GSSENCResponse})

_AUTH_DECODERS: dict[Phase, Callable[[fe.Reader], object]] = {
    Phase.AUTH_PASSWORD: fe.decode_password,
    Phase.AUTH_SASL_INITIAL: fe.decode_sasl_initial,
    Phase.AUTH_SASL_CONTINUE: fe.decode_sasl_response,
}


def _execute_sync_at(buf: bytes | bytearray, pos: int) -> tuple[bool, int, int] | None:
    """[Describe portal "",] Execute "" (any row limit), Sync at ``pos``: (whether the Describe
    was there, the row limit, the offset after the Sync), or None when those bytes are not
    exactly that."""
    describe = buf.startswith(_DESCRIBE_UNNAMED, pos)
    at = pos + 7 if describe else pos
    if not (buf.startswith(_EXECUTE_UNNAMED, at) and buf.startswith(_SYNC_FRAME, at + 10)):
        return None
    return describe, int.from_bytes(buf[at + 6:at + 10], "big", signed=True), at + 15


class Signal(Enum):
    NEED_DATA = "NEED_DATA"  # feed more bytes with receive_data()
    PAUSED = "PAUSED"  # the server must send something before the client may go on


NEED_DATA: Final = Signal.NEED_DATA
PAUSED: Final = Signal.PAUSED


class ServerConnection:
    """One client connection, from the first startup packet to Terminate."""

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_startup_size: int = MAX_STARTUP_PACKET_LENGTH,
    ) -> None:
        assert max_message_size >= 4 and max_startup_size >= 8
        self.max_message_size = max_message_size
        self.max_startup_size = max_startup_size
        self._phase = Phase.STARTUP
        self._buf = bytearray()
        self._pos = 0  # first unconsumed byte
        self._scan = 0  # first byte whose frame header has not been validated
        self._poison: tuple[int, ProtocolError] | None = None  # bad header at this offset
        self._eof = False
        self.ssl_done = False
        self.gss_done = False
        self.startup: fe.StartupMessage | None = None
        # Per-type length caps below max_message_size (PostgreSQL postgres.c / auth.c).
        self._limits = {tag: min(SMALL_MESSAGE_LIMIT, max_message_size) for tag in _SMALL_TAGS}
        self._limits[_PASSWORD_TAG] = min(MAX_AUTH_TOKEN_LENGTH, max_message_size)

    # ------------------------------------------------------------------ state

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buf) - self._pos

    def skip_until_sync(self) -> None:
        """After an error in an extended-protocol message: discard everything up to the next
        Sync (55.2.3 "Extended Query": "the backend ... reads and discards messages until a
        Sync is reached")."""
        if self._phase not in SKIP_FROM:
            raise LocalProtocolError(f"skip_until_sync() in phase {self._phase.value}")
        self._phase = Phase.FAILED_EXTENDED

    def take_execute_sync(self) -> tuple[bool, int] | None:
        """Take the messages that end an ordinary execution of a prepared statement, when they
        are what is buffered next: [Describe portal "",] Execute "" (any row limit), Sync.
        Returns (whether the Describe was there, the Execute's row limit), or None when
        nothing was taken.

        Why: the session calls this after a Bind, and comparing buffered bytes then stands for
        three trips through framing, decoding and dispatch (issue 8: they were a fifth of the
        session's CPU per statement). asyncpg's fetchrow() asks for one row, its fetch() and
        execute(), psycopg and pgbench for all. The bytes are exact but for the limit, so
        nothing else can match: any other message, length or portal takes the general path."""
        if self._phase is not _READY:
            return None
        found = _execute_sync_at(self._buf, self._pos)
        if found is None:
            return None
        describe, max_rows, self._pos = found
        return describe, max_rows

    def whole_execution(self, data: bytes) -> tuple[fe.Bind, bool, int] | None:
        """`data` decoded at once when it is exactly one execution of a prepared statement and
        nothing is buffered: Bind of the unnamed portal, [Describe portal "",] Execute "" (any
        row limit), Sync. Returns (the Bind, whether the Describe was there, the Execute's row
        limit), or None; then the caller hands `data` to `receive_data` as usual. Nothing is
        consumed either way: these bytes never enter the buffer.

        Why: a client that waits for each answer (asyncpg's fetchrow(), pgbench, psycopg)
        sends exactly this, in one packet per statement, and buffering, checking and framing
        four messages one by one was a fifth of the leader's CPU per point read (issue 8).
        What `receive_data` and `next_event` would check of the same bytes is checked here
        (the phase, the Bind's length and limit, the exact bytes of the others); anything
        they would refuse or treat differently (a malformed or oversized Bind, a named
        portal, a byte more or less) is left to them, so this changes the cost, never the
        outcome."""
        size = len(data)
        if (size < _SHORTEST_EXECUTION or data[0] != _BIND_TAG or self._phase is not _READY
                or self._pos != len(self._buf) or self._poison is not None or self._eof):
            return None
        (length,) = _I32.unpack_from(data, 1)
        end = 1 + length
        if not 4 <= length <= self._limits.get(_BIND_TAG, self.max_message_size):
            return None
        found = _execute_sync_at(data, end)
        if found is None or found[2] != size:
            return None
        bind = fe.fast_bind(data[5:end])
        if bind is None or bind.portal:
            return None
        return bind, found[0], found[1]

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the socket; b"" means the peer closed its side."""
        if self._eof:
            raise LocalProtocolError("receive_data() after end of stream")
        if not data:
            self._eof = True
            return
        if self._poison is not None or self._phase is Phase.CLOSED:
            return  # nothing after a bad header or after Terminate will ever be read
        self._buf += data
        self._validate_headers()

    def next_event(self) -> fe.Event | Signal:
        """The next complete frontend message, NEED_DATA, PAUSED, or ConnectionClosed.
        Raises ProtocolError for malformed input; when `fatal`, the phase is CLOSED."""
        try:
            return self._next_event()
        except ProtocolError as err:
            if err.fatal:
                self._phase = Phase.CLOSED
            elif self._phase in COPY_PHASES:
                self._phase = Phase.READY  # a broken message aborts COPY (55.2.6)
            raise

    def _next_event(self) -> fe.Event | Signal:
        while True:
            phase = self._phase
            if phase is _READY:
                table = _READY_FRONTEND
                untagged = False
            else:
                if phase is Phase.CLOSED:
                    return fe.ConnectionClosed(clean=True)
                if phase in SERVER_TURN:
                    return PAUSED
                table = FRONTEND[phase]
                untagged = phase in UNTAGGED
            if self._poison is not None and self._poison[0] == self._pos:
                raise self._poison[1]
            frame = self._take_frame(untagged)
            if frame is None:
                if self._eof:
                    self._phase = Phase.CLOSED
                    return fe.ConnectionClosed(clean=self.buffered == 0)
                return NEED_DATA
            tag, body = frame
            if tag < 0:
                event: object = fe.decode_startup(body)
            elif phase is Phase.FAILED_EXTENDED and tag not in (_SYNC, _TERMINATE):
                continue  # skipped without decoding
            else:
                event = self._decode(phase, tag, body)
            outcome = table.get(type(event))
            if outcome is None:
                if phase in COPY_PHASES:
                    raise ProtocolError(
                        PROTOCOL_VIOLATION,
                        f"unexpected message type 0x{tag:02X} during COPY from stdin",
                    )
                raise ProtocolError(
                    PROTOCOL_VIOLATION,
                    f"unexpected {type(event).__name__} in phase {phase.value}",
                    fatal=True,
                )
            if outcome is phase:  # the common case in the ready phase: nothing else to do
                return event  # type: ignore[return-value]
            if outcome is Action.IGNORE:
                continue
            assert isinstance(outcome, Phase)
            self._on_frontend(event, outcome)
            return event  # type: ignore[return-value]

    def _on_frontend(self, event: object, nxt: Phase) -> None:
        prev = self._phase
        if nxt is prev:  # the common case in the ready phase: nothing else to do
            return
        if isinstance(event, fe.SSLRequest) and self.ssl_done or (
            isinstance(event, fe.GSSENCRequest) and self.gss_done
        ):
            # PostgreSQL treats a second negotiation code as an unknown protocol version.
            code = fe.SSL_REQUEST_CODE if isinstance(event, fe.SSLRequest) else (
                fe.GSSENC_REQUEST_CODE)
            raise ProtocolError(
                "0A000",
                f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
                "server supports 3.0 to 3.0",
                fatal=True,
            )
        if isinstance(event, fe.StartupMessage):
            self.startup = event
        self._phase = nxt
        if prev in UNTAGGED and nxt not in UNTAGGED:
            self._validate_headers()  # buffered bytes after the startup packet are frames

    def _decode(self, phase: Phase, tag: int, body: bytes) -> object:
        if phase is not _READY and phase in _AUTH_DECODERS:
            if tag != _PASSWORD_TAG:
                raise ProtocolError(
                    PROTOCOL_VIOLATION,
                    f"expected password response, got message type {tag}",
                    fatal=True,
                )
            decoder = _AUTH_DECODERS[phase]
            fatal = True  # PostgreSQL ends the connection on any bad auth message
        else:
            fast = fe.FAST_DECODERS.get(tag)
            if fast is not None:
                event = fast(body)
                if event is not None:
                    return event
            found = fe.READY_DECODERS.get(tag)
            if found is None:
                raise ProtocolError(
                    PROTOCOL_VIOLATION, f"invalid frontend message type {tag}", fatal=True
                )
            decoder, fatal = found, False
        try:
            return decoder(fe.Reader(body, fatal=fatal))
        except ProtocolError as err:
            err.message_type = chr(tag)
            raise

    # ------------------------------------------------------------------ framing

    def _header_error(self, tag: int, length: int) -> ProtocolError | None:
        if tag not in _KNOWN_TAGS:
            return ProtocolError(
                PROTOCOL_VIOLATION, f"invalid frontend message type {tag}", fatal=True
            )
        if length < 4:
            return ProtocolError(PROTOCOL_VIOLATION, "invalid message length", fatal=True)
        limit = self._limits.get(tag, self.max_message_size)
        if length > limit:
            if limit < self.max_message_size:  # PostgreSQL's per-type caps
                return ProtocolError(PROTOCOL_VIOLATION, "invalid message length", fatal=True)
            return ProtocolError(
                PROGRAM_LIMIT_EXCEEDED,
                f"message of {length} bytes exceeds the limit of {self.max_message_size}",
                fatal=True,
            )
        return None

    def _validate_headers(self) -> None:
        """Check every newly complete header; on the first bad one, drop what follows it."""
        if self._poison is not None or self._phase is Phase.CLOSED:
            return
        buf, end = self._buf, len(self._buf)
        scan = max(self._scan, self._pos)
        if self._phase in UNTAGGED:
            # Only the next startup packet: what follows may be TLS or tagged frames.
            if scan == self._pos and end - scan >= 4:
                (length,) = _I32.unpack_from(buf, scan)
                if length < 8 or length - 4 > self.max_startup_size:
                    self._set_poison(scan, ProtocolError(
                        PROTOCOL_VIOLATION, "invalid length of startup packet", fatal=True))
            return
        unpack = _TAG_LEN.unpack_from
        limits, largest = self._limits, self.max_message_size
        while end - scan >= 5:
            tag, length = unpack(buf, scan)
            if tag not in _KNOWN_TAGS or not 4 <= length <= limits.get(tag, largest):
                err = self._header_error(tag, length)
                if err is not None:
                    self._set_poison(scan, err)
                    return
            scan += 1 + length
        self._scan = scan

    def _set_poison(self, offset: int, err: ProtocolError) -> None:
        self._poison = (offset, err)
        del self._buf[offset:]

    def _take_frame(self, untagged: bool) -> tuple[int, bytes] | None:
        """Cut the next whole frame: (type byte, body), type -1 for startup packets."""
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if untagged:
            if avail < 4:
                return None
            (length,) = _I32.unpack_from(buf, pos)
            if length < 8 or length - 4 > self.max_startup_size:  # defensive: validated on receive
                raise ProtocolError(
                    PROTOCOL_VIOLATION, "invalid length of startup packet", fatal=True)
            if avail < length:
                return None
            tag, start, stop = -1, pos + 4, pos + length
        else:
            if avail < 5:
                return None
            tag, length = _TAG_LEN.unpack_from(buf, pos)
            if pos >= self._scan:  # not yet checked by _validate_headers()
                err = self._header_error(tag, length)
                if err is not None:
                    raise err
            if avail < 1 + length:
                return None
            start, stop = pos + 5, pos + 1 + length
        body = bytes(buf[start:stop])
        self._pos = stop
        if stop >= _COMPACT_AT and stop * 2 >= len(buf):
            del buf[:stop]
            self._pos = 0
            self._scan = max(0, self._scan - stop)
            if self._poison is not None:
                self._poison = (self._poison[0] - stop, self._poison[1])
        return tag, body

    # ------------------------------------------------------------------ output

    def send(self, message: be.BackendMessage) -> bytes:
        """Encode one backend message after checking that the phase allows it."""
        kind = type(message)
        if self._phase is _READY and kind not in _SPECIAL_SENDS:  # results: phase unchanged
            if _READY_BACKEND.get(kind) is _READY:
                return message.encode()
        if isinstance(message, be.ErrorResponse) and message.fatal:
            self._phase = Phase.CLOSED  # FATAL is allowed anywhere: the server then closes
            return message.encode()
        nxt = BACKEND[self._phase].get(kind)
        if nxt is None:
            raise LocalProtocolError(f"cannot send {kind.__name__} in phase {self._phase.value}")
        if isinstance(message, be.SSLResponse):
            if message.accept and self.buffered:
                # CVE-2021-23214: bytes sent before the TLS handshake must not be trusted.
                self._phase = Phase.CLOSED
                raise ProtocolError(
                    PROTOCOL_VIOLATION, "received unencrypted data after SSL request", fatal=True
                )
            self.ssl_done = True
        elif isinstance(message, be.GSSENCResponse):
            self.gss_done = True
        self._phase = nxt
        if nxt is Phase.STARTUP:
            self._validate_headers()  # the next startup packet may already be buffered
        return message.encode()

    def command_complete(self, tag: str) -> bytes:
        """CommandComplete fast path: the phase check of `send` without building a message."""
        if self._phase is not Phase.READY:
            raise LocalProtocolError(f"cannot send CommandComplete in phase {self._phase.value}")
        return be.encode_command_complete(tag)

    def send_rows(self, rows: Iterable[Sequence[bytes | None]]) -> bytes:
        """DataRow fast path: many rows, one phase check."""
        if self._phase is not Phase.READY:
            raise LocalProtocolError(f"cannot send DataRow in phase {self._phase.value}")
        return be.encode_data_rows(rows)

    def negotiate_protocol(self) -> be.NegotiateProtocolVersion | None:
        """The NegotiateProtocolVersion to send, if the StartupMessage asked for 3.x > 3.0 or
        `_pq_.` options (55.2.1: we support 3.0 and no options)."""
        s = self.startup
        if s is None or not s.needs_negotiation:
            return None
        return be.NegotiateProtocolVersion(0, tuple(s.protocol_options))


EventOrSignal = fe.Event | Literal[Signal.NEED_DATA, Signal.PAUSED]
