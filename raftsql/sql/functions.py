"""SQL functions that give SQLite PostgreSQL's answers, and `register(conn)` to install them.

Why: SQLite differs from PostgreSQL in ways that would be silently wrong (1/0 is NULL,
'abc'::int is 0, LIKE ignores case, lower() folds ASCII only). The translator emits calls to
the functions below instead, and they raise PostgreSQL's SqlError where PostgreSQL would fail.

Every function here is a pure, deterministic function of its arguments (the state machine
must compute the same thing on every node), with two documented exceptions:
  * the clock/random functions (pg_now, pg_random, ...) are only for local reads; the
    state machine registers them with `clock=None` so they raise if a write was not fixed;
  * pg_fixed_random(seed)/pg_fixed_uuid(seed) keep a per-connection generator per seed, so
    `UPDATE t SET x = random()` gives each row its own value, the same on every node
    (rows are visited in the same order by the same SQLite engine on the same data).

Values: timestamps are text in PostgreSQL's output format with TimeZone=UTC
('2024-01-02 03:04:05.5', timestamptz with '+00'); dates 'YYYY-MM-DD'; booleans 1/0.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import random
import re
import uuid
import weakref
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from raftsql.sql import intervals, sqlstate
from raftsql.sql.errors import SqlError

Value = int | float | str | bytes | None
Clock = Callable[[], dt.datetime]

_INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


def _invalid(type_name: str, value: Any) -> SqlError:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return SqlError(
        sqlstate.INVALID_TEXT_REPRESENTATION,
        f'invalid input syntax for type {type_name}: "{value}"',
    )


def _number(value: Value, type_name: str = "integer") -> int | float:
    """Coerce an operand like PostgreSQL coerces an untyped literal."""
    if isinstance(value, int | float):
        return value
    if isinstance(value, bytes):
        raise _invalid(type_name, value)
    assert isinstance(value, str)
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _invalid(type_name, value) from None


# ---- arithmetic -------------------------------------------------------------------------

def pg_div(a: Value, b: Value) -> Value:
    """a / b with PostgreSQL semantics: division by zero raises 22012; ints truncate."""
    if a is None or b is None:
        return None
    x, y = _number(a), _number(b)
    if y == 0:
        raise SqlError(sqlstate.DIVISION_BY_ZERO, "division by zero")
    if isinstance(x, int) and isinstance(y, int):
        q = abs(x) // abs(y)
        return q if (x >= 0) == (y >= 0) else -q
    return x / y


def pg_div_exact(a: Value, b: Value) -> Value:
    """a / b where an operand is numeric/float-typed in the query (10::numeric / 4 = 2.5)."""
    if a is None or b is None:
        return None
    x, y = _number(a), _number(b)
    if y == 0:
        raise SqlError(sqlstate.DIVISION_BY_ZERO, "division by zero")
    result = x / y
    return int(result) if isinstance(result, float) and result.is_integer() and abs(result) < 2**53 \
        else result


def pg_date_arith(a: Value, b: Value, sign: int) -> Value:
    """date +/- integer days -> date; date - date -> integer days. Used where the translator
    knows an operand is a date (casts, CURRENT_DATE, make_date(), ...); a timestamp operand
    raises, as PostgreSQL has no timestamp +/- integer (use an interval)."""
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        if sign > 0:
            raise SqlError(sqlstate.UNDEFINED_FUNCTION, "operator does not exist: date + date")
        if ":" in a or ":" in b:
            raise SqlError(sqlstate.FEATURE_NOT_SUPPORTED,
                           "timestamp - timestamp (an interval result) is not supported")
        return (parse_timestamp(a, "date")[0].date() - parse_timestamp(b, "date")[0].date()).days
    if isinstance(a, str):
        date_text, days = a, int(_number(b))
    elif isinstance(b, str) and sign > 0:
        date_text, days = b, int(_number(a))
    else:
        raise SqlError(sqlstate.UNDEFINED_FUNCTION, "operator does not exist: integer - date")
    if ":" in date_text:
        raise SqlError(sqlstate.UNDEFINED_FUNCTION,
                       "operator does not exist: timestamp +/- integer (use an interval)")
    stamp = parse_timestamp(date_text, "date")[0]
    return (stamp.date() + dt.timedelta(days=sign * days)).isoformat()


def pg_mod(a: Value, b: Value) -> Value:
    """a % b: the sign follows the dividend (PostgreSQL/C); zero divisor raises 22012."""
    if a is None or b is None:
        return None
    x, y = _number(a), _number(b)
    if y == 0:
        raise SqlError(sqlstate.DIVISION_BY_ZERO, "division by zero")
    if isinstance(x, int) and isinstance(y, int):
        r = abs(x) % abs(y)
        return r if x >= 0 else -r
    return math.fmod(x, y)


# ---- casts -------------------------------------------------------------------------------

def _round_half_away(value: float | Decimal) -> int:
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def pg_cast_int(value: Value, type_name: str = "integer") -> Value:
    """CAST(value AS smallint|integer|bigint): 22P02 on bad text, 22003 when out of range."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise SqlError(sqlstate.NUMERIC_VALUE_OUT_OF_RANGE, f"{type_name} out of range")
        result = _round_half_away(value)
    elif isinstance(value, int):
        result = value
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise _invalid(type_name, value)
        result = int(text)
    else:
        raise _invalid(type_name, value)
    low, high = _INT_RANGES.get(type_name, _INT_RANGES["bigint"])
    if not low <= result <= high:
        raise SqlError(sqlstate.NUMERIC_VALUE_OUT_OF_RANGE, f"{type_name} out of range")
    return result


