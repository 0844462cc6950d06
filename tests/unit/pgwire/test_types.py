"""Value codecs against PostgreSQL 15.18 itself: data/pg15_types.json holds the exact text
and binary bytes a real server sent for each expression of type_cases.py (regenerate with
regen_pg15_golden.py). Edge cases below cite PostgreSQL's input functions."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from type_cases import CASES

from raftsql.pgwire import InvalidValue
from raftsql.pgwire import oids as o
from raftsql.pgwire import types as t

GOLDEN = json.loads((Path(__file__).parent / "data" / "pg15_types.json").read_text())["cases"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                     math.copysign(1, b))
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return (a.is_nan() and b.is_nan()) or a == b and str(a) == str(b) or (
            a == b and a.as_tuple().exponent == b.as_tuple().exponent)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


IDS = [c[0] for c in CASES]


def test_golden_covers_every_case() -> None:
    assert set(GOLDEN) == set(IDS)


@pytest.mark.parametrize(("sql", "oid", "value", "direction"), CASES, ids=IDS)
@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_against_postgresql(sql: str, oid: int, value: Any, direction: str, fmt: str) -> None:
    golden = GOLDEN[sql]
    assert golden["oid"] == oid
    wire = bytes.fromhex(golden[fmt])
    code = 0 if fmt == "text" else 1
    decoded = t.decode(oid, wire, code)
    assert _same(decoded, value) or decoded == value, (decoded, value)
    if direction == "both":
        assert t.encode(oid, value, code) == wire


def test_type_table_matches_pg_type() -> None:
    """typlen/typarray as `SELECT oid, typname, typlen, typarray FROM pg_type` on 15.18."""
    assert (t.type_info(o.NAME).typlen, t.type_info(o.UNKNOWN).typlen) == (64, -2)
    assert t.type_info(o.INTERVAL).typlen == 16 and t.type_info(o.UUID).typlen == 16
    assert t.type_info(o.JSON).array_oid == 199 and t.type_info(o.JSONB).array_oid == 3807
    assert t.type_info(o.UNKNOWN).array_oid == 0
    assert t.type_info(1007).element == o.INT4
    assert t.type_by_name("timestamptz").oid == 1184
    assert t.field("n", o.NAME, 1).encode() == b"n\0" + bytes.fromhex(
        "00000000" "0000" "00000013" "0040" "ffffffff" "0001")


@pytest.mark.parametrize(("oid", "text", "value"), [
    (o.BOOL, b"  YES ", True), (o.BOOL, b"of", False), (o.BOOL, b"tr", True),
    (o.BOOL, b"0", False), (o.INT4, b" -12 ", -12), (o.INT8, b"+7", 7),
    (o.FLOAT8, b" inf", float("inf")), (o.FLOAT8, b"-Infinity", float("-inf")),
    (o.FLOAT8, b"1E3", 1000.0), (o.FLOAT8, b".5", 0.5),
    (o.NUMERIC, b" 1.5e-3 ", Decimal("0.0015")), (o.NUMERIC, b"-0", Decimal("0")),
    (o.BYTEA, b"abc\\\\\\001", b"abc\\\x01"), (o.BYTEA, b"\\x01 02", b"\x01\x02"),
    (o.TIMESTAMP, b"2024-01-02", datetime(2024, 1, 2)),
    (o.TIMESTAMP, b"2024-01-02T03:04:05+02", datetime(2024, 1, 2, 3, 4, 5)),
    (o.TIMESTAMP, b"2024-01-02 03:04:05.1234567", datetime(2024, 1, 2, 3, 4, 5, 123457)),
    (o.INTERVAL, b"1 week 2 hours", timedelta(days=7, hours=2)),
    (o.INTERVAL, b"@ 3 mins", timedelta(minutes=3)),
    (o.INT4_ARRAY, b"[0:1]={1,2}", [1, 2]), (o.INT4_ARRAY, b" { 1 , 2 } ", [1, 2]),
    (o.TEXT_ARRAY, b'{a b, "c\\"d",e\\,f}', ["a b", 'c"d', "e,f"]),
    (o.TEXT_ARRAY, b"{{a},{b}}", [["a"], ["b"]]),
    (o.DATE, b"2000-01-01", date(2000, 1, 1)), (o.OID, b"-1", 4294967295),
])
def test_accepted_inputs(oid: int, text: bytes, value: Any) -> None:
    """Input forms PostgreSQL's *in functions accept besides their own output."""
    assert _same(t.decode_text(oid, text), value)


