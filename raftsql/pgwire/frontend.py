"""Frontend (client -> server) messages: the events `ServerConnection.next_event()` returns,
and the functions that decode one message body into one event.

Source of truth: PostgreSQL 15 docs, "Frontend/Backend Protocol" > "Message Formats" (55.7).
Every decoder takes a complete body (the frame was cut by connection.py) and either returns an
event or raises `ProtocolError`; struct/index/unicode errors never escape because every read
is bounds-checked first. Content errors are non-fatal: the frame was consumed whole.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import (
    CHARACTER_NOT_IN_REPERTOIRE,
    INVALID_PARAMETER_VALUE,
    PROTOCOL_VIOLATION,
    ProtocolError,
)

_I16 = struct.Struct("!h")
_U16 = struct.Struct("!H")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")


class Reader:
    """Bounds-checked cursor over one message body (PostgreSQL's pq_getmsg* family)."""

    __slots__ = ("data", "pos", "fatal")

    def __init__(self, data: bytes, *, fatal: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.fatal = fatal

    def fail(self, message: str, sqlstate: str = PROTOCOL_VIOLATION) -> ProtocolError:
        return ProtocolError(sqlstate, message, fatal=self.fatal)

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("insufficient data left in message")

    def int16(self) -> int:
        self._need(2)
        (v,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def uint16(self) -> int:
        self._need(2)
        (v,) = _U16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def int32(self) -> int:
        self._need(4)
        (v,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def uint32(self) -> int:
        self._need(4)
        (v,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def raw(self, n: int) -> bytes:
        self._need(n)
        v = self.data[self.pos : self.pos + n]
        self.pos += n
        return v

    def rest(self) -> bytes:
        v = self.data[self.pos :]
        self.pos = len(self.data)
        return v

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise self.fail("invalid string in message")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(
                f'invalid byte sequence for encoding "UTF8": 0x{raw[exc.start:exc.start + 1].hex()}',
                CHARACTER_NOT_IN_REPERTOIRE,
            ) from None

    def end(self) -> None:
        if self.pos != len(self.data):
            raise self.fail("invalid message format")


# --------------------------------------------------------------------------- startup phase


@dataclass(frozen=True, slots=True)
class SSLRequest:
    """Code 80877103: the client asks for TLS. The server answers `SSLResponse`."""


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    """Code 80877104: the client asks for GSSAPI encryption. raftsql always answers `N`."""


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Code 80877102, sent on a fresh connection: cancel the query of backend `pid`."""

    pid: int
    secret_key: int


@dataclass(frozen=True, slots=True)
class StartupMessage:
    """Protocol 3.x StartupMessage. `minor` > 0 or `protocol_options` (`_pq_.*` keys) mean the
    client asked for something newer; the server may answer NegotiateProtocolVersion."""

    parameters: dict[str, str]
    minor: int = 0
    protocol_options: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return self.parameters["user"]

    @property
    def database(self) -> str:
        """PostgreSQL defaults the database name to the user name."""
        return self.parameters.get("database") or self.parameters["user"]

    @property
    def needs_negotiation(self) -> bool:
        return self.minor > 0 or bool(self.protocol_options)


# --------------------------------------------------------------------------- authentication


@dataclass(frozen=True, slots=True)
class PasswordMessage:
    """'p' answering AuthenticationCleartextPassword or AuthenticationMD5Password."""

    password: str


@dataclass(frozen=True, slots=True)
class SASLInitialResponse:
    """'p' answering AuthenticationSASL: the chosen mechanism and the client-first message."""

    mechanism: str
    data: bytes | None


@dataclass(frozen=True, slots=True)
class SASLResponse:
    """'p' answering AuthenticationSASLContinue: the client-final message."""

    data: bytes


# --------------------------------------------------------------------------- ready phase


@dataclass(frozen=True, slots=True)
class Query:
    """'Q' simple query: one string, possibly several statements."""

    sql: str


@dataclass(frozen=True, slots=True)
class Parse:
    """'P': prepare `query` as statement `name` ("" = unnamed); 0 in `param_oids` = infer."""

    name: str
    query: str
    param_oids: tuple[int, ...]


@dataclass(slots=True)
class Bind:
    """'B': bind `params` (None = SQL NULL) to `statement`, creating `portal`.

    Format code lists follow the protocol's shorthand (empty = all text, one = applies to all,
    else one per item); `param_format(i)` and `result_formats_for(n)` expand them.
    Not frozen, but never changed once made: a frozen dataclass's __init__ costs four times
    as much, and one is made per execution of a prepared statement (issue 8)."""

    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]

    def param_format(self, index: int) -> int:
        """Format of parameter `index` (O(1); the decoder already checked the count)."""
        codes = self.param_formats
        if not codes:
            return 0
        return codes[0] if len(codes) == 1 else codes[index]

    def result_formats_for(self, ncolumns: int) -> tuple[int, ...]:
        """Per-column result formats; 08P01 when the count fits neither shorthand (PostgreSQL:
        'bind message has N result formats but query has M columns')."""
        return expand_formats(self.result_formats, ncolumns, "result")


@dataclass(frozen=True, slots=True)
class Describe:
    """'D': describe a prepared statement (kind 'S') or a portal (kind 'P')."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Execute:
    """'E': run `portal`; `max_rows` <= 0 means no limit."""

    portal: str
    max_rows: int


@dataclass(frozen=True, slots=True)
class Close:
    """'C': close a prepared statement (kind 'S') or portal (kind 'P')."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Sync:
    """'S': end of an extended-query sequence; the server answers ReadyForQuery."""


@dataclass(frozen=True, slots=True)
class Flush:
    """'H': send everything pending now, without ending the sequence."""


@dataclass(frozen=True, slots=True)
class Terminate:
    """'X': the client is closing the connection."""


@dataclass(frozen=True, slots=True)
class CopyData:
    """'d': a chunk of COPY FROM STDIN data (chunk boundaries carry no meaning)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CopyDone:
    """'c': end of COPY FROM STDIN data."""


@dataclass(frozen=True, slots=True)
class CopyFail:
    """'f': the client aborts COPY FROM STDIN with a message."""

    message: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """'F': the legacy fast-path call. Decoded only so the server can reject it cleanly."""

    function_oid: int
    arg_formats: tuple[int, ...]
    args: tuple[bytes | None, ...]
    result_format: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed the socket (`receive_data(b"")`). `clean` = nothing was half-received."""

    clean: bool


FrontendMessage = (
    SSLRequest | GSSENCRequest | CancelRequest | StartupMessage | PasswordMessage
    | SASLInitialResponse | SASLResponse | Query | Parse | Bind | Describe | Execute | Close
    | Sync | Flush | Terminate | CopyData | CopyDone | CopyFail | FunctionCall
)
Event = FrontendMessage | ConnectionClosed


# --------------------------------------------------------------------------- helpers


def expand_formats(codes: tuple[int, ...], n: int, what: str) -> tuple[int, ...]:
    """Apply the protocol's format-code shorthand: 0 codes = text for all, 1 = for all."""
    if len(codes) == n:
        return codes
    if not codes:
        return (0,) * n
    if len(codes) == 1:
        return codes * n
    noun = "parameters" if what == "parameter" else "columns"
    raise ProtocolError(
        PROTOCOL_VIOLATION,
        f"bind message has {len(codes)} {what} formats but query has {n} {noun}",
    )


def _formats(r: Reader) -> tuple[int, ...]:
    n = r.uint16()
    if n * 2 > len(r.data) - r.pos:
        raise r.fail("insufficient data left in message")
    codes = struct.unpack_from(f"!{n}h", r.data, r.pos)
    r.pos += 2 * n
    for code in codes:
        if code not in (0, 1):
            raise r.fail(f"unsupported format code: {code}", INVALID_PARAMETER_VALUE)
    return codes


def _values(r: Reader) -> tuple[bytes | None, ...]:
    n = r.uint16()
    if n * 4 > len(r.data) - r.pos:  # every value needs at least its length word
        raise r.fail("insufficient data left in message")
    data, pos = r.data, r.pos
    out: list[bytes | None] = []
    unpack = _I32.unpack_from
    append = out.append
    size = len(data)
    for _ in range(n):
        if pos + 4 > size:
            raise r.fail("insufficient data left in message")
        (length,) = unpack(data, pos)
        pos += 4
        if length == -1:
            append(None)
        elif length < 0 or pos + length > size:
            raise r.fail("insufficient data left in message")
        else:
            append(data[pos : pos + length])
            pos += length
    r.pos = pos
    return tuple(out)


def _kind(r: Reader, what: str) -> str:
    k = r.raw(1)
    if k not in (b"S", b"P"):
        raise r.fail(f"invalid {what} message subtype {k[0]}")
    return k.decode("ascii")


# --------------------------------------------------------------------------- decoders


def decode_query(r: Reader) -> Query:
    q = Query(r.cstring())
    r.end()
    return q


def decode_parse(r: Reader) -> Parse:
    name, query = r.cstring(), r.cstring()
    n = r.uint16()
    if n * 4 != len(r.data) - r.pos:
        raise r.fail("invalid message format")
    oids = struct.unpack_from(f"!{n}I", r.data, r.pos)
    r.pos += 4 * n
    return Parse(name, query, oids)


def decode_bind(r: Reader) -> Bind:
    portal, statement = r.cstring(), r.cstring()
    pformats = _formats(r)
    params = _values(r)
    if len(pformats) not in (0, 1, len(params)):
        raise r.fail(
            f"bind message has {len(pformats)} parameter formats but {len(params)} parameters"
        )
    rformats = _formats(r)
    r.end()
    return Bind(portal, statement, pformats, params, rformats)


def decode_describe(r: Reader) -> Describe:
    d = Describe(_kind(r, "DESCRIBE"), r.cstring())
    r.end()
    return d


def decode_execute(r: Reader) -> Execute:
    e = Execute(r.cstring(), r.int32())
    r.end()
    return e


def decode_close(r: Reader) -> Close:
    c = Close(_kind(r, "CLOSE"), r.cstring())
    r.end()
    return c


def _empty(event: Sync | Flush | Terminate | CopyDone) -> Callable[[Reader], object]:
    def decode(r: Reader) -> object:
        r.end()
        return event

    return decode


def decode_copy_data(r: Reader) -> CopyData:
    return CopyData(r.rest())


def decode_copy_fail(r: Reader) -> CopyFail:
    f = CopyFail(r.cstring())
    r.end()
    return f


def decode_function_call(r: Reader) -> FunctionCall:
    oid = r.uint32()
    formats = _formats(r)
    args = _values(r)
    result = r.int16()
    r.end()
    return FunctionCall(oid, formats, args, result)


def decode_password(r: Reader) -> PasswordMessage:
    p = PasswordMessage(r.cstring())
    r.end()
    return p


def decode_sasl_initial(r: Reader) -> SASLInitialResponse:
    mechanism = r.cstring()
    n = r.int32()
    data = None if n == -1 else r.raw(n)
    r.end()
    return SASLInitialResponse(mechanism, data)


def decode_sasl_response(r: Reader) -> SASLResponse:
    return SASLResponse(r.rest())


# --------------------------------------------------------------------------- fast decoders
#
# A prepared statement's Bind/Execute/Sync arrive for every execution, and the Reader-based
# decoders above cost a method call per field. These decode the well-formed messages with
# plain slicing and struct calls and return None for anything unusual (a missing NUL, bad
# UTF-8, a bad format code, a short or long body); the caller then runs the decoder above,
# which raises the exact error. So they change the cost, never the outcome.

_CODES = tuple(struct.Struct(f"!{n}h") for n in range(8))


def _fast_codes(data: bytes, pos: int) -> tuple[tuple[int, ...], int] | None:
    (n,) = _U16.unpack_from(data, pos)
    pos += 2
    if n == 0:
        return (), pos
    codes = (_CODES[n] if n < 8 else struct.Struct(f"!{n}h")).unpack_from(data, pos)
    for code in codes:
        if code != 0 and code != 1:
            return None
    return codes, pos + 2 * n


def fast_bind(data: bytes) -> Bind | None:
    try:
        a = data.index(b"\0")
        b = data.index(b"\0", a + 1)
        portal, statement = data[:a].decode("utf-8"), data[a + 1 : b].decode("utf-8")
        found = _fast_codes(data, b + 1)
        if found is None:
            return None
        pformats, pos = found
        (n,) = _U16.unpack_from(data, pos)
        pos += 2
        size = len(data)
        values: list[bytes | None] = []
        append = values.append
        unpack = _I32.unpack_from
        for _ in range(n):
            (length,) = unpack(data, pos)
            pos += 4
            if length == -1:
                append(None)
            elif length < 0 or pos + length > size:
                return None
            else:
                append(data[pos : pos + length])
                pos += length
        if len(pformats) > 1 and len(pformats) != n:
            return None
        found = _fast_codes(data, pos)
        if found is None:
            return None
        rformats, pos = found
    except (ValueError, struct.error):  # no NUL, bad UTF-8, short body
        return None
    if pos != size:
        return None
    return Bind(portal, statement, pformats, tuple(values), rformats)


def _fast_execute(data: bytes) -> Execute | None:
    a = data.find(b"\0")
    if a < 0 or len(data) != a + 5:
        return None
    try:
        portal = data[:a].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return Execute(portal, _I32.unpack_from(data, a + 1)[0])


_SYNC = Sync()


def _fast_sync(data: bytes) -> Sync | None:
    return None if data else _SYNC


FAST_DECODERS: dict[int, Callable[[bytes], object | None]] = {
    ord("B"): fast_bind,
    ord("E"): _fast_execute,
    ord("S"): _fast_sync,
}


# Tag -> decoder for the ready phase. 'p' is absent: its meaning depends on the auth phase.
READY_DECODERS: dict[int, Callable[[Reader], object]] = {
    ord("Q"): decode_query,
    ord("P"): decode_parse,
    ord("B"): decode_bind,
    ord("D"): decode_describe,
    ord("E"): decode_execute,
    ord("C"): decode_close,
    ord("S"): _empty(_SYNC),
    ord("H"): _empty(Flush()),
    ord("X"): _empty(Terminate()),
    ord("d"): decode_copy_data,
    ord("c"): _empty(CopyDone()),
    ord("f"): decode_copy_fail,
    ord("F"): decode_function_call,
}


# --------------------------------------------------------------------------- startup packets

SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102
PROTOCOL_3_0 = 3 << 16


def decode_startup(body: bytes) -> SSLRequest | GSSENCRequest | CancelRequest | StartupMessage:
    """Decode a startup packet body (everything after its length word). All errors are fatal:
    PostgreSQL closes the connection on any bad startup packet."""
    r = Reader(body, fatal=True)
    code = r.uint32()
    if code == SSL_REQUEST_CODE:
        r.end()
        return SSLRequest()
    if code == GSSENC_REQUEST_CODE:
        r.end()
        return GSSENCRequest()
    if code == CANCEL_REQUEST_CODE:
        pid, key = r.int32(), r.int32()
        r.end()
        return CancelRequest(pid, key)
    major, minor = code >> 16, code & 0xFFFF
    if major != 3:
        raise ProtocolError(
            "0A000",
            f"unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0",
            fatal=True,
        )
    params: dict[str, str] = {}
    options: dict[str, str] = {}
    while True:
        name = r.cstring()
        if not name:
            break
        value = r.cstring()
        (options if name.startswith("_pq_.") else params)[name] = value
    if r.pos != len(body):
        raise r.fail("invalid startup packet layout: expected terminator as last byte")
    if not params.get("user"):
        raise ProtocolError(
            "28000", "no PostgreSQL user name specified in startup packet", fatal=True
        )
    return StartupMessage(params, minor, options)