def pg_cast_numeric(value: Value, scale: int | None = None) -> Value:
    """CAST(value AS numeric[(p,s)]): rounds to `scale` half away from zero, like PostgreSQL."""
    if value is None:
        return None
    if isinstance(value, bytes):
        raise _invalid("numeric", value)
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, float) else Decimal(repr(value))
    except InvalidOperation:
        raise _invalid("numeric", value) from None
    if not number.is_finite():
        if number.is_nan():
            return math.nan
        raise _invalid("numeric", value)
    if scale is not None:
        number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def pg_cast_float(value: Value, type_name: str = "double precision") -> Value:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        specials = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf,
                    "inf": math.inf, "-inf": -math.inf}
        if text in specials:
            return specials[text]
        try:
            return float(text)
        except ValueError:
            pass
    raise _invalid(type_name, value)


_TRUE_WORDS = ("true", "yes", "on")
_FALSE_WORDS = ("false", "no", "off")


def pg_cast_bool(value: Value) -> Value:
    """CAST(value AS boolean): PostgreSQL's boolin (unique prefixes of true/false/yes/no, on/off, 1/0)."""
    if value is None:
        return None
    if isinstance(value, int):
        return 1 if value else 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "1":
            return 1
        if text == "0":
            return 0
        if text and len(text) >= (2 if text.startswith("o") else 1):
            if any(w.startswith(text) for w in _TRUE_WORDS):
                return 1
            if any(w.startswith(text) for w in _FALSE_WORDS):
                return 0
    raise _invalid("boolean", value)


def _format_float(value: float) -> str:
    """float8 output as PostgreSQL >= 12 prints it (shortest round-trip)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    return text.replace("e+", "e+").replace("e-0", "e-").replace("e+0", "e+")


def pg_cast_text(value: Value) -> Value:
    """CAST(value AS text) with PostgreSQL's float formatting (1.0 -> '1')."""
    if value is None:
        return None
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return str(value)


def pg_cast_varchar(value: Value, length: int) -> Value:
    """An explicit cast to varchar(n) truncates to n characters (PostgreSQL 8.3 datatype-character)."""
    text = pg_cast_text(value)
    return text[:length] if isinstance(text, str) else text


_TS = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


def parse_timestamp(value: Value, type_name: str = "timestamp") -> tuple[dt.datetime, bool]:
    """Parse our stored text (or an ISO literal) -> (naive-or-aware datetime, had_zone)."""
    if not isinstance(value, str):
        raise _invalid(type_name, value)
    m = _TS.match(value)
    if m is None:
        if value.strip().lower() in ("epoch",):
            return dt.datetime(1970, 1, 1), False
        raise SqlError(
            sqlstate.INVALID_DATETIME_FORMAT,
            f'invalid input syntax for type {type_name}: "{value}"',
        )
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or ".0")[1:7].ljust(6, "0"))
    tz = None
    if zone:
        if zone == "Z":
            tz = dt.UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = dt.timezone(sign * offset)
    try:
        stamp = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                            int(second or 0), micro, tzinfo=tz)
    except ValueError:
        raise SqlError(
            sqlstate.DATETIME_FIELD_OVERFLOW,
            f'date/time field value out of range: "{value}"',
        ) from None
    return stamp, tz is not None