@pytest.mark.parametrize(("oid", "data", "fmt", "sqlstate"), [
    (o.INT4, b"12x", 0, "22P02"), (o.INT4, b"1_000", 0, "22P02"), (o.INT4, b"", 0, "22P02"),
    (o.INT2, b"32768", 0, "22003"), (o.INT4, b"2147483648", 0, "22003"),
    (o.INT8, b"9223372036854775808", 0, "22003"), (o.OID, b"4294967296", 0, "22003"),
    (o.INT4, b"\0\0\0", 1, "22P03"), (o.INT8, b"\0" * 9, 1, "22P03"),
    (o.BOOL, b"maybe", 0, "22P02"), (o.BOOL, b"o", 0, "22P02"), (o.BOOL, b"\1\1", 1, "22P03"),
    (o.FLOAT8, b"1e400", 0, "22003"), (o.FLOAT8, b"1e-400", 0, "22003"),
    (o.FLOAT4, b"1e39", 0, "22003"), (o.FLOAT8, b"1_0", 0, "22P02"),
    (o.FLOAT8, b"0x10", 0, "22P02"), (o.FLOAT8, b"\0" * 7, 1, "22P03"),
    (o.NUMERIC, b"1.2.3", 0, "22P02"), (o.NUMERIC, b"sNaN", 0, "22P02"),
    (o.NUMERIC, b"\0\1\0\0\0\0\0\0\x27\x10", 1, "22P03"),  # digit 10000
    (o.NUMERIC, b"\0\0\0\0\x12\x34\0\0", 1, "22P03"),  # bad sign
    (o.NUMERIC, b"\0\2\0\0\0\0\0\0\0\1", 1, "22P03"),  # short digits
    (o.TEXT, b"a\0b", 0, "22021"), (o.TEXT, b"\xff", 0, "22021"), (o.TEXT, b"\xc3", 1, "22021"),
    (o.BYTEA, b"\\x0", 0, "22P02"), (o.BYTEA, b"\\q", 0, "22P02"),
    (o.DATE, b"2024-13-01", 0, "22P02"), (o.DATE, b"infinity", 0, "22008"),
    (o.DATE, b"\x7f\xff\xff\xff", 1, "22008"), (o.TIME, b"24:00:00", 0, "22008"),
    (o.TIMESTAMP, b"\x7f\xff\xff\xff\xff\xff\xff\xff", 1, "22008"),
    (o.TIMESTAMPTZ, b"2024-01-01 00:00:00+xx", 0, "22P02"),
    (o.INTERVAL, b"3 fortnights", 0, "22P02"), (o.INTERVAL, b"\0" * 15, 1, "22P03"),
    (o.UUID, b"not-a-uuid", 0, "22P02"), (o.UUID, b"\0" * 15, 1, "22P03"),
    (o.JSON, b"{bad", 0, "22P02"), (o.JSONB, b"\2{}", 1, "22P03"),
    (o.JSON, b"[" * 100_000, 0, "22P02"),
    (o.INT4_ARRAY, b"{1,{2}}", 0, "22P02"), (o.INT4_ARRAY, b"{{1},{2,3}}", 0, "22P02"),
    (o.INT4_ARRAY, b"{1,}", 0, "22P02"), (o.INT4_ARRAY, b"{1", 0, "22P02"),
    (o.INT4_ARRAY, b"{1}}", 0, "22P02"), (o.INT4_ARRAY, b"1", 0, "22P02"),
    (o.INT4_ARRAY, b"{a}", 0, "22P02"),
    (o.INT4_ARRAY, b"\0\0\0\1\0\0\0\0\0\0\0\x19\0\0\0\1\0\0\0\1\0\0\0\4abcd", 1, "42804"),
    (o.INT4_ARRAY, b"\0\0\0\1\0\0\0\0\0\0\0\x17\x7f\xff\xff\xff\0\0\0\1", 1, "22P03"),
    (o.INT4_ARRAY, b"\0\0\0\7\0\0\0\0\0\0\0\x17", 1, "22P03"),
    (12345, b"x", 0, "42704"),
])
def test_rejected_inputs(oid: int, data: bytes, fmt: int, sqlstate: str) -> None:
    with pytest.raises(InvalidValue) as info:
        t.decode(oid, data, fmt)
    assert info.value.sqlstate == sqlstate, info.value


