"""date, time, timestamp, timestamptz and interval <-> Python, in PostgreSQL 15's text forms
for DateStyle 'ISO, MDY', IntervalStyle 'postgres' and TimeZone 'UTC' (the parameters raftsql
reports, PGWIRE.md 1.4), and in the binary forms of integer_datetimes: Int32 days and Int64
microseconds since 2000-01-01, interval = Int64 us + Int32 days + Int32 months (PGWIRE.md 5.3).

Python has no infinite dates or 24:00:00, and timedelta has no months: decoding those raises
(22008), except interval months, which count as 30 days (PostgreSQL's own interval arithmetic).
"""

from __future__ import annotations

import re
import struct
from datetime import UTC, date, datetime, time, timedelta

EPOCH_ORDINAL = date(2000, 1, 1).toordinal()
EPOCH = datetime(2000, 1, 1)
EPOCH_TZ = datetime(2000, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY_US = 86_400_000_000
_I32 = struct.Struct("!i")
_I64 = struct.Struct("!q")
_INTERVAL = struct.Struct("!qii")


class OutOfRange(ValueError):
    """A PostgreSQL value Python cannot represent (infinity, 24:00:00, year > 9999)."""


def _fraction(us: int) -> str:
    return f".{us:06d}".rstrip("0") if us else ""


# --------------------------------------------------------------------------- date


def date_text(d: date) -> bytes:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}".encode("ascii")


_DATE = r"(\d{4,})-(\d{1,2})-(\d{1,2})"


def parse_date(data: bytes) -> date:
    text = data.decode("ascii").strip()
    if text.lower() in ("infinity", "-infinity", "+infinity"):
        raise OutOfRange(f'date "{text}" has no Python value')
    m = re.fullmatch(_DATE, text)
    if m is None:
        raise ValueError(f'invalid input syntax for type date: "{text}"')
    return date(int(m[1]), int(m[2]), int(m[3]))


def date_binary(d: date) -> bytes:
    return _I32.pack(d.toordinal() - EPOCH_ORDINAL)


def date_from_binary(data: bytes) -> date:
    (days,) = _I32.unpack(data)
    try:
        return date.fromordinal(days + EPOCH_ORDINAL)
    except (ValueError, OverflowError):
        raise OutOfRange("date out of range for Python") from None


# --------------------------------------------------------------------------- time


def time_text(t: time) -> bytes:
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}{_fraction(t.microsecond)}".encode()


_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"


def _micros(frac: str | None) -> int:
    """Fractional seconds rounded half up to microseconds, as PostgreSQL does."""
    if not frac:
        return 0
    us = int(frac[:6].ljust(6, "0"))
    return us + (1 if len(frac) > 6 and frac[6] >= "5" else 0)


def parse_time(data: bytes) -> time:
    text = data.decode("ascii").strip()
    m = re.fullmatch(_TIME, text)
    if m is None:
        raise ValueError(f'invalid input syntax for type time: "{text}"')
    total = (int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3] or 0)) * 1_000_000 + _micros(m[4])
    return time_from_micros(total)