def format_timestamp(stamp: dt.datetime, with_zone: bool) -> str:
    """PostgreSQL's ISO output: fraction without trailing zeros; UTC zone as '+00'."""
    if with_zone:
        stamp = stamp.astimezone(dt.UTC) if stamp.tzinfo else stamp
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    if stamp.microsecond:
        text += f".{stamp.microsecond:06d}".rstrip("0")
    return text + ("+00" if with_zone else "")


def pg_cast_timestamp(value: Value) -> Value:
    if value is None:
        return None
    stamp, zoned = parse_timestamp(value)
    if zoned:
        stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    return format_timestamp(stamp, False)


def pg_cast_timestamptz(value: Value) -> Value:
    if value is None:
        return None
    stamp, zoned = parse_timestamp(value, "timestamp with time zone")
    if not zoned:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return format_timestamp(stamp, True)


def pg_cast_date(value: Value) -> Value:
    if value is None:
        return None
    stamp, zoned = parse_timestamp(value, "date")
    if zoned:
        stamp = stamp.astimezone(dt.UTC)
    return stamp.date().isoformat()


def pg_cast_time(value: Value) -> Value:
    """CAST(value AS time): 'HH:MM:SS[.ffffff]' from a time or timestamp text."""
    if value is None:
        return None
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?", text)
    if m is None:
        stamp, _zoned = parse_timestamp(value, "time without time zone")
        return format_timestamp(stamp.replace(tzinfo=None), False)[11:]
    hour, minute, second, frac = int(m[1]), int(m[2]), int(m[3] or 0), m[4] or ""
    if hour > 24 or minute > 59 or second > 60:
        raise SqlError(sqlstate.DATETIME_FIELD_OVERFLOW,
                       f'date/time field value out of range: "{text}"')
    fraction = frac[:7].rstrip("0") if frac.strip(".0") else ""
    return f"{hour:02d}:{minute:02d}:{second:02d}{fraction}"


def pg_round(value: Value, digits: Value = 0) -> Value:
    """round(x, n) for any n (SQLite ignores negative n): half away from zero, like numeric."""
    if value is None or digits is None:
        return None
    n = int(_number(digits))
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    result = number.quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP) if n >= 0 else \
        (number.scaleb(n).quantize(Decimal(1), rounding=ROUND_HALF_UP)).scaleb(-n)
    return int(result) if result == result.to_integral_value() else float(result)


def pg_ascii(value: Value) -> Value:
    if value is None:
        return None
    text = str(value)
    return ord(text[0]) if text else 0


