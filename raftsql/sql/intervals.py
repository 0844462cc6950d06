"""PostgreSQL `interval` values stored in SQLite: parsing, canonical text, order, arithmetic.

Why this representation (docs/sql.md, "Interval"): an interval is kept as PostgreSQL's own
output text (IntervalStyle postgres, e.g. `1 year 2 mons 3 days 04:05:06.5`), so psql and
text-format clients see stored values unchanged and months/days/time stay separate fields as
in PostgreSQL (`'1 mon'` is not `'30 days'` when added to a timestamp). Text does not sort
like an interval, so interval columns are declared `COLLATE pg_interval`: the collation
compares the span PostgreSQL's interval_cmp compares (a month is 30 days, a day 24 hours;
src/backend/utils/adt/timestamp.c interval_cmp_value), which also makes UNIQUE and ORDER BY
agree with PostgreSQL (`'1 mon'` and `'30 days'` are equal there too).
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from raftsql.sql import sqlstate
from raftsql.sql.errors import SqlError

DAY_US = 86_400_000_000
_UNITS: dict[str, tuple[str, int, str]] = {}  # spelling -> (field, factor, unit name)
for _names, _field, _factor in (
        (("millennium", "millennia", "millenniums", "mil", "mils"), "m", 12000),
        (("century", "centuries", "cent", "c"), "m", 1200),
        (("decade", "decades", "dec", "decs"), "m", 120),
        (("year", "years", "y", "yr", "yrs"), "m", 12),
        (("month", "months", "mon", "mons"), "m", 1),
        (("week", "weeks", "w"), "d", 7),
        (("day", "days", "d"), "d", 1),
        (("hour", "hours", "h", "hr", "hrs"), "u", 3_600_000_000),
        (("minute", "minutes", "min", "mins", "m"), "u", 60_000_000),
        (("second", "seconds", "sec", "secs", "s"), "u", 1_000_000),
        (("millisecond", "milliseconds", "ms", "msec", "msecs"), "u", 1000),
        (("microsecond", "microseconds", "us", "usec", "usecs"), "u", 1)):
    for _name in _names:
        _UNITS[_name] = (_field, _factor, _names[0])

_TOKEN = re.compile(
    r"\s*(?:(?P<tsign>[+-]?)(?P<h>\d+):(?P<mi>\d+)(?::(?P<s>\d+(?:\.\d*)?))?"
    r"|(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>[a-z]+)?)\s*")


def _bad(text: object) -> SqlError:
    return SqlError(sqlstate.INVALID_DATETIME_FORMAT,
                    f'invalid input syntax for type interval: "{text}"')


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> tuple[int, int, int]:
    """PostgreSQL interval input (postgres/verbose styles, `@`, `ago`, fractional units,
    `hh:mm[:ss.f]`) -> (months, days, microseconds), with fractions spilled downwards as
    PostgreSQL's DecodeInterval does (a month fraction becomes 30-day days, a day fraction
    24-hour time). Raises 22007 for anything else."""
    body = text.strip().lower().lstrip("@").strip()
    ago = body.endswith(" ago") or body == "ago"
    if ago:
        body = body[:-3].strip()
    if not body:
        raise _bad(text)
    months, days, us = Decimal(0), Decimal(0), Decimal(0)
    seen: set[str] = set()  # PostgreSQL refuses a unit given twice ('1 day 1 day')
    pos = 0
    try:
        while pos < len(body):
            m = _TOKEN.match(body, pos)
            if m is None or m.end() == pos:
                raise _bad(text)
            pos = m.end()
            if m["h"] is not None:
                if seen & {"hour", "minute", "second"}:
                    raise _bad(text)
                seen.update(("hour", "minute", "second"))
                span = (int(m["h"]) * 3600 + int(m["mi"]) * 60) * 1_000_000 + \
                    Decimal(m["s"] or 0) * 1_000_000
                us += -span if m["tsign"] == "-" else span
                continue
            unit = _UNITS.get(m["unit"] or "second")
            if unit is None or unit[2] in seen:
                raise _bad(text)
            seen.add(unit[2])
            value = Decimal(m["num"]) * unit[1]
            if unit[0] == "m":
                months += value
            elif unit[0] == "d":
                days += value
            else:
                us += value
    except InvalidOperation:
        raise _bad(text) from None
    whole_months = int(months)
    days += (months - whole_months) * 30
    whole_days = int(days)
    us += (days - whole_days) * DAY_US
    micros = int(us.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    sign = -1 if ago else 1
    return sign * whole_months, sign * whole_days, sign * micros


def canonical(value: object) -> str:
    """Any accepted interval spelling -> PostgreSQL's output text."""
    if not isinstance(value, str):
        raise _bad(value)
    return format_interval(*parse(value))


def format_interval(months: int, days: int, us: int) -> str:
    """PostgreSQL's interval output (IntervalStyle postgres). The wire codec has the same
    function (raftsql.pgwire.datetimes.format_interval); the layering keeps sql/ and pgwire/
    apart, so tests/unit/sql/test_intervals.py checks that the two agree."""
    parts: list[str] = []
    is_before = False
    years, mons = int(months / 12), months - int(months / 12) * 12  # C truncation
    for value, unit in ((years, "year"), (mons, "mon"), (days, "day")):
        if value:
            plus = "+" if is_before and value > 0 else ""
            parts.append(f"{plus}{value} {unit}{'' if value == 1 else 's'}")
            is_before = value < 0
    if not parts or us:
        a = abs(us)
        hours, rest = divmod(a, 3_600_000_000)
        minutes, rest = divmod(rest, 60_000_000)
        secs, frac = divmod(rest, 1_000_000)
        sign = "-" if us < 0 else ("+" if is_before else "")
        fraction = f".{frac:06d}".rstrip("0") if frac else ""
        parts.append(f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}{fraction}")
    return " ".join(parts)


def span(parts: tuple[int, int, int]) -> int:
    """The microseconds PostgreSQL orders intervals by (interval_cmp_value)."""
    months, days, us = parts
    return (months * 30 + days) * DAY_US + us


def collate(left: str, right: str) -> int:
    """SQLite collation `pg_interval`: by span; text that is not an interval sorts after all
    intervals, by its bytes, so the order stays total (an index needs that)."""
    a, b = _sort_key(left), _sort_key(right)
    return (a > b) - (a < b)


def _sort_key(text: str) -> tuple[int, int, str]:
    try:
        return (0, span(parse(text)), "")
    except SqlError:
        return (1, 0, text)


def pg_cast_interval(value: object) -> str | None:
    """`x::interval`: text -> canonical interval text; numbers are refused as in PostgreSQL
    (there is no cast from integer or numeric to interval)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        kind = "integer" if isinstance(value, int) else "numeric"
        raise SqlError(sqlstate.CANNOT_COERCE, f"cannot cast type {kind} to interval")
    if isinstance(value, bytes):
        raise SqlError(sqlstate.CANNOT_COERCE, "cannot cast type bytea to interval")
    return canonical(value)


def add(left: str, right: str, sign: int) -> str:
    """interval +/- interval, field by field (interval_pl / interval_mi)."""
    a, b = parse(left), parse(right)
    return format_interval(a[0] + sign * b[0], a[1] + sign * b[1], a[2] + sign * b[2])


def is_interval(value: object) -> bool:
    """Whether a stored value reads as an interval (how pg_interval_add tells an interval
    column from a timestamp one: the translator has no schema)."""
    if not isinstance(value, str):
        return False
    try:
        parse(value)
    except SqlError:
        return False
    return True
