"""Backend (server -> client) messages and their encoders.

Source of truth: PostgreSQL 15 docs, "Message Formats" (55.7) and "Error and Notice Message
Fields" (55.8). Each message is a frozen dataclass with `encode() -> bytes`; hot paths
(DataRow, CommandComplete) also have plain functions that skip the dataclass.
`ServerConnection.send()` checks the phase before encoding; these functions never do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_HEADER = struct.Struct("!ci")
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_ROW_HEADER = struct.Struct("!cih")
_FIELD = struct.Struct("!IhIhih")
_NULL = _I32.pack(-1)
_pack_i32 = _I32.pack
_pack_row_header = _ROW_HEADER.pack


def frame(tag: bytes, body: bytes = b"") -> bytes:
    """Prefix `body` with its tag and Int32 length (the length counts itself, not the tag)."""
    return _HEADER.pack(tag, len(body) + 4) + body


def _cstr(s: str) -> bytes:
    b = s.encode("utf-8")
    if b"\0" in b:
        raise ValueError(f"a protocol string cannot contain NUL: {s!r}")
    return b + b"\0"


def encode_data_row(values: Sequence[bytes | None]) -> bytes:
    """DataRow fast path: one struct call per non-NULL column and one join per row."""
    parts: list[bytes] = [b""]
    append = parts.append
    size = 6
    for v in values:
        if v is None:
            append(_NULL)
            size += 4
        else:
            n = len(v)
            append(_pack_i32(n))
            append(v)
            size += 4 + n
    parts[0] = _pack_row_header(b"D", size, len(values))
    return b"".join(parts)


def encode_data_rows(rows: Iterable[Sequence[bytes | None]]) -> bytes:
    return b"".join([encode_data_row(r) for r in rows])


_COMMAND_COMPLETE: dict[str, bytes] = {}


def encode_command_complete(tag: str) -> bytes:
    """CommandComplete; the frames of the few hundred commonest tags ("SELECT 1") are kept."""
    found = _COMMAND_COMPLETE.get(tag)
    if found is None:
        found = frame(b"C", _cstr(tag))
        if len(_COMMAND_COMPLETE) < 512:
            _COMMAND_COMPLETE[tag] = found
    return found


# --------------------------------------------------------------------------- startup / auth


@dataclass(frozen=True, slots=True)
class SSLResponse:
    """The single byte answering SSLRequest: `S` (TLS follows) or `N` (stay in plain text)."""

    accept: bool = False

    def encode(self) -> bytes:
        return b"S" if self.accept else b"N"


@dataclass(frozen=True, slots=True)
class GSSENCResponse:
    """The single byte `N` answering GSSENCRequest (raftsql has no GSSAPI)."""

    def encode(self) -> bytes:
        return b"N"


@dataclass(frozen=True, slots=True)
class AuthenticationOk:
    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(0))


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword:
    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(3))


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password:
    salt: bytes

    def encode(self) -> bytes:
        if len(self.salt) != 4:
            raise ValueError("the MD5 salt is 4 bytes")
        return frame(b"R", _I32.pack(5) + self.salt)


@dataclass(frozen=True, slots=True)
class AuthenticationSASL:
    mechanisms: tuple[str, ...] = ("SCRAM-SHA-256",)

    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(10) + b"".join(_cstr(m) for m in self.mechanisms) + b"\0")


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue:
    data: bytes

    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(11) + self.data)


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal:
    data: bytes

    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(12) + self.data)


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    """Tell a client that asked for 3.x (x > 0) or `_pq_.` options what we support."""

    newest_minor: int = 0
    unrecognized_options: tuple[str, ...] = ()

    def encode(self) -> bytes:
        body = _I32.pack(self.newest_minor) + _I32.pack(len(self.unrecognized_options))
        return frame(b"v", body + b"".join(_cstr(o) for o in self.unrecognized_options))


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    name: str
    value: str

    def encode(self) -> bytes:
        return frame(b"S", _cstr(self.name) + _cstr(self.value))


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    pid: int
    secret_key: int

    def encode(self) -> bytes:
        return frame(b"K", _I32.pack(self.pid) + _I32.pack(self.secret_key))


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    """`status`: 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block."""

    status: str = "I"

    def encode(self) -> bytes:
        found = _READY_FOR_QUERY.get(self.status)
        if found is None:
            raise ValueError(f"bad transaction status {self.status!r}")
        return found


_READY_FOR_QUERY = {s: frame(b"Z", s.encode("ascii")) for s in ("I", "T", "E")}

# --------------------------------------------------------------------------- query results


@dataclass(frozen=True, slots=True)
class FieldDescription:
    """One RowDescription column. `type_size` is pg_type.typlen; `type_modifier` -1 = none."""

    name: str
    type_oid: int
    type_size: int = -1
    type_modifier: int = -1
    format: int = 0
    table_oid: int = 0
    column_attnum: int = 0

    def encode(self) -> bytes:
        return _cstr(self.name) + _FIELD.pack(
            self.table_oid, self.column_attnum, self.type_oid, self.type_size,
            self.type_modifier, self.format,
        )


@dataclass(frozen=True, slots=True)
class RowDescription:
    fields: tuple[FieldDescription, ...]

    def encode(self) -> bytes:
        return frame(
            b"T", _I16.pack(len(self.fields)) + b"".join(f.encode() for f in self.fields)
        )


@dataclass(frozen=True, slots=True)
class DataRow:
    values: Sequence[bytes | None]

    def encode(self) -> bytes:
        return encode_data_row(self.values)


@dataclass(frozen=True, slots=True)
class CommandComplete:
    tag: str

    def encode(self) -> bytes:
        return encode_command_complete(self.tag)


_EMPTY_FRAMES: dict[bytes, bytes] = {}


@dataclass(frozen=True, slots=True)
class _Empty:
    """A message with a tag and no body; the bytes are the same every time."""

    TAG = b"?"

    def encode(self) -> bytes:
        found = _EMPTY_FRAMES.get(self.TAG)
        if found is None:
            found = _EMPTY_FRAMES[self.TAG] = _HEADER.pack(self.TAG, 4)
        return found


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse(_Empty):
    """Answers a Query (or Execute) whose text held no statement."""

    TAG = b"I"


@dataclass(frozen=True, slots=True)
class ParseComplete(_Empty):
    TAG = b"1"


@dataclass(frozen=True, slots=True)
class BindComplete(_Empty):
    TAG = b"2"


@dataclass(frozen=True, slots=True)
class CloseComplete(_Empty):
    """Answers Close, also for names that do not exist."""

    TAG = b"3"


@dataclass(frozen=True, slots=True)
class NoData(_Empty):
    """Describe of a statement or portal that returns no rows."""

    TAG = b"n"


@dataclass(frozen=True, slots=True)
class PortalSuspended(_Empty):
    """Execute stopped at max_rows; the portal can continue."""

    TAG = b"s"


@dataclass(frozen=True, slots=True)
class CopyDone(_Empty):
    """End of COPY TO STDOUT data."""

    TAG = b"c"


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    type_oids: tuple[int, ...]

    def encode(self) -> bytes:
        n = len(self.type_oids)
        return frame(b"t", _I16.pack(n) + struct.pack(f"!{n}I", *self.type_oids))


# --------------------------------------------------------------------------- COPY


@dataclass(frozen=True, slots=True)
class _CopyResponse:
    """`format` 0 = text/csv, 1 = binary; one format per column (all 0 when `format` is 0)."""

    format: int
    column_formats: tuple[int, ...]

    TAG = b"?"

    def encode(self) -> bytes:
        n = len(self.column_formats)
        body = bytes([self.format]) + _I16.pack(n) + struct.pack(f"!{n}h", *self.column_formats)
        return frame(self.TAG, body)


@dataclass(frozen=True, slots=True)
class CopyInResponse(_CopyResponse):
    TAG = b"G"


@dataclass(frozen=True, slots=True)
class CopyOutResponse(_CopyResponse):
    TAG = b"H"


@dataclass(frozen=True, slots=True)
class CopyBothResponse(_CopyResponse):
    TAG = b"W"


@dataclass(frozen=True, slots=True)
class CopyData:
    data: bytes

    def encode(self) -> bytes:
        return frame(b"d", self.data)


# --------------------------------------------------------------------------- errors, notices


# Field codes of 55.8, in dataclass-field order below.
_FIELD_CODES = {
    "severity": b"S", "severity_nonlocalized": b"V", "code": b"C", "message": b"M",
    "detail": b"D", "hint": b"H", "position": b"P", "internal_position": b"p",
    "internal_query": b"q", "where": b"W", "schema_name": b"s", "table_name": b"t",
    "column_name": b"c", "data_type_name": b"d", "constraint_name": b"n", "file": b"F",
    "line": b"L", "routine": b"R",
}


@dataclass(frozen=True, slots=True)
class _Diagnostic:
    """Fields of ErrorResponse/NoticeResponse. `severity_nonlocalized` (V) defaults to
    `severity`; psql, libpq and asyncpg read S/V, C and M, and show D, H and P."""

    severity: str
    code: str
    message: str
    detail: str | None = None
    hint: str | None = None
    position: int | None = None
    internal_position: int | None = None
    internal_query: str | None = None
    where: str | None = None
    schema_name: str | None = None
    table_name: str | None = None
    column_name: str | None = None
    data_type_name: str | None = None
    constraint_name: str | None = None
    file: str | None = None
    line: int | None = None
    routine: str | None = None
    severity_nonlocalized: str | None = None

    TAG = b"?"

    def encode(self) -> bytes:
        parts = []
        for name, code in _FIELD_CODES.items():  # PostgreSQL's order: S V C M D H P ...
            value = getattr(self, name)
            if name == "severity_nonlocalized" and value is None:
                value = self.severity
            if value is not None:
                parts.append(code + _cstr(str(value)))
        parts.append(b"\0")
        return frame(self.TAG, b"".join(parts))


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Diagnostic):
    TAG = b"E"

    @property
    def fatal(self) -> bool:
        return self.severity in ("FATAL", "PANIC")


@dataclass(frozen=True, slots=True)
class NoticeResponse(_Diagnostic):
    TAG = b"N"


@dataclass(frozen=True, slots=True)
class NotificationResponse:
    """LISTEN/NOTIFY delivery: sending backend pid, channel, payload."""

    pid: int
    channel: str
    payload: str

    def encode(self) -> bytes:
        return frame(b"A", _I32.pack(self.pid) + _cstr(self.channel) + _cstr(self.payload))


BackendMessage = (
    SSLResponse | GSSENCResponse | AuthenticationOk | AuthenticationCleartextPassword
    | AuthenticationMD5Password | AuthenticationSASL | AuthenticationSASLContinue
    | AuthenticationSASLFinal | NegotiateProtocolVersion | ParameterStatus | BackendKeyData
    | ReadyForQuery | RowDescription | DataRow | CommandComplete | ParameterDescription
    | EmptyQueryResponse | ParseComplete | BindComplete | CloseComplete | NoData
    | PortalSuspended | CopyDone
    | CopyInResponse | CopyOutResponse | CopyBothResponse | CopyData | ErrorResponse
    | NoticeResponse | NotificationResponse
)