def pg_cast_json(value: Value) -> Value:
    """CAST(value AS json): validates and keeps the text (json type semantics)."""
    if value is None:
        return None
    try:
        json.loads(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _invalid("json", value) from None
    return value


def pg_cast_jsonb(value: Value) -> Value:
    """CAST(value AS jsonb): validates and normalises like jsonb's output (', ' and ': ')."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _invalid("json", value) from None
    return json.dumps(parsed, ensure_ascii=False)


def pg_cast_uuid(value: Value) -> Value:
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise _invalid("uuid", value) from None


_BYTEA_ESCAPE = re.compile(r"\\([0-3][0-7]{2}|\\)?")


def pg_cast_bytea(value: Value) -> Value:
    """x::bytea (byteain): '\\x0aff' hex input (whitespace between byte pairs allowed) or
    escape input ('\\000', '\\\\', other characters as their UTF-8 bytes)."""
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        kind = "integer" if isinstance(value, int) else "numeric"
        raise SqlError(sqlstate.CANNOT_COERCE, f"cannot cast type {kind} to bytea")
    if value.startswith("\\x"):
        digits = "".join(value[2:].split())
        bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
        if bad is not None:
            raise SqlError(sqlstate.INVALID_PARAMETER_VALUE, f'invalid hexadecimal digit: "{bad}"')
        if len(digits) % 2:
            raise SqlError(sqlstate.INVALID_PARAMETER_VALUE,
                           "invalid hexadecimal data: odd number of digits")
        return bytes.fromhex(digits)
    out = bytearray()
    pos = 0
    for m in _BYTEA_ESCAPE.finditer(value):
        out += value[pos:m.start()].encode("utf-8")
        if m.group(1) is None:
            raise _invalid("bytea", value)
        out += b"\\" if m.group(1) == "\\" else bytes([int(m.group(1), 8)])
        pos = m.end()
    out += value[pos:].encode("utf-8")
    return bytes(out)


# ---- text ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str, escape: str, flags: int) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escape and ch == escape:
            if i + 1 >= len(pattern):
                out.append("(?!)")  # PostgreSQL errors only if matching gets here; never match
                break
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), flags | re.DOTALL)


def pg_like(pattern: Value, string: Value, escape: Value = "\\") -> Value:
    """SQLite's like(Y, X[, Z]) for `X LIKE Y`, overridden with PostgreSQL semantics:
    case-sensitive, backslash is the default escape character."""
    if pattern is None or string is None or escape is None:
        return None
    regex = _like_regex(str(pattern), str(escape), 0)
    return 1 if regex.fullmatch(str(string)) else 0


def pg_ilike(string: Value, pattern: Value) -> Value:
    if pattern is None or string is None:
        return None
    return 1 if _like_regex(str(pattern), "\\", re.IGNORECASE).fullmatch(str(string)) else 0


@functools.lru_cache(maxsize=256)
def _regex(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise SqlError(sqlstate.INVALID_REGULAR_EXPRESSION,
                       f"invalid regular expression: {exc}") from None


def pg_regexp(pattern: Value, string: Value) -> Value:
    """`string ~ pattern` (SQLite's REGEXP calls regexp(pattern, string))."""
    if pattern is None or string is None:
        return None
    return 1 if _regex(str(pattern), 0).search(str(string)) else 0


def pg_regexp_i(string: Value, pattern: Value) -> Value:
    """`string ~* pattern`."""
    if pattern is None or string is None:
        return None
    return 1 if _regex(str(pattern), re.IGNORECASE).search(str(string)) else 0


def _per_char(value: str, convert: Callable[[str], str]) -> str:
    """Case mapping one character at a time, like PostgreSQL's towlower/towupper loop
    ('straße' upper-cases to 'STRAßE', not 'STRASSE')."""
    return "".join(c2 if len(c2 := convert(c)) == 1 else c for c in value)


def pg_lower(value: Value) -> Value:
    return _per_char(value, str.lower) if isinstance(value, str) else value


def pg_upper(value: Value) -> Value:
    return _per_char(value, str.upper) if isinstance(value, str) else value


def pg_left(value: Value, count: Value) -> Value:
    """left(s, n): negative n drops |n| characters from the end (PostgreSQL)."""
    if value is None or count is None:
        return None
    text, n = str(value), int(_number(count))
    return text[:n] if n >= 0 else text[: max(len(text) + n, 0)]


def pg_right(value: Value, count: Value) -> Value:
    """right(s, n): negative n drops |n| characters from the start (PostgreSQL)."""
    if value is None or count is None:
        return None
    text, n = str(value), int(_number(count))
    if n >= 0:
        return text[len(text) - n:] if n else ""
    return text[-n:]


def pg_substr(value: Value, start: Value, count: Value = None, *rest: Value) -> Value:
    """substr/substring with PostgreSQL's window semantics: characters at positions
    [start, start + count) that exist; substr('hello', -1, 3) is 'h' (SQLite: 'o')."""
    if value is None or start is None or (rest and rest[0] is None):
        return None
    text, first = str(value), int(_number(start))
    if count is None:
        return text[max(first, 1) - 1:]
    n = int(_number(count))
    if n < 0:
        raise SqlError(sqlstate.SUBSTRING_ERROR, "negative substring length not allowed")
    end = first + n  # exclusive, 1-based
    begin = max(first, 1)
    return text[begin - 1 : max(end - 1, begin - 1)]


def pg_split_part(value: Value, delimiter: Value, field: Value) -> Value:
    if value is None or delimiter is None or field is None:
        return None
    n = int(_number(field))
    if n == 0:
        raise SqlError(sqlstate.INVALID_PARAMETER_VALUE, "field position must not be zero")
    parts = str(value).split(str(delimiter)) if delimiter != "" else [str(value)]
    index = n - 1 if n > 0 else len(parts) + n
    return parts[index] if 0 <= index < len(parts) else ""


def _pad(value: Value, length: Value, fill: Value, left: bool) -> Value:
    if value is None or length is None or fill is None:
        return None
    text, n, pad = str(value), int(_number(length)), str(fill)
    if n <= len(text) or not pad:
        return text[: max(n, 0)]
    filler = (pad * (n // len(pad) + 1))[: n - len(text)]
    return filler + text if left else text + filler


def pg_lpad(value: Value, length: Value, fill: Value = " ") -> Value:
    return _pad(value, length, fill, True)


def pg_rpad(value: Value, length: Value, fill: Value = " ") -> Value:
    return _pad(value, length, fill, False)


def pg_initcap(value: Value) -> Value:
    if value is None:
        return None
    return re.sub(r"[A-Za-z0-9\u00C0-\uFFFF]+", lambda m: m.group(0)[0].upper()
                  + m.group(0)[1:].lower(), str(value))


def pg_repeat(value: Value, count: Value) -> Value:
    if value is None or count is None:
        return None
    return str(value) * max(int(_number(count)), 0)


def pg_reverse(value: Value) -> Value:
    return None if value is None else str(value)[::-1]


def pg_md5(value: Value) -> Value:
    if value is None:
        return None
    data = value if isinstance(value, bytes) else str(value).encode()
    return hashlib.md5(data).hexdigest()


def pg_regexp_replace(value: Value, pattern: Value, replacement: Value, flags: Value = "") -> Value:
    """regexp_replace(s, pattern, repl [, flags]): 'g' replaces all, 'i' ignores case;
    \\1..\\9 and \\& in the replacement as in PostgreSQL."""
    if value is None or pattern is None or replacement is None or flags is None:
        return None
    flag_text = str(flags)
    regex = _regex(str(pattern), re.IGNORECASE if "i" in flag_text else 0)
    repl = str(replacement).replace("\\&", "\\g<0>")
    return regex.sub(repl, str(value), count=0 if "g" in flag_text else 1)


def _json_object(args: tuple[Value, ...], jsonb: bool) -> Value:
    if len(args) % 2:
        raise SqlError(sqlstate.INVALID_PARAMETER_VALUE,
                       "argument list must have even number of elements")
    pairs: dict[str, Any] = {}
    for key, value in zip(args[::2], args[1::2], strict=True):
        if key is None:
            raise SqlError(sqlstate.NULL_VALUE_NOT_ALLOWED, "null value not allowed for object key")
        pairs[str(key)] = value
    if jsonb:
        ordered = dict(sorted(pairs.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode())))
        return json.dumps(ordered, ensure_ascii=False)
    inner = ", ".join(f"{json.dumps(k, ensure_ascii=False)} : {json.dumps(v, ensure_ascii=False)}"
                      for k, v in pairs.items())
    return "{" + inner + "}"


def pg_json_build_object(*args: Value) -> Value:
    return _json_object(args, jsonb=False)


def pg_jsonb_build_object(*args: Value) -> Value:
    return _json_object(args, jsonb=True)


def pg_make_date(year: Value, month: Value, day: Value) -> Value:
    if year is None or month is None or day is None:
        return None
    try:
        return dt.date(int(_number(year)), int(_number(month)), int(_number(day))).isoformat()
    except ValueError:
        raise SqlError(sqlstate.DATETIME_FIELD_OVERFLOW,
                       f"date field value out of range: {year!s}-{month!s}-{day!s}") from None


# ---- date/time -----------------------------------------------------------------------------

_UNITS = {
    "year": "years", "years": "years", "y": "years", "yr": "years", "yrs": "years",
    "month": "months", "months": "months", "mon": "months", "mons": "months",
    "week": "weeks", "weeks": "weeks", "w": "weeks",
    "day": "days", "days": "days", "d": "days",
    "hour": "hours", "hours": "hours", "h": "hours", "hr": "hours", "hrs": "hours",
    "minute": "minutes", "minutes": "minutes", "min": "minutes", "mins": "minutes", "m": "minutes",
    "second": "seconds", "seconds": "seconds", "sec": "seconds", "secs": "seconds", "s": "seconds",
}


def parse_interval(text: Value) -> dict[str, float]:
    """'1 day 2 hours', '3 mons', '01:30:00', '-2 days' -> unit totals."""
    if not isinstance(text, str):
        raise _invalid("interval", text)
    parts: dict[str, float] = {}
    rest = text.strip().lower().replace("@", " ")
    for sign, hh, mm, ss in re.findall(r"([+-]?)(\d+):(\d{2})(?::(\d{2}(?:\.\d+)?))?", rest):
        factor = -1 if sign == "-" else 1
        parts["hours"] = parts.get("hours", 0) + factor * int(hh)
        parts["minutes"] = parts.get("minutes", 0) + factor * int(mm)
        parts["seconds"] = parts.get("seconds", 0) + factor * float(ss or 0)
    rest = re.sub(r"[+-]?\d+:\d{2}(?::\d{2}(?:\.\d+)?)?", " ", rest)
    tokens = re.findall(r"([+-]?\d+(?:\.\d+)?)\s*([a-z]+)", rest)
    leftover = re.sub(r"([+-]?\d+(?:\.\d+)?)\s*([a-z]+)", " ", rest).strip()
    if leftover or (not tokens and not parts):
        raise _invalid("interval", text)
    for number, unit in tokens:
        key = _UNITS.get(unit)
        if key is None:
            raise _invalid("interval", text)
        parts[key] = parts.get(key, 0) + float(number)
    return parts


def _add_months(stamp: dt.datetime, months: int) -> dt.datetime:
    total = stamp.year * 12 + stamp.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31,
            30, 31, 31, 30, 31, 30, 31][month - 1]
    return stamp.replace(year=year, month=month, day=min(stamp.day, last))


def pg_interval_add(value: Value, interval: Value, sign: int = 1) -> Value:
    """timestamp/date +/- interval -> timestamp text (a date operand becomes a timestamp);
    interval +/- interval -> interval text (the translator cannot tell an interval column
    from a timestamp one, so the stored value decides)."""
    if value is None or interval is None:
        return None
    try:
        stamp, zoned = parse_timestamp(value)
    except SqlError:
        if not intervals.is_interval(value):
            raise
        return intervals.add(str(value), intervals.canonical(interval), sign)
    parts = parse_interval(interval)
    months = parts.get("years", 0) * 12 + parts.get("months", 0)
    if months != int(months):
        raise SqlError(sqlstate.FEATURE_NOT_SUPPORTED, "fractional months in interval are not supported")
    stamp = _add_months(stamp, sign * int(months))
    stamp += sign * dt.timedelta(
        weeks=parts.get("weeks", 0), days=parts.get("days", 0), hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0),
    )
    return format_timestamp(stamp, zoned)


_TRUNC = ("microseconds", "milliseconds", "second", "minute", "hour", "day", "week", "month",
          "quarter", "year", "decade", "century", "millennium")


def pg_date_trunc(field: Value, value: Value) -> Value:
    if field is None or value is None:
        return None
    unit = str(field).lower().rstrip("s") if str(field).lower() not in _TRUNC else str(field).lower()
    unit = {"microsecond": "microseconds", "millisecond": "milliseconds"}.get(unit, unit)
    stamp, zoned = parse_timestamp(value)
    if zoned:
        stamp = stamp.astimezone(dt.UTC)
    if unit == "year":
        stamp = stamp.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "quarter":
        stamp = stamp.replace(month=(stamp.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0,
                              second=0, microsecond=0)
    elif unit == "month":
        stamp = stamp.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "week":
        stamp = (stamp - dt.timedelta(days=stamp.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0)
    elif unit == "day":
        stamp = stamp.replace(hour=0, minute=0, second=0, microsecond=0)
    elif unit == "hour":
        stamp = stamp.replace(minute=0, second=0, microsecond=0)
    elif unit == "minute":
        stamp = stamp.replace(second=0, microsecond=0)
    elif unit == "second":
        stamp = stamp.replace(microsecond=0)
    elif unit == "milliseconds":
        stamp = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
    elif unit != "microseconds":
        raise SqlError(sqlstate.INVALID_PARAMETER_VALUE,
                       f'unit "{field!s}" not recognized for type timestamp')
    return format_timestamp(stamp, zoned)


def pg_extract(field: Value, value: Value) -> Value:
    """EXTRACT(field FROM value); numbers come back int when integral (PG returns numeric)."""
    if field is None or value is None:
        return None
    unit = str(field).lower()
    stamp, zoned = parse_timestamp(value)
    if zoned:
        stamp = stamp.astimezone(dt.UTC)
    seconds = stamp.second + stamp.microsecond / 1e6
    table: dict[str, float] = {
        "year": stamp.year, "month": stamp.month, "day": stamp.day, "hour": stamp.hour,
        "minute": stamp.minute, "second": seconds, "milliseconds": seconds * 1000,
        "microseconds": stamp.second * 1_000_000 + stamp.microsecond,
        "dow": stamp.isoweekday() % 7, "isodow": stamp.isoweekday(),
        "doy": stamp.timetuple().tm_yday, "quarter": (stamp.month - 1) // 3 + 1,
        "week": stamp.isocalendar()[1], "isoyear": stamp.isocalendar()[0],
        "decade": stamp.year // 10, "century": (stamp.year - 1) // 100 + 1,
        "epoch": (stamp.replace(tzinfo=dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
        .total_seconds(),
    }
    if unit not in table:
        raise SqlError(sqlstate.INVALID_PARAMETER_VALUE,
                       f'unit "{field!s}" not recognized for type timestamp')
    result = table[unit]
    return int(result) if float(result).is_integer() else result


# ---- nondeterminism ------------------------------------------------------------------------

def _unfixed(name: str) -> Callable[..., Value]:
    def refuse(*_args: Value) -> Value:
        raise SqlError(
            sqlstate.INTERNAL_ERROR,
            f"{name}() reached the state machine unfixed: the leader must call "
            "fix_nondeterminism() before proposing",
        )
    return refuse


def pg_unfixed_default(expression: Value) -> Value:
    """The DEFAULT of a column whose PostgreSQL default is nondeterministic.

    An INSERT that omits the column must get an explicit value from fix_nondeterminism; if
    one slips through we fail loudly instead of letting nodes compute different values."""
    raise SqlError(
        sqlstate.INTERNAL_ERROR,
        f"column default {expression!s} must be supplied by the leader (fix_nondeterminism "
        "with a SchemaInfo)",
    )


class SeededStreams:
    """Per-connection random streams keyed by the seed the leader put in the command.

    They are state of the applying connection that a ROLLBACK does not undo, so every node
    must draw the same values for the same entries. Entries that run again after a roll back
    would not: a batch cut short by a ROLLBACK conflict clause, a run applied ahead of its
    commit and dropped (apply.py). So the state machine calls `hold` before a batch, `restore`
    when it rolls back (the streams changed, evicted or added since are put back as they were)
    and `release` once it committed."""

    MAX_STREAMS = 64

    def __init__(self) -> None:
        self._streams: dict[int, random.Random] = {}
        self._holding = False
        # the seeds at `hold`, in eviction order; taken at the first draw after it, so a
        # batch that draws nothing (nearly all) costs nothing
        self._held: dict[int, None] | None = None
        self._before: dict[int, Any] = {}  # seed -> its generator's state at `hold`

    def hold(self) -> None:
        self._holding = True
        self._held = None
        self._before = {}

    def release(self) -> None:
        self._holding = False
        self._held = None
        self._before = {}

    def restore(self) -> None:
        held, before = self._held, self._before
        self.release()
        if held is None:  # nothing drawn since `hold`
            return
        streams: dict[int, random.Random] = {}
        for seed in held:
            if seed in before:
                rng = streams[seed] = random.Random()
                rng.setstate(before[seed])
            else:
                streams[seed] = self._streams[seed]  # untouched since `hold`
        self._streams = streams

    def reset(self) -> None:
        """Drop every stream, so the next draw of any seed starts it afresh.

        For an interactive transaction's connection (txn.py), before each run of a statement.
        The leader gives every statement a seed of its own (determinism.fix_nondeterminism
        draws one per statement), so when the state machine applies the statement its seed's
        stream is new. The transaction runs a statement more than once: its writes again after
        each park (another writer took the lock), a statement again on the full view. Kept
        streams would make such a run draw on from where the last one stopped: values other
        than the client saw, so its later reads disagreed with its RETURNING and the commit
        failed the digest check with a spurious 40001. Not for a connection that holds
        (`hold`): the state machine's streams live across entries."""
        assert not self._holding
        if self._streams:
            self._streams = {}

    def _note(self, seed: int) -> None:
        if self._held is not None and seed in self._held and seed not in self._before:
            self._before[seed] = self._streams[seed].getstate()

    def stream(self, seed: int) -> random.Random:
        if self._holding and self._held is None:
            self._held = dict.fromkeys(self._streams)
        rng = self._streams.get(seed)
        if rng is None:
            if len(self._streams) >= self.MAX_STREAMS:
                oldest = next(iter(self._streams))
                self._note(oldest)
                self._streams.pop(oldest)
            rng = self._streams[seed] = random.Random(seed)
        else:
            self._note(seed)
        return rng

    def random(self, seed: Value) -> Value:
        assert isinstance(seed, int)
        return self.stream(seed).random()

    def blob(self, seed: Value, size: Value) -> Value:
        assert isinstance(seed, int)
        n = max(int(_number(size)), 1)  # SQLite: randomblob(n < 1) is one byte
        return self.stream(seed).getrandbits(8 * n).to_bytes(n, "big")

    def uuid(self, seed: Value) -> Value:
        assert isinstance(seed, int)
        return str(uuid.UUID(int=self.stream(seed).getrandbits(128), version=4))


def _clock_functions(clock: Clock) -> dict[str, Callable[..., Value]]:
    def now() -> Value:
        return format_timestamp(clock().astimezone(dt.UTC), True)

    def current_date() -> Value:
        return clock().astimezone(dt.UTC).date().isoformat()

    def current_time() -> Value:
        return clock().astimezone(dt.UTC).strftime("%H:%M:%S.%f").rstrip("0").rstrip(".") + "+00"

    def localtimestamp() -> Value:
        return format_timestamp(clock().astimezone(dt.UTC).replace(tzinfo=None), False)

    return {"pg_now": now, "pg_current_date": current_date, "pg_current_time": current_time,
            "pg_localtimestamp": localtimestamp,
            "pg_random": lambda: random.random(),
            "pg_gen_random_uuid": lambda: str(uuid.uuid4())}


NONDETERMINISTIC = ("pg_now", "pg_current_date", "pg_current_time", "pg_localtimestamp",
                    "pg_random", "pg_gen_random_uuid")

DETERMINISTIC: dict[str, Callable[..., Value]] = {
    "pg_div": pg_div, "pg_mod": pg_mod, "pg_div_exact": pg_div_exact,
    "pg_date_arith": pg_date_arith, "pg_substr": pg_substr, "split_part": pg_split_part,
    "lpad": pg_lpad, "rpad": pg_rpad, "initcap": pg_initcap, "repeat": pg_repeat,
    "reverse": pg_reverse, "md5": pg_md5, "regexp_replace": pg_regexp_replace,
    "json_build_object": pg_json_build_object, "jsonb_build_object": pg_jsonb_build_object,
    "make_date": pg_make_date,
    "pg_cast_int": pg_cast_int, "pg_cast_numeric": pg_cast_numeric,
    "pg_cast_float": pg_cast_float, "pg_cast_bool": pg_cast_bool, "pg_cast_text": pg_cast_text,
    "pg_cast_varchar": pg_cast_varchar, "pg_cast_timestamp": pg_cast_timestamp,
    "pg_cast_timestamptz": pg_cast_timestamptz, "pg_cast_date": pg_cast_date,
    "pg_cast_json": pg_cast_json, "pg_cast_time": pg_cast_time, "pg_round": pg_round,
    "ascii": pg_ascii, "pg_cast_jsonb": pg_cast_jsonb, "pg_cast_uuid": pg_cast_uuid,
    "like": pg_like, "pg_ilike": pg_ilike, "regexp": pg_regexp, "pg_regexp_i": pg_regexp_i,
    "lower": pg_lower, "upper": pg_upper, "pg_left": pg_left, "pg_right": pg_right,
    "pg_interval_add": pg_interval_add, "pg_date_trunc": pg_date_trunc, "pg_extract": pg_extract,
    "pg_unfixed_default": pg_unfixed_default, "pg_cast_interval": intervals.pg_cast_interval,
    "pg_cast_bytea": pg_cast_bytea,
}


SEEDED_FUNCTIONS = frozenset({"pg_fixed_random", "pg_fixed_uuid", "pg_fixed_randomblob"})
"""The leader's seeded random functions (determinism.py writes them, `register` installs them).
Their values depend on the connection's streams, which a restart empties, so a client that
called one with a seed of its own could make nodes store different values:
`internal_function_error` refuses them in client SQL, on both translation paths."""


def internal_function_error(name: str) -> SqlError:
    return SqlError(sqlstate.UNDEFINED_FUNCTION,
                    f"function {name}() does not exist (it is internal to raftsql)")


_CONNECTION_STREAMS: weakref.WeakKeyDictionary[Any, SeededStreams] = weakref.WeakKeyDictionary()


def seeded_streams(conn: Any) -> SeededStreams:
    """The random streams of a connection `register` set up."""
    return _CONNECTION_STREAMS[conn]


def register(conn: Any, *, clock: Clock | None = None) -> None:
    """Install every function on an apsw.Connection.

    The state machine calls `register(conn)`: clock/random functions then raise (a write that
    still contains them was not fixed). A connection that serves local reads passes
    `clock=lambda: datetime.now(UTC)` so `SELECT now()` works there."""
    for name, func in DETERMINISTIC.items():
        conn.create_scalar_function(name, func, deterministic=True)
    conn.create_collation("pg_interval", intervals.collate)
    streams = _CONNECTION_STREAMS[conn] = SeededStreams()
    conn.create_scalar_function("pg_fixed_random", streams.random, 1)
    conn.create_scalar_function("pg_fixed_uuid", streams.uuid, 1)
    conn.create_scalar_function("pg_fixed_randomblob", streams.blob, 2)
    if clock is None:
        for name in NONDETERMINISTIC:
            conn.create_scalar_function(name, _unfixed(name), 0)
        conn.create_scalar_function("pg_randomblob", _unfixed("pg_randomblob"), 1)
    else:
        for name, func in _clock_functions(clock).items():
            conn.create_scalar_function(name, func, 0)
        conn.create_scalar_function(
            "pg_randomblob", lambda n: random.randbytes(max(int(_number(n)), 1)), 1)
