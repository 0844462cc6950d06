"""SQLite values <-> PostgreSQL wire values, by the column's or parameter's type OID.

Why: SQLite stores BOOLEAN as 0/1, NUMERIC as int/real/text, timestamps and UUIDs as text, so
the value SQLite hands back says little about the PostgreSQL type a client expects. The type
comes from RowDescription (inference.py) and this module makes the value fit it, then lets
`raftsql.pgwire.types` produce PostgreSQL's exact text or binary bytes. In the other direction
a client's parameter is decoded by its OID and stored the way the translator expects: booleans
as 0/1, numbers as numbers, everything else as PostgreSQL's canonical text.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from raftsql.pgwire import oids as o
from raftsql.pgwire import types as pgt
from raftsql.pgwire.datetimes import format_interval
from raftsql.pgwire.errors import InvalidValue
from raftsql.sql import intervals
from raftsql.sql.errors import SqlError

INT_OIDS = frozenset({o.INT2, o.INT4, o.INT8, o.OID})
FLOAT_OIDS = frozenset({o.FLOAT4, o.FLOAT8})
TEXT_OIDS = frozenset({o.TEXT, o.VARCHAR, o.BPCHAR, o.NAME, o.UNKNOWN, o.CHAR})
_DATETIME_OIDS = frozenset({o.DATE, o.TIME, o.TIMESTAMP, o.TIMESTAMPTZ, o.INTERVAL})
_INT4_RANGE = (-(2**31), 2**31 - 1)

# Fast paths for the commonest values (a prepared point read binds an int and returns a
# text). Each gives the bytes or value the general path gives, and steps aside (falls
# through to it) for anything it is not sure of, so the general path keeps every error.
_PLAIN_TEXT_OIDS = frozenset({o.TEXT, o.VARCHAR, o.NAME, o.UNKNOWN})  # TEXT_CODEC, no padding
_INT_STRUCTS = {o.INT2: struct.Struct("!h"), o.INT4: struct.Struct("!i"),
                o.INT8: struct.Struct("!q")}
_TEXT_PARAM_OIDS = TEXT_OIDS | {o.JSON, o.JSONB}
# integer parameters sent as text (pgbench, psql's \bind): the codec's own parser, called
# directly; an error is left to the general path, which reports it
_TEXT_INTS = {oid: pgt.CODECS[oid].decode_text for oid in (o.INT2, o.INT4, o.INT8)}


# --------------------------------------------------------------------------- results


def _float_text(v: float) -> str:
    return pgt.encode_text(o.FLOAT8, v).decode("ascii")


def to_python(oid: int, value: Any, scale: int | None = None) -> Any:
    """A SQLite value as the Python value `raftsql.pgwire.types` encodes for `oid`.

    Raises ValueError/TypeError when the value cannot be that type."""
    if value is None:
        return None
    if oid == o.BOOL:
        if isinstance(value, int | float):
            return bool(value)
        return pgt.decode_text(o.BOOL, str(value).encode())
    if oid in INT_OIDS:
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str):
            return int(Decimal(value.strip()))
        return int(value)
    if oid in FLOAT_OIDS:
        if isinstance(value, str):
            return pgt.decode_text(o.FLOAT8, value.encode())
        return float(value)
    if oid == o.NUMERIC:
        if isinstance(value, float):
            d = Decimal(repr(value)) if value == value and abs(value) != float("inf") else (
                Decimal("NaN"))
        elif isinstance(value, bytes):
            d = Decimal(value.decode())
        else:
            d = Decimal(str(value).strip())
        if scale is not None and d.is_finite():
            if scale < 0:
                scale = division_scale(d, -scale - 1)
            d = d.quantize(Decimal(1).scaleb(-scale))
        return d
    if oid in TEXT_OIDS:
        if isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
        else:
            text = _float_text(value) if isinstance(value, float) else str(value)
        if oid == o.BPCHAR and scale is not None:
            text = text.ljust(scale)  # char(n) output is blank-padded (bpcharout)
        return text
    if oid == o.BYTEA:
        if isinstance(value, str):  # stored as PostgreSQL bytea input text
            return pgt.decode_text(o.BYTEA, value.encode("utf-8"))
        return bytes(value)
    if oid in _DATETIME_OIDS:
        if isinstance(value, bytes):
            value = value.decode()
        return pgt.decode_text(oid, str(value).encode())
    if oid == o.UUID:
        if isinstance(value, bytes) and len(value) == 16:
            return uuid.UUID(bytes=value)
        return uuid.UUID(str(value))
    if oid in (o.JSON, o.JSONB):
        if isinstance(value, bytes):
            value = value.decode()
        if oid == o.JSONB and isinstance(value, str):
            return json.loads(value)  # jsonb output is normalised (key order, spacing)
        if isinstance(value, str):
            return value
        return json.dumps(value)
    info = o.TYPES.get(oid)
    if info is not None and info.element:
        items = json.loads(value) if isinstance(value, str | bytes) else value
        if not isinstance(items, list):
            raise ValueError("not an array")
        return [to_python(info.element, v) for v in items]
    return str(value)


INT2VECTOR, OIDVECTOR = 22, 30


def _vector(oid: int, value: Any, fmt: int) -> bytes:
    """int2vector/oidvector (catalog columns): text "1 2", binary a 1-D array with lower
    bound 0 (PostgreSQL's int2vectorsend/oidvectorsend)."""
    if isinstance(value, bytes):
        value = value.decode()
    items = [int(v) for v in (value.split() if isinstance(value, str) else value)]
    if fmt == pgt.TEXT_FORMAT:
        return " ".join(str(v) for v in items).encode()
    elem, code = (o.INT2, "h") if oid == INT2VECTOR else (o.OID, "I")
    out = [struct.pack("!iiI", 1, 0, elem), struct.pack("!ii", len(items), 0)]
    size = 2 if code == "h" else 4
    out += [struct.pack("!i" + code, size, v) for v in items]
    return b"".join(out)


def division_scale(value: Decimal, at_least: int) -> int:
    """The display scale of a numeric quotient: 16 significant digits, counted from the
    quotient's first base-10000 digit (numeric.c select_div_scale), at least `at_least`."""
    if not value:
        return max(16, at_least)
    weight = (value.adjusted() // 4) if value.adjusted() >= 0 else -((-value.adjusted() - 1) // 4) - 1
    return min(1000, max(16 - 4 * weight, at_least, 0))


def encode_result(oid: int, value: Any, fmt: int, scale: int | None = None) -> bytes | None:
    """One DataRow field. A value that does not fit the described type is sent as its text in
    text format (what a client would see from PostgreSQL's output function) and refused in
    binary format (22P03: a client would misread the bytes)."""
    if value is None:
        return None
    kind = type(value)
    if kind is str and oid in _PLAIN_TEXT_OIDS:
        try:
            return value.encode("utf-8")  # text and binary output are the same bytes
        except UnicodeEncodeError:
            pass
    elif kind is int and oid in _INT_STRUCTS:
        if fmt == pgt.TEXT_FORMAT:
            return b"%d" % value  # out of range too: the general path's text fallback
        try:
            return _INT_STRUCTS[oid].pack(value)
        except struct.error:
            pass  # out of range: the general path refuses it (22P03)
    if oid in (INT2VECTOR, OIDVECTOR):
        return _vector(oid, value, fmt)
    if oid == o.INTERVAL and isinstance(value, str):
        try:
            return _interval_result(value, fmt)
        except SqlError:
            pass  # not an interval: the generic path below decides
    if oid not in pgt.CODECS and fmt == pgt.TEXT_FORMAT:
        return (value if isinstance(value, bytes) else str(value).encode())
    try:
        return pgt.encode(oid, to_python(oid, value, scale), fmt)
    except (ValueError, TypeError, ArithmeticError, InvalidOperation, InvalidValue) as exc:
        if fmt == pgt.TEXT_FORMAT:
            if isinstance(value, bytes):
                return pgt.encode_text(o.BYTEA, value)
            return (_float_text(value) if isinstance(value, float) else str(value)).encode()
        raise SqlError("22P03", f"cannot send value {value!r} as type "
                       f"{o.TYPES[oid].name if oid in o.TYPES else oid}: {exc}") from None


_INTERVAL_BINARY = struct.Struct("!qii")


def _interval_result(value: str, fmt: int) -> bytes:
    """Stored interval text -> PostgreSQL's text or binary (microseconds, days, months;
    interval_send). Done here rather than through timedelta, which would fold months into
    30-day days and print '1 mon' as '30 days'."""
    months, days, us = intervals.parse(value)
    if fmt == pgt.TEXT_FORMAT:
        return format_interval(months, days, us).encode("ascii")
    return _INTERVAL_BINARY.pack(us, days, months)


def oid_of_value(value: Any) -> int:
    """PostgreSQL's type for an expression column whose type only its values tell."""
    if isinstance(value, bool):
        return o.BOOL
    if isinstance(value, int):
        return o.INT4 if _INT4_RANGE[0] <= value <= _INT4_RANGE[1] else o.INT8
    if isinstance(value, float):
        return o.FLOAT8
    if isinstance(value, bytes):
        return o.BYTEA
    return o.TEXT


# --------------------------------------------------------------------------- parameters


def _canonical_text(oid: int, value: Any) -> str:
    return pgt.encode_text(oid, value).decode("utf-8")


def param_value(oid: int, data: bytes | None, fmt: int) -> Any:
    """A Bind (or COPY) field as the value the Database binds: None, int, float, str, bytes,
    or a list for arrays. Bad client bytes raise SqlError with PostgreSQL's SQLSTATE."""
    if data is None:
        return None
    if oid in (0, o.UNKNOWN):
        oid = o.TEXT
    if fmt == pgt.BINARY_FORMAT:
        st = _INT_STRUCTS.get(oid)
        if st is not None and len(data) == st.size:
            return st.unpack(data)[0]
    else:
        parse = _TEXT_INTS.get(oid)
        if parse is not None:
            try:
                return parse(data)
            except (ValueError, OverflowError):
                pass
    if oid in _PLAIN_TEXT_OIDS and b"\0" not in data:
        try:
            return data.decode("utf-8")  # text and binary input are the same bytes
        except UnicodeDecodeError:
            pass
    try:
        if fmt == pgt.TEXT_FORMAT and oid in _TEXT_PARAM_OIDS:
            return pgt.decode_text(o.TEXT, data)
        if fmt == pgt.BINARY_FORMAT and oid in (o.JSON, o.JSONB):
            raw = data[1:] if oid == o.JSONB else data
            if oid == o.JSONB and data[:1] != b"\1":
                raise InvalidValue("22P03", "unsupported jsonb version number")
            return pgt.decode_text(o.TEXT, raw)
        if oid == o.INTERVAL:  # kept as months/days/time (see _interval_result)
            if fmt == pgt.TEXT_FORMAT:
                return intervals.canonical(pgt.decode_text(o.TEXT, data))
            if len(data) != _INTERVAL_BINARY.size:
                raise InvalidValue("22P03", "insufficient data left in message")
            us, days, months = _INTERVAL_BINARY.unpack(data)
            return format_interval(months, days, us)
        value = pgt.decode(oid, data, fmt)
    except InvalidValue as exc:
        raise SqlError(exc.sqlstate, exc.message) from None
    return python_to_param(oid, value)


def python_to_param(oid: int, value: Any) -> Any:
    """A decoded Python value in the form the translator's SQL expects to find in SQLite."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if value.is_finite() and isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return str(value)
    if isinstance(value, list):
        info = o.TYPES.get(oid)
        elem = info.element if info is not None else o.TEXT
        return [python_to_param(elem, v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return _canonical_text(oid, value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)
