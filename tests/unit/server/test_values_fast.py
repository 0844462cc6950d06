"""values.encode_result / param_value fast paths against the codec they shortcut.

Source of truth: raftsql.pgwire.types (the PostgreSQL 15 text/binary codecs, checked against
recorded server bytes in tests/unit/pgwire/test_types.py) applied through values.to_python
and values.python_to_param, i.e. the general path. The fast paths must give the same bytes
and values, and leave every error to the general path."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.pgwire import oids as o
from raftsql.pgwire import types as pgt
from raftsql.server import values
from raftsql.sql.errors import SqlError

TEXTS = [o.TEXT, o.VARCHAR, o.NAME, o.UNKNOWN]
INTS = [o.INT2, o.INT4, o.INT8]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TEXTS), st.text(max_size=20), st.sampled_from([0, 1]))
def test_text_results(oid: int, value: str, fmt: int) -> None:
    assert values.encode_result(oid, value, fmt) == pgt.encode(
        oid, values.to_python(oid, value), fmt)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INTS), st.integers(-(2**70), 2**70), st.sampled_from([0, 1]))
def test_int_results(oid: int, value: int, fmt: int) -> None:
    try:
        expected: object = pgt.encode(oid, values.to_python(oid, value), fmt)
    except Exception:  # noqa: BLE001 - out of range: text falls back to digits, binary is 22P03
        expected = str(value).encode() if fmt == 0 else "22P03"
    try:
        got: object = values.encode_result(oid, value, fmt)
    except SqlError as exc:
        got = exc.sqlstate
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INTS), st.integers(-(2**63), 2**63 - 1))
def test_binary_int_parameters(oid: int, value: int) -> None:
    size = {o.INT2: 2, o.INT4: 4, o.INT8: 8}[oid]
    if not -(2 ** (8 * size - 1)) <= value < 2 ** (8 * size - 1):
        return
    data = value.to_bytes(size, "big", signed=True)
    assert values.param_value(oid, data, 1) == values.python_to_param(
        oid, pgt.decode(oid, data, 1)) == value


_INT_TEXT = st.one_of(
    st.integers(-(2**65), 2**65).map(lambda v: str(v).encode()),
    st.from_regex(rb"\A\s{0,2}[+-]?[0-9_]{0,6}\s{0,2}\Z"),
    st.binary(max_size=8),
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(INTS), _INT_TEXT)
def test_text_int_parameters(oid: int, data: bytes) -> None:
    """Integers sent as text: the value or the SQLSTATE the codec's general path gives
    (22P02 for bad syntax, such as the '_' PostgreSQL 15 refuses; 22003 out of range)."""
    try:
        expected: object = values.python_to_param(oid, pgt.decode(oid, data, 0))
    except pgt.InvalidValue as exc:
        expected = exc.sqlstate
    try:
        got: object = values.param_value(oid, data, 0)
    except SqlError as exc:
        got = exc.sqlstate
    assert got == expected
    assert type(got) is type(expected)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([*TEXTS, 0]), st.binary(max_size=12), st.sampled_from([0, 1]))
def test_text_parameters(oid: int, data: bytes, fmt: int) -> None:
    """Text and binary input of text types are the UTF-8 bytes; a NUL or bad UTF-8 is
    PostgreSQL's 22021 (invalid byte sequence for encoding "UTF8")."""
    try:
        expected: object = data.decode("utf-8") if b"\0" not in data else "22021"
    except UnicodeDecodeError:
        expected = "22021"
    try:
        got: object = values.param_value(oid, data, fmt)
    except SqlError as exc:
        got = exc.sqlstate
    assert got == expected


def test_wrong_length_binary_int_is_refused() -> None:
    """A 2-byte value for int4 is PostgreSQL's 22P03 (incorrect binary data format)."""
    with pytest.raises(SqlError) as info:
        values.param_value(o.INT4, struct.pack("!h", 1), 1)
    assert info.value.sqlstate == "22P03"