@pytest.mark.parametrize(("oid", "value", "sqlstate"), [
    (o.INT2, 40000, "22003"), (o.INT4, 2**31, "22003"), (o.INT8, -(2**63) - 1, "22003"),
    (o.FLOAT4, 1e39, "22003"), (o.NUMERIC, Decimal("1E-20000"), "22003"),
    (o.INT4_ARRAY, [[1], 2], "2202E"), (o.INT4_ARRAY, [[1, 2], [3]], "2202E"),
    (o.JSON, float("nan"), "22023"),
])
def test_unencodable_values(oid: int, value: Any, sqlstate: str) -> None:
    for fmt in (0, 1):
        with pytest.raises(InvalidValue) as info:
            t.encode(oid, value, fmt)
        assert info.value.sqlstate == sqlstate


def test_jsonb_key_order_is_postgresql_order() -> None:
    """jsonb sorts object keys by length, then bytewise (jsonb_util.c lengthCompareJsonbString)."""
    assert t.encode_text(o.JSONB, {"bb": 1, "a": 2, "c": {"zz": 0, "y": 1}}) == (
        b'{"a": 2, "c": {"y": 1, "zz": 0}, "bb": 1}')
    assert t.encode_text(o.JSON, '{"kept":  "as is"}') == b'{"kept":  "as is"}'


FLOATS = json.loads((Path(__file__).parent / "data" / "pg15_floats.json").read_text())


@pytest.mark.parametrize("typ", ["float4", "float8"])
def test_float_text_matches_postgresql_on_random_values(typ: str) -> None:
    """4 000 random finite floats (bit patterns and short decimals) printed by PostgreSQL 15.18
    with extra_float_digits = 1 (data/pg15_floats.json): Ryu shortest output, %e switch."""
    oid = o.FLOAT4 if typ == "float4" else o.FLOAT8
    bad = [(v, pg, t.encode_text(oid, float(v)).decode())
           for v, pg in FLOATS[typ] if t.encode_text(oid, float(v)).decode() != pg]
    assert bad == []
    assert all(t.decode_text(oid, pg.encode()) == float(v) for v, pg in FLOATS[typ])


def test_array_elements_with_unicode_whitespace_round_trip() -> None:
    """PostgreSQL's array_in skips only space, tab, newline, CR, VT and FF around elements
    (scanner_isspace); array_out leaves '\\x1f' unquoted. A decoder that strips Unicode
    whitespace lost such elements (found by test_fuzz.test_round_trips)."""
    arr = o.TEXT_ARRAY
    for values in (["0", "\x1f"], ["\x1f"], ["a\x85b", "\xa0"]):
        encoded = t.encode(arr, values, 0)
        assert t.decode(arr, encoded, 0) == values
    assert t.decode(arr, b" { a ,\t\"b c\" , NULL }\n", 0) == ["a", "b c", None]
