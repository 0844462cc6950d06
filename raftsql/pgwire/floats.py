"""float4/float8 text output exactly as PostgreSQL 15 prints them (extra_float_digits = 1, the
default since 12): the shortest digits that read back to the same value (Ryu), in %e style
when the decimal exponent is < -4 or >= DBL_DIG (15) / FLT_DIG (6), else plain digits."""

from __future__ import annotations

import math
import struct
from decimal import Decimal, localcontext

_F32 = struct.Struct("!f")


def to_float4(x: float) -> float:
    """Round to the nearest float32 (OverflowError past FLT_MAX)."""
    return float(_F32.unpack(_F32.pack(x))[0])


def _digits_of(text: str) -> tuple[str, int]:
    """'1.25e-07' -> ('125', -7): significant digits and the decimal exponent of the first."""
    mant, _, exp = text.partition("e")
    intpart, _, frac = mant.partition(".")
    allds = intpart + frac
    stripped = allds.lstrip("0")
    lead = len(allds) - len(stripped)
    point = len(intpart) - lead + (int(exp) if exp else 0)
    return stripped.rstrip("0") or "0", point - 1


def _neighbours(x: float) -> tuple[Decimal, Decimal]:
    """The float32 values just below and above x (x > 0 and a float32)."""
    (bits,) = struct.unpack("!I", _F32.pack(x))
    below = float(_F32.unpack(struct.pack("!I", bits - 1))[0])
    above = float(_F32.unpack(struct.pack("!I", bits + 1))[0])
    if math.isinf(above):
        above = x + (x - below)
    return Decimal(below), Decimal(above)


def _reads_back(candidate: Decimal, x: float) -> bool:
    """Strictly inside x's rounding interval. PostgreSQL's float4 Ryu does not accept the
    interval's end points (a tie), so neither do we (recorded against PostgreSQL 15.18)."""
    below, above = _neighbours(x)
    exact = Decimal(x)
    with localcontext(prec=400):  # exact: float32 values have at most ~150 digits
        return (exact + below) / 2 < candidate < (exact + above) / 2


def _float4_digits(x: float) -> tuple[str, int]:
    """Shortest digits that round-trip through float32; among equals, the closest to x."""
    for p in range(1, 10):
        base = Decimal(f"{x:.{p - 1}e}")
        exp = base.adjusted() - (p - 1)
        step = Decimal(1).scaleb(exp)
        hits = [c for c in (base, base - step, base + step) if c and _reads_back(c, x)]
        if hits:
            best = min(hits, key=lambda c: abs(c - Decimal(x)))
            return _digits_of(f"{best:e}")
    return _digits_of(repr(x))


def format_float(x: float, *, single: bool = False) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign = "-" if x < 0 else ""
    digits, e10 = _float4_digits(abs(x)) if single else _digits_of(repr(abs(x)))
    if e10 < -4 or e10 >= (6 if single else 15):
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"
    point = e10 + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"
