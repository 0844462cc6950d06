"""numeric <-> decimal.Decimal. Text as PostgreSQL's numeric_out (plain digits, the value's
own scale, no negative zero); binary as numeric_send/numeric_recv: Int16 ndigits, Int16
weight, Int16 sign, Int16 dscale, then base-10000 Int16 digits (PGWIRE.md 5.3)."""

from __future__ import annotations

import re
import struct
from decimal import Decimal

_HEAD = struct.Struct("!hhHH")
NBASE = 10000
POS, NEG, NAN, PINF, NINF = 0x0000, 0x4000, 0xC000, 0xD000, 0xF000
DSCALE_MAX = 0x3FFF

_TEXT = re.compile(
    r"\s*([+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|[+-]?(?:nan|inf|infinity))\s*",
    re.IGNORECASE,
)


def encode_text(value: Decimal | int | float) -> bytes:
    d = value if isinstance(value, Decimal) else Decimal(value)
    if d.is_nan():
        if d.is_snan():
            raise ValueError("signaling NaN is not a numeric")
        return b"NaN"
    if d.is_infinite():
        return b"Infinity" if d > 0 else b"-Infinity"
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    if -exp > DSCALE_MAX:
        raise OverflowError("value overflows numeric format")
    if d.is_zero():
        d = abs(d)  # PostgreSQL has no negative zero
    return format(d, "f").encode("ascii")


def decode_text(data: bytes) -> Decimal:
    text = data.decode("ascii")
    m = _TEXT.fullmatch(text)
    if m is None:
        raise ValueError(f'invalid input syntax for type numeric: "{text}"')
    token = m.group(1).lower()
    if token.lstrip("+-") in ("inf", "infinity"):
        return Decimal("-Infinity") if token.startswith("-") else Decimal("Infinity")
    d = Decimal(token)
    if d.is_nan():
        return Decimal("NaN")
    if d.as_tuple().exponent < 0 and -d.as_tuple().exponent > DSCALE_MAX:  # type: ignore[operator]
        raise OverflowError("value overflows numeric format")
    return abs(d) if d.is_zero() else d


def encode_binary(value: Decimal | int | float) -> bytes:
    d = value if isinstance(value, Decimal) else Decimal(value)
    if d.is_nan():
        if d.is_snan():
            raise ValueError("signaling NaN is not a numeric")
        return _HEAD.pack(0, 0, NAN, 0)
    if d.is_infinite():
        # dscale 32 is what PostgreSQL 15.18 sends for +-Infinity (recorded; readers ignore it)
        return _HEAD.pack(0, 0, PINF if d > 0 else NINF, 32)
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    dscale = max(0, -exp)
    if dscale > DSCALE_MAX:
        raise OverflowError("value overflows numeric format")
    ds = "".join(map(str, digits))
    if exp > 0:
        ds += "0" * exp
        exp = 0
    int_len = len(ds) + exp  # decimal digits before the point (may be <= 0)
    if int_len <= 0:
        ds = "0" * (-int_len) + ds
        int_len = 0
    lead = (-int_len) % 4
    ds = "0" * lead + ds
    int_len += lead
    ds += "0" * ((-len(ds)) % 4)
    groups = [int(ds[i : i + 4]) for i in range(0, len(ds), 4)]
    weight = int_len // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    if not -0x8000 <= weight <= 0x7FFF or len(groups) > 0x7FFF:
        raise OverflowError("value overflows numeric format")
    head = _HEAD.pack(len(groups), weight, NEG if sign and groups else POS, dscale)
    return head + struct.pack(f"!{len(groups)}H", *groups)


def decode_binary(data: bytes) -> Decimal:
    ndigits, weight, sign, dscale = _HEAD.unpack_from(data)
    if ndigits < 0 or len(data) != 8 + 2 * ndigits:
        raise ValueError("invalid length in external numeric value")
    if sign == NAN:
        return Decimal("NaN")
    if sign in (PINF, NINF):
        return Decimal("Infinity" if sign == PINF else "-Infinity")
    if sign not in (POS, NEG):
        raise ValueError("invalid sign in external numeric value")
    if dscale > DSCALE_MAX:
        raise ValueError("invalid scale in external numeric value")
    groups = struct.unpack_from(f"!{ndigits}H", data, 8)
    if any(g >= NBASE for g in groups):
        raise ValueError("invalid digit in external numeric value")
    ds = "".join([f"{g:04d}" for g in groups])
    exp = (weight - ndigits + 1) * 4
    # Present the value at exactly `dscale` fractional digits; digits hidden by dscale are
    # truncated, as numeric_recv does. Strings, not ints: no 4300-digit conversion limit.
    if -exp > dscale:
        ds = ds[: max(0, len(ds) - (-exp - dscale))]
    elif -exp < dscale:
        ds += "0" * (dscale + exp)
    digits = tuple(map(int, ds.lstrip("0"))) or (0,)
    return Decimal((1 if sign == NEG and digits != (0,) else 0, digits, -dscale))
