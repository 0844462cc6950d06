"""Arrays <-> (nested) Python lists, for any element codec.

Text form as PostgreSQL's array_out/array_in: '{1,2,NULL}', '{{1,2},{3,4}}', elements quoted
with backslash escapes when empty, equal to NULL, or holding braces, quotes, backslashes, the
delimiter or whitespace; an optional '[lo:hi]=' prefix is accepted and the bounds dropped.
Binary form as array_send/array_recv: Int32 ndim, Int32 has-nulls flag, UInt32 element OID,
(Int32 size, Int32 lower bound) per dimension, then (Int32 length or -1, bytes) per element.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Any

MAXDIM = 6  # PostgreSQL's MAXDIM
_HEAD = struct.Struct("!iiI")
_I32 = struct.Struct("!i")
_NULL = _I32.pack(-1)
_NEEDS_QUOTES = re.compile(rb'[{}",\\ \t\n\r\v\f]|^$|^[nN][uU][lL][lL]$')
_ESCAPE = re.compile(rb'(["\\])')


class ArrayError(ValueError):
    """Malformed or non-rectangular array (PostgreSQL 22P02 / 2202E)."""


def _shape(value: list[Any], flat: bool) -> list[int]:
    """Dimensions of a rectangular nested list (flat: elements are never sub-arrays)."""
    dims = [len(value)]
    if flat or not value or not isinstance(value[0], list | tuple):
        if not flat and any(isinstance(v, list | tuple) for v in value):
            raise ArrayError("multidimensional arrays must have sub-arrays with matching dimensions")
        return dims if value else []
    subs = [_shape(list(v), flat) if isinstance(v, list | tuple) else None for v in value]
    if any(s != subs[0] for s in subs) or subs[0] == []:
        raise ArrayError("multidimensional arrays must have sub-arrays with matching dimensions")
    assert subs[0] is not None
    dims += subs[0]
    if len(dims) > MAXDIM:
        raise ArrayError(f"number of array dimensions ({len(dims)}) exceeds the maximum ({MAXDIM})")
    return dims


def _flatten(value: list[Any], depth: int) -> list[Any]:
    out = list(value)
    for _ in range(depth - 1):
        out = [x for sub in out for x in sub]
    return out


def encode_text(value: list[Any], element: Callable[[Any], bytes], flat: bool = False) -> bytes:
    dims = _shape(list(value), flat)
    if not dims:
        return b"{}"

    def one(v: Any) -> bytes:
        if v is None:
            return b"NULL"
        s = element(v)
        if _NEEDS_QUOTES.search(s):
            return b'"' + _ESCAPE.sub(rb"\\\1", s) + b'"'
        return s

    def level(v: list[Any], d: int) -> bytes:
        if d == len(dims) - 1:
            return b"{" + b",".join([one(x) for x in v]) + b"}"
        return b"{" + b",".join([level(list(x), d + 1) for x in v]) + b"}"

    return level(list(value), 0)


# PostgreSQL's array_in skips only these (scanner_isspace), not all of Unicode's whitespace:
# an element '\x1f' is data, sent unquoted by array_out and by encode_text above.
_WS = r"[ \t\n\r\v\f]"
_TOKEN = re.compile(
    rf'{_WS}*(?:(\{{)|(\}})|(,)|"((?:[^"\\]|\\.)*)"'
    rf'|((?:[^{{}},"\\ \t\n\r\v\f]|\\.)+(?:{_WS}+(?:[^{{}},"\\ \t\n\r\v\f]|\\.)+)*)){_WS}*',
    re.S,
)
_UNESCAPE = re.compile(r"\\(.)", re.S)
_BOUNDS = re.compile(
    rf"{_WS}*(?:\[{_WS}*[+-]?\d+{_WS}*(?::{_WS}*[+-]?\d+{_WS}*)?\])+{_WS}*=", re.S)


def decode_text(data: bytes, element: Callable[[bytes], Any]) -> list[Any]:
    text = data.decode("utf-8")
    pos = 0
    m = _BOUNDS.match(text)
    if m:
        pos = m.end()
    stack: list[list[Any]] = []
    result: list[Any] | None = None
    expect_item = True  # after '{' or ','
    closed_last = False
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ArrayError(f'malformed array literal: "{text}"')
        pos = m.end()
        if m[1]:
            if not expect_item or result is not None or len(stack) >= MAXDIM:
                raise ArrayError(f'malformed array literal: "{text}"')
            stack.append([])
            closed_last = False
            expect_item = True
            continue
        if m[2]:
            if not stack or (expect_item and stack[-1] and not closed_last):
                raise ArrayError(f'malformed array literal: "{text}"')
            done = stack.pop()
            if stack:
                stack[-1].append(done)
            else:
                result = done
            expect_item = False
            closed_last = True
            continue
        if m[3]:
            if expect_item or not stack:
                raise ArrayError(f'malformed array literal: "{text}"')
            expect_item = True
            closed_last = False
            continue
        if not expect_item or not stack:
            raise ArrayError(f'malformed array literal: "{text}"')
        # Elements are wrapped in 1-tuples so that an element that is itself a list (json)
        # is never mistaken for a sub-array.
        if m[4] is not None:
            stack[-1].append((element(_UNESCAPE.sub(r"\1", m[4]).encode("utf-8")),))
        elif m[5].upper() == "NULL":
            stack[-1].append((None,))
        else:
            stack[-1].append((element(_UNESCAPE.sub(r"\1", m[5]).encode("utf-8")),))
        expect_item = False
        closed_last = False
    if result is None or stack:
        raise ArrayError(f'malformed array literal: "{text}"')
    _check_rectangular(result)
    return _unwrap(result)


def _unwrap(value: list[Any]) -> list[Any]:
    return [_unwrap(v) if isinstance(v, list) else v[0] for v in value]


def _check_rectangular(value: list[Any]) -> None:
    if not value:
        return
    kinds = {isinstance(v, list) for v in value}
    if len(kinds) > 1:
        raise ArrayError("multidimensional arrays must have sub-arrays with matching dimensions")
    if kinds == {True}:
        shapes = {len(v) for v in value}
        if len(shapes) > 1 or 0 in shapes:
            raise ArrayError("multidimensional arrays must have sub-arrays with matching dimensions")
        for v in value:
            _check_rectangular(v)


def encode_binary(value: list[Any], element_oid: int, element: Callable[[Any], bytes],
                  flat: bool = False) -> bytes:
    dims = _shape(list(value), flat)
    items = _flatten(list(value), len(dims)) if dims else []
    parts = [b""]
    has_null = 0
    for v in items:
        if v is None:
            has_null = 1
            parts.append(_NULL)
        else:
            b = element(v)
            parts.append(_I32.pack(len(b)))
            parts.append(b)
    parts[0] = _HEAD.pack(len(dims), has_null, element_oid) + b"".join(
        struct.pack("!ii", d, 1) for d in dims
    )
    return b"".join(parts)


def decode_binary(data: bytes, element_oid: int, element: Callable[[bytes], Any]) -> list[Any]:
    ndim, flags, oid = _HEAD.unpack_from(data)
    if not 0 <= ndim <= MAXDIM:
        raise ArrayError(f"invalid number of dimensions: {ndim}")
    if flags not in (0, 1):
        raise ArrayError("invalid array flags")
    if oid != element_oid:
        raise ArrayError(
            f"binary data has array element type {oid} instead of expected {element_oid}"
        )
    pos = 12
    dims = []
    for _ in range(ndim):
        size, _lbound = struct.unpack_from("!ii", data, pos)
        pos += 8
        if size < 0:
            raise ArrayError("array size exceeds the maximum allowed")
        dims.append(size)
    total = 1
    for d in dims:
        total *= d
    if ndim == 0 or total == 0:
        total = 0
    if total * 4 > len(data) - pos:  # each element needs its length word: no huge allocations
        raise ArrayError("insufficient data left in message")
    items: list[Any] = []
    append = items.append
    unpack = _I32.unpack_from
    size_all = len(data)
    for _ in range(total):
        (n,) = unpack(data, pos)
        pos += 4
        if n == -1:
            append(None)
            continue
        if n < 0 or pos + n > size_all:
            raise ArrayError("insufficient data left in message")
        append(element(data[pos : pos + n]))
        pos += n
    if pos != size_all:
        raise ArrayError("incorrect binary data format in array")
    for d in reversed(dims[1:]):
        items = [items[i : i + d] for i in range(0, len(items), d)]
    return items
