"""Interval storage helpers (raftsql/sql/intervals.py) and their wire encoding.

Source of truth: PostgreSQL 15 datetime.c DecodeInterval (fractions spill downwards: a month
fraction to 30-day days, a day fraction to 24-hour time; a unit may appear once),
timestamp.c interval_cmp_value (a month is 30 days for ordering), interval_send (int64
microseconds, int32 days, int32 months). The same values are checked against a running
PostgreSQL in tests/unit/sql/corpus/exec_interval.sql.
"""

from __future__ import annotations

import functools
import struct

import apsw
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftsql.pgwire import oids as o
from raftsql.pgwire.types import BINARY_FORMAT, TEXT_FORMAT
from raftsql.server.values import encode_result, param_value
from raftsql.sql import functions, intervals
from raftsql.sql.errors import SqlError


@pytest.mark.parametrize(("text", "parts"), [
    ("1 year 2 mons 3 days 04:05:06.5", (14, 3, 14_706_500_000)),
    ("1.5 months", (1, 15, 0)),
    ("1.5 days", (0, 1, 43_200_000_000)),
    ("@ 1 hour ago", (0, 0, -3_600_000_000)),
    ("-1 days +02:00:00", (0, -1, 7_200_000_000)),
    ("90", (0, 0, 90_000_000)),
])
def test_parse(text: str, parts: tuple[int, int, int]) -> None:
    assert intervals.parse(text) == parts


@pytest.mark.parametrize("text", ["", "soon", "1 day 1 day", "1 fortnight", "01:00 02:00"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(SqlError) as info:
        intervals.parse(text)
    assert info.value.sqlstate == "22007"


def test_collation_orders_by_span_and_is_total() -> None:
    values = ["1 mon", "29 days 23:59:59.999999", "not an interval", "-00:00:01", "30 days", "a"]
    ordered = sorted(values, key=functools.cmp_to_key(intervals.collate))
    assert ordered == ["-00:00:01", "29 days 23:59:59.999999", "1 mon", "30 days", "a",
                       "not an interval"]
    assert intervals.collate("1 mon", "30 days") == 0  # equal in PostgreSQL too


def test_column_collation_in_sqlite() -> None:
    conn = apsw.Connection(":memory:")
    functions.register(conn)
    conn.execute("CREATE TABLE t (d INTERVAL COLLATE pg_interval UNIQUE)")
    conn.execute("INSERT INTO t VALUES ('2 days'), ('01:00:00'), ('1 mon')")
    assert [r[0] for r in conn.execute("SELECT d FROM t ORDER BY d")] == [
        "01:00:00", "2 days", "1 mon"]
    with pytest.raises(apsw.ConstraintError):  # '30 days' = '1 mon' for a unique index
        conn.execute("INSERT INTO t VALUES ('30 days')")


def test_wire_keeps_months() -> None:
    assert encode_result(o.INTERVAL, "1 mon 2 days", TEXT_FORMAT) == b"1 mon 2 days"
    assert encode_result(o.INTERVAL, "90 minutes", TEXT_FORMAT) == b"01:30:00"
    assert encode_result(o.INTERVAL, "1 mon 2 days", BINARY_FORMAT) == struct.pack("!qii", 0, 2, 1)
    assert param_value(o.INTERVAL, struct.pack("!qii", -1, 0, 13), BINARY_FORMAT) == (
        "1 year 1 mon -00:00:00.000001")
    assert param_value(o.INTERVAL, b"1.5 months", TEXT_FORMAT) == "1 mon 15 days"


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6),
       st.integers(-(10**15), 10**15))
def test_storage_text_matches_the_wire_codec(months: int, days: int, us: int) -> None:
    """The SQL layer's interval text (stored values) is byte for byte the wire codec's
    (raftsql/pgwire/datetimes.py), which is checked against PostgreSQL 15's output."""
    from raftsql.pgwire.datetimes import format_interval as wire_format

    assert intervals.format_interval(months, days, us) == wire_format(months, days, us)