def time_from_micros(us: int) -> time:
    if not 0 <= us < DAY_US:
        raise OutOfRange("time out of range for Python")
    s, us = divmod(us, 1_000_000)
    return time(s // 3600, s // 60 % 60, s % 60, us)


def time_binary(t: time) -> bytes:
    us = ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
    return _I64.pack(us)


def time_from_binary(data: bytes) -> time:
    return time_from_micros(_I64.unpack(data)[0])


# --------------------------------------------------------------------------- timestamps


def timestamp_text(dt: datetime) -> bytes:
    if dt.tzinfo is not None:
        raise TypeError("timestamp without time zone needs a naive datetime")
    return date_text(dt) + b" " + time_text(dt.time())


def timestamptz_text(dt: datetime) -> bytes:
    u = _as_utc(dt)
    return date_text(u) + b" " + time_text(u.time()) + b"+00"


def _as_utc(dt: datetime) -> datetime:
    """Naive datetimes count as UTC, the session TimeZone raftsql reports."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


_STAMP = re.compile(
    _DATE + r"(?:[ T]" + _TIME + r")?\s*(?:(Z|UTC|[+-]\d{1,2}(?::?\d{2}(?::?\d{2})?)?))?",
    re.IGNORECASE,
)


def _parse_stamp(data: bytes) -> tuple[datetime, timedelta | None]:
    text = data.decode("ascii").strip()
    if text.lower() in ("infinity", "-infinity", "+infinity"):
        raise OutOfRange(f'timestamp "{text}" has no Python value')
    m = _STAMP.fullmatch(text)
    if m is None:
        raise ValueError(f'invalid input syntax for type timestamp: "{text}"')
    base = datetime(int(m[1]), int(m[2]), int(m[3]))
    if m[4] is not None:
        secs = int(m[4]) * 3600 + int(m[5]) * 60 + int(m[6] or 0)
        base += timedelta(seconds=secs, microseconds=_micros(m[7]))
    zone = m[8]
    if zone is None:
        return base, None
    if zone.upper() in ("Z", "UTC"):
        return base, timedelta(0)
    digits = zone[1:].replace(":", "")
    hours = int(digits[:-2] if len(digits) > 2 else digits)
    minutes = int(digits[-2:]) if len(digits) > 2 else 0
    seconds = 0
    if len(digits) > 4:  # +HHMMSS
        hours, minutes, seconds = int(digits[:-4]), int(digits[-4:-2]), int(digits[-2:])
    off = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return base, -off if zone[0] == "-" else off


def parse_timestamp(data: bytes) -> datetime:
    """A zone in the input is ignored, as PostgreSQL does for timestamp without time zone."""
    return _parse_stamp(data)[0]


def parse_timestamptz(data: bytes) -> datetime:
    base, off = _parse_stamp(data)
    return (base - (off or timedelta(0))).replace(tzinfo=UTC)


def timestamp_binary(dt: datetime) -> bytes:
    if dt.tzinfo is not None:
        raise TypeError("timestamp without time zone needs a naive datetime")
    return _I64.pack((dt - EPOCH) // US)


def timestamptz_binary(dt: datetime) -> bytes:
    return _I64.pack((_as_utc(dt) - EPOCH_TZ) // US)


def timestamp_from_binary(data: bytes) -> datetime:
    try:
        return EPOCH + timedelta(microseconds=_I64.unpack(data)[0])
    except OverflowError:
        raise OutOfRange("timestamp out of range for Python") from None


def timestamptz_from_binary(data: bytes) -> datetime:
    try:
        return EPOCH_TZ + timedelta(microseconds=_I64.unpack(data)[0])
    except OverflowError:
        raise OutOfRange("timestamp out of range for Python") from None


# --------------------------------------------------------------------------- interval


def _split(td: timedelta) -> tuple[int, int]:
    """(days, microseconds) with Python's normalisation (0 <= us < 1 day), as asyncpg and
    psycopg send them."""
    return td.days, td.seconds * 1_000_000 + td.microseconds


def interval_text(td: timedelta) -> bytes:
    """EncodeInterval, IntervalStyle 'postgres' (PostgreSQL src/backend/utils/adt/datetime.c)."""
    return format_interval(0, *_split(td)).encode("ascii")


def format_interval(months: int, days: int, us: int) -> str:
    parts: list[str] = []
    is_before = False
    years, mons = int(months / 12), months - int(months / 12) * 12  # C truncation
    for value, unit in ((years, "year"), (mons, "mon"), (days, "day")):
        if value:
            plus = "+" if is_before and value > 0 else ""
            parts.append(f"{plus}{value} {unit}{'' if value == 1 else 's'}")
            is_before = value < 0
    if not parts or us:
        minus = us < 0
        a = abs(us)
        hours, rest = divmod(a, 3_600_000_000)
        minutes, rest = divmod(rest, 60_000_000)
        secs, frac = divmod(rest, 1_000_000)
        sign = "-" if minus else ("+" if is_before else "")
        parts.append(f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}{_fraction(frac)}")
    return " ".join(parts)


_UNITS = {
    "year": ("m", 12), "years": ("m", 12), "y": ("m", 12),
    "mon": ("m", 1), "mons": ("m", 1), "month": ("m", 1), "months": ("m", 1),
    "week": ("d", 7), "weeks": ("d", 7), "w": ("d", 7),
    "day": ("d", 1), "days": ("d", 1), "d": ("d", 1),
    "hour": ("u", 3_600_000_000), "hours": ("u", 3_600_000_000), "h": ("u", 3_600_000_000),
    "min": ("u", 60_000_000), "mins": ("u", 60_000_000), "minute": ("u", 60_000_000),
    "minutes": ("u", 60_000_000), "m": ("u", 60_000_000),
    "sec": ("u", 1_000_000), "secs": ("u", 1_000_000), "second": ("u", 1_000_000),
    "seconds": ("u", 1_000_000), "s": ("u", 1_000_000),
    "millisecond": ("u", 1000), "milliseconds": ("u", 1000), "ms": ("u", 1000),
    "microsecond": ("u", 1), "microseconds": ("u", 1), "us": ("u", 1),
}
_ITEM = re.compile(
    r"\s*(?:([+-]?\d+)\s*([a-z]+)|([+-])?(\d+):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)\s*",
    re.IGNORECASE,
)


def parse_interval(data: bytes) -> tuple[int, int, int]:
    """PostgreSQL-style interval text -> (months, days, microseconds)."""
    text = data.decode("ascii").strip().lstrip("@")
    months = days = us = 0
    pos = 0
    if not text.strip():
        raise ValueError('invalid input syntax for type interval: ""')
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f'invalid input syntax for type interval: "{text}"')
        pos = m.end()
        if m[1] is not None:
            unit = _UNITS.get(m[2].lower())
            if unit is None:
                raise ValueError(f'invalid input syntax for type interval: "{text}"')
            n = int(m[1]) * unit[1]
            if unit[0] == "m":
                months += n
            elif unit[0] == "d":
                days += n
            else:
                us += n
        else:
            t = ((int(m[4]) * 60 + int(m[5])) * 60 + int(m[6] or 0)) * 1_000_000 + _micros(m[7])
            us += -t if m[3] == "-" else t
    return months, days, us


def interval_to_timedelta(months: int, days: int, us: int) -> timedelta:
    try:
        return timedelta(days=days + 30 * months, microseconds=us)
    except OverflowError:
        raise OutOfRange("interval out of range for Python") from None


def interval_binary(td: timedelta) -> bytes:
    days, us = _split(td)
    return _INTERVAL.pack(us, days, 0)


def interval_from_binary(data: bytes) -> timedelta:
    us, days, months = _INTERVAL.unpack(data)
    return interval_to_timedelta(months, days, us)
