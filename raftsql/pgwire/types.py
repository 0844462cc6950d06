"""Value codecs for the builtin types: Python values <-> text (format 0) and binary
(format 1) wire bytes, byte-identical to PostgreSQL 15 under the session settings raftsql
reports (DateStyle ISO, IntervalStyle postgres, TimeZone UTC, bytea_output hex,
extra_float_digits 1). Stdlib only.

    encode(oid, value, fmt) -> bytes        decode(oid, data, fmt) -> value

Python types: bool; int (int2/int4/int8/oid); float (float4/float8); Decimal (numeric);
str (text, varchar, bpchar, name, unknown, "char"); bytes (bytea); date; time; datetime
(timestamp naive, timestamptz aware UTC); timedelta (interval); uuid.UUID; json/jsonb: any
json.loads value (a str given to encode is taken as JSON text already); arrays: nested lists.

Every failure of `decode` (bad client data) raises InvalidValue with PostgreSQL's SQLSTATE:
22P02 bad text, 22P03 bad binary, 22003 out of range, 22008 no Python value, 22021 bad
UTF-8, 42804 wrong array element type. `encode` raises InvalidValue 22003/22023 for values
the type cannot hold and TypeError for wrong Python types (a server bug).
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import arrays, datetimes, numeric
from .backend import FieldDescription
from .errors import (
    CHARACTER_NOT_IN_REPERTOIRE,
    DATATYPE_MISMATCH,
    DATETIME_FIELD_OVERFLOW,
    INVALID_BINARY_REPRESENTATION,
    INVALID_PARAMETER_VALUE,
    INVALID_TEXT_REPRESENTATION,
    NUMERIC_VALUE_OUT_OF_RANGE,
    InvalidValue,
)
from .floats import format_float, to_float4
from .oids import *  # noqa: F403  (re-exported: the OID constants live in oids.py)
from .oids import (
    BOOL,
    BPCHAR,
    BY_NAME,
    BYTEA,
    CHAR,
    DATE,
    FLOAT4,
    FLOAT8,
    INT2,
    INT4,
    INT8,
    INTERVAL,
    JSON,
    JSONB,
    NAME,
    NUMERIC,
    OID,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    TYPES,
    UNKNOWN,
    UUID,
    VARCHAR,
    TypeInfo,
)

TEXT_FORMAT, BINARY_FORMAT = 0, 1


@dataclass(frozen=True, slots=True)
class Codec:
    encode_text: Callable[[Any], bytes]
    decode_text: Callable[[bytes], Any]
    encode_binary: Callable[[Any], bytes]
    decode_binary: Callable[[bytes], Any]


class _Range(OverflowError):
    """Out of range for the type: 22003."""


# --------------------------------------------------------------------------- bool


def _bool_in(data: bytes) -> bool:
    """boolin: unique prefixes of true/false/yes/no, on/off (2+ chars), 1/0, any case."""
    s = data.decode("ascii").strip().lower()
    if s and ("true".startswith(s) or "yes".startswith(s) or s == "1"
              or (len(s) >= 2 and "on".startswith(s))):
        return True
    if s and ("false".startswith(s) or "no".startswith(s) or s == "0"
              or (len(s) >= 2 and "off".startswith(s))):
        return False
    raise ValueError(f'invalid input syntax for type boolean: "{s}"')


def _bool_recv(data: bytes) -> bool:
    if len(data) != 1:
        raise ValueError("insufficient data left in message")
    return data != b"\0"


BOOL_CODEC = Codec(lambda v: b"t" if v else b"f", _bool_in,
                   lambda v: b"\1" if v else b"\0", _bool_recv)


# --------------------------------------------------------------------------- integers

_INT_TEXT = re.compile(rb"\s*[+-]?\d+\s*")


def _int_codec(bits: int, name: str, signed: bool = True) -> Codec:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    st = struct.Struct("!" + ({16: "h", 32: "i", 64: "q"}[bits] if signed else "I"))

    def check(v: int) -> int:
        if not lo <= v <= hi:
            raise _Range(f"{name} out of range")
        return v

    def enc_text(v: int) -> bytes:
        return b"%d" % check(int(v))

    def dec_text(data: bytes) -> int:
        if not _INT_TEXT.fullmatch(data):
            raise ValueError(f'invalid input syntax for type {name}: "{data.decode("utf-8")}"')
        v = int(data)
        if not signed and -(1 << (bits - 1)) <= v < 0:
            v += 1 << bits  # oidin accepts negative values and wraps them
        if not lo <= v <= hi:
            raise _Range(f'value "{data.decode().strip()}" is out of range for type {name}')
        return v

    def enc_bin(v: int) -> bytes:
        return st.pack(check(int(v)))

    def dec_bin(data: bytes) -> int:
        return int(st.unpack(data)[0])

    return Codec(enc_text, dec_text, enc_bin, dec_bin)


INT2_CODEC = _int_codec(16, "smallint")
INT4_CODEC = _int_codec(32, "integer")
INT8_CODEC = _int_codec(64, "bigint")
OID_CODEC = _int_codec(32, "oid", signed=False)


# --------------------------------------------------------------------------- floats

_FLOAT_TEXT = re.compile(
    r"\s*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan))\s*", re.IGNORECASE
)
_F4 = struct.Struct("!f")
_F8 = struct.Struct("!d")


def _float_in(data: bytes, single: bool) -> float:
    text = data.decode("ascii")
    m = _FLOAT_TEXT.fullmatch(text)
    tname = "real" if single else "double precision"
    if m is None:
        raise ValueError(f'invalid input syntax for type {tname}: "{text}"')
    token = m.group(1)
    v = float(token)
    word = token.lstrip("+-").lower()
    finite_input = word not in ("inf", "infinity", "nan")
    if single and finite_input:
        try:
            v = to_float4(v)
        except OverflowError:
            v = float("inf")
    if finite_input and (v in (float("inf"), float("-inf"))
                         or (v == 0 and re.search(r"[1-9]", token.split("e")[0].split("E")[0]))):
        raise _Range(f'"{token}" is out of range for type {tname}')
    return v


def _float4_out(v: float) -> bytes:
    try:
        return format_float(to_float4(float(v)), single=True).encode("ascii")
    except OverflowError:
        raise _Range("value out of range: overflow") from None


def _float4_send(v: float) -> bytes:
    try:
        return _F4.pack(float(v))
    except OverflowError:
        raise _Range("value out of range: overflow") from None


FLOAT4_CODEC = Codec(_float4_out, lambda d: _float_in(d, True), _float4_send,
                     lambda d: float(_F4.unpack(d)[0]))
FLOAT8_CODEC = Codec(lambda v: format_float(float(v)).encode("ascii"),
                     lambda d: _float_in(d, False), lambda v: _F8.pack(float(v)),
                     lambda d: float(_F8.unpack(d)[0]))

NUMERIC_CODEC = Codec(numeric.encode_text, numeric.decode_text, numeric.encode_binary,
                      numeric.decode_binary)


# --------------------------------------------------------------------------- strings


def _str_out(v: str) -> bytes:
    if not isinstance(v, str):
        raise TypeError(f"expected str, got {type(v).__name__}")
    return v.encode("utf-8")


def _str_in(data: bytes) -> str:
    if b"\0" in data:
        raise UnicodeError('invalid byte sequence for encoding "UTF8": 0x00')
    return data.decode("utf-8")


TEXT_CODEC = Codec(_str_out, _str_in, _str_out, _str_in)


def _char_out(v: str) -> bytes:
    """"char" output (charout): empty for \\0, the byte itself if ASCII, else \\ooo."""
    b = _char_send(v)
    if b == b"\0":
        return b""
    return b if b[0] < 0x80 else b"\\%03o" % b[0]


def _char_send(v: str) -> bytes:
    """charsend: always one byte, \\0 for the empty "char"."""
    if len(v) > 1 or (v and ord(v) > 0xFF):
        raise TypeError('"char" holds one byte')
    return v.encode("latin-1") or b"\0"


def _char_in(data: bytes) -> str:
    if len(data) == 4 and data[:1] == b"\\" and all(0x30 <= c <= 0x37 for c in data[1:]):
        return chr(int(data[1:], 8) & 0xFF)  # charin: \ooo
    return data[:1].decode("latin-1")


CHAR_CODEC = Codec(_char_out, _char_in, _char_send,
                   lambda d: d[:1].decode("latin-1").rstrip("\0"))


def _bytea_out(v: bytes) -> bytes:
    return b"\\x" + bytes(v).hex().encode("ascii")


_BYTEA_ESCAPE = re.compile(rb"\\([0-3][0-7]{2}|\\)|\\")


def _bytea_in(data: bytes) -> bytes:
    if data[:2] == b"\\x":
        return bytes.fromhex(data[2:].decode("ascii"))

    def sub(m: re.Match[bytes]) -> bytes:
        if m.group(1) is None:
            raise ValueError('invalid input syntax for type bytea')
        return b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1), 8)])

    return _BYTEA_ESCAPE.sub(sub, data)


BYTEA_CODEC = Codec(_bytea_out, _bytea_in, lambda v: bytes(v), bytes)


# --------------------------------------------------------------------------- uuid, json


def _uuid_send(v: uuid.UUID) -> bytes:
    return v.bytes


def _uuid_recv(data: bytes) -> uuid.UUID:
    if len(data) != 16:
        raise ValueError("incorrect binary data format")
    return uuid.UUID(bytes=data)


UUID_CODEC = Codec(lambda v: str(v).encode("ascii"), lambda d: uuid.UUID(d.decode("ascii")),
                   _uuid_send, _uuid_recv)


def _jsonb_order(v: Any) -> Any:
    """jsonb output order: keys sorted by length, then bytes (PostgreSQL jsonb.c)."""
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: (len(k.encode("utf-8")), k.encode("utf-8")))
        return {k: _jsonb_order(v[k]) for k in keys}
    if isinstance(v, list):
        return [_jsonb_order(x) for x in v]
    return v


def _json_out(v: Any, jsonb: bool = False) -> bytes:
    if isinstance(v, str):
        return v.encode("utf-8")  # already JSON text (asyncpg's convention)
    try:
        return json.dumps(_jsonb_order(v) if jsonb else v, ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except ValueError as exc:
        raise InvalidValue(INVALID_PARAMETER_VALUE, str(exc)) from None


def _json_in(data: bytes) -> Any:
    return json.loads(_str_in(data))


def _jsonb_recv(data: bytes) -> Any:
    if data[:1] != b"\1":
        raise ValueError("unsupported jsonb version number")
    return _json_in(data[1:])


JSON_CODEC = Codec(_json_out, _json_in, _json_out, _json_in)
JSONB_CODEC = Codec(lambda v: _json_out(v, True), _json_in,
                    lambda v: b"\1" + _json_out(v, True), _jsonb_recv)


# --------------------------------------------------------------------------- dates, times

DATE_CODEC = Codec(datetimes.date_text, datetimes.parse_date, datetimes.date_binary,
                   datetimes.date_from_binary)
TIME_CODEC = Codec(datetimes.time_text, datetimes.parse_time, datetimes.time_binary,
                   datetimes.time_from_binary)
TIMESTAMP_CODEC = Codec(datetimes.timestamp_text, datetimes.parse_timestamp,
                        datetimes.timestamp_binary, datetimes.timestamp_from_binary)
TIMESTAMPTZ_CODEC = Codec(datetimes.timestamptz_text, datetimes.parse_timestamptz,
                          datetimes.timestamptz_binary, datetimes.timestamptz_from_binary)
INTERVAL_CODEC = Codec(datetimes.interval_text,
                       lambda d: datetimes.interval_to_timedelta(*datetimes.parse_interval(d)),
                       datetimes.interval_binary, datetimes.interval_from_binary)


# --------------------------------------------------------------------------- registry

CODECS: dict[int, Codec] = {
    BOOL: BOOL_CODEC, BYTEA: BYTEA_CODEC, CHAR: CHAR_CODEC, NAME: TEXT_CODEC,
    INT8: INT8_CODEC, INT2: INT2_CODEC, INT4: INT4_CODEC, TEXT: TEXT_CODEC, OID: OID_CODEC,
    JSON: JSON_CODEC, FLOAT4: FLOAT4_CODEC, FLOAT8: FLOAT8_CODEC, UNKNOWN: TEXT_CODEC,
    BPCHAR: TEXT_CODEC, VARCHAR: TEXT_CODEC, DATE: DATE_CODEC, TIME: TIME_CODEC,
    TIMESTAMP: TIMESTAMP_CODEC, TIMESTAMPTZ: TIMESTAMPTZ_CODEC, INTERVAL: INTERVAL_CODEC,
    NUMERIC: NUMERIC_CODEC, UUID: UUID_CODEC, JSONB: JSONB_CODEC,
}


def _array_codec(element_oid: int, elem: Codec) -> Codec:
    flat = element_oid in (JSON, JSONB)  # a JSON value may itself be a list
    return Codec(
        lambda v: arrays.encode_text(v, elem.encode_text, flat),
        lambda d: arrays.decode_text(d, elem.decode_text),
        lambda v: arrays.encode_binary(v, element_oid, elem.encode_binary, flat),
        lambda d: arrays.decode_binary(d, element_oid, elem.decode_binary),
    )


for _info in list(TYPES.values()):
    if _info.element:
        CODECS[_info.oid] = _array_codec(_info.element, CODECS[_info.element])


def type_info(oid: int) -> TypeInfo:
    info = TYPES.get(oid)
    if info is None:
        raise InvalidValue("42704", f"type with OID {oid} does not exist")
    return info


def type_by_name(name: str) -> TypeInfo:
    return BY_NAME[name]


def field(name: str, oid: int, fmt: int = TEXT_FORMAT, *, typmod: int = -1,
          table_oid: int = 0, attnum: int = 0) -> FieldDescription:
    """A RowDescription column with the type size PostgreSQL reports for `oid` (pg_type.typlen),
    so the server never has to remember typlen values."""
    return FieldDescription(name, oid, type_info(oid).typlen, typmod, fmt, table_oid, attnum)


def _codec(oid: int) -> Codec:
    codec = CODECS.get(oid)
    if codec is None:
        raise InvalidValue("42704", f"type with OID {oid} does not exist")
    return codec


def _type_name(oid: int) -> str:
    info = TYPES.get(oid)
    return info.name if info else str(oid)


def decode(oid: int, data: bytes, fmt: int = TEXT_FORMAT) -> Any:
    """Wire bytes of a parameter (or COPY field) -> Python value."""
    codec = _codec(oid)
    try:
        return codec.decode_binary(data) if fmt == BINARY_FORMAT else codec.decode_text(data)
    except InvalidValue:
        raise
    except (_Range, OverflowError) as exc:
        raise InvalidValue(NUMERIC_VALUE_OUT_OF_RANGE, str(exc)) from None
    except datetimes.OutOfRange as exc:
        raise InvalidValue(DATETIME_FIELD_OVERFLOW, str(exc)) from None
    except arrays.ArrayError as exc:
        state = DATATYPE_MISMATCH if "element type" in str(exc) else (
            INVALID_BINARY_REPRESENTATION if fmt == BINARY_FORMAT
            else INVALID_TEXT_REPRESENTATION)
        raise InvalidValue(state, str(exc)) from None
    except UnicodeError:
        raise InvalidValue(CHARACTER_NOT_IN_REPERTOIRE,
                           'invalid byte sequence for encoding "UTF8"') from None
    except (ValueError, ArithmeticError, struct.error, IndexError, TypeError,
            RecursionError) as exc:
        if fmt == BINARY_FORMAT:
            raise InvalidValue(INVALID_BINARY_REPRESENTATION,
                               f"incorrect binary data format for type {_type_name(oid)}"
                               ) from None
        raise InvalidValue(
            INVALID_TEXT_REPRESENTATION,
            str(exc) if "invalid input syntax" in str(exc)
            else f"invalid input syntax for type {_type_name(oid)}",
        ) from None


def encode(oid: int, value: Any, fmt: int = TEXT_FORMAT) -> bytes:
    """Python value -> wire bytes for a DataRow (None is the caller's business: length -1)."""
    codec = _codec(oid)
    try:
        return codec.encode_binary(value) if fmt == BINARY_FORMAT else codec.encode_text(value)
    except (_Range, OverflowError, struct.error) as exc:
        raise InvalidValue(NUMERIC_VALUE_OUT_OF_RANGE, str(exc)) from None
    except arrays.ArrayError as exc:
        raise InvalidValue("2202E", str(exc)) from None


def encode_text(oid: int, value: Any) -> bytes:
    return encode(oid, value, TEXT_FORMAT)


def encode_binary(oid: int, value: Any) -> bytes:
    return encode(oid, value, BINARY_FORMAT)


def decode_text(oid: int, data: bytes) -> Any:
    return decode(oid, data, TEXT_FORMAT)


def decode_binary(oid: int, data: bytes) -> Any:
    return decode(oid, data, BINARY_FORMAT)


__all__ = [
    "BINARY_FORMAT", "CODECS", "TEXT_FORMAT", "TYPES", "Codec", "Decimal", "TypeInfo",
    "decode", "decode_binary", "decode_text", "encode", "encode_binary", "encode_text",
    "field", "type_by_name", "type_info",
]
