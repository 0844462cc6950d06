"""Regenerate data/pg15_types.json from a running PostgreSQL 15:

    python3 tests/unit/pgwire/regen_pg15_golden.py PORT

Records, for each expression of type_cases.py, the raw text and binary result bytes and the
result type OID, with the session settings raftsql reports to clients. Review the diff."""

from __future__ import annotations

import json
import math
import random
import struct
import sys
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from type_cases import CASES  # noqa: E402


def _random_floats(conn: psycopg.Connection[Any]) -> dict[str, list[list[str]]]:
    """float4/float8 text output for random bit patterns and random short decimals: pairs of
    (the value as Python's repr, PostgreSQL's text)."""
    rnd = random.Random(20241126)
    out: dict[str, list[list[str]]] = {}
    for typ, fmt, bits in (("float4", "!f", 32), ("float8", "!d", 64)):
        vals: list[float] = []
        while len(vals) < 1500:
            x = struct.unpack(fmt, rnd.getrandbits(bits).to_bytes(bits // 8, "big"))[0]
            if math.isfinite(x):
                vals.append(x)
        for _ in range(500):
            v = rnd.choice([1, -1]) * rnd.randint(1, 10 ** rnd.randint(1, 12)) / 10 ** rnd.randint(0, 15)
            vals.append(struct.unpack(fmt, struct.pack(fmt, v))[0])
        lits = ",".join(f"'{v!r}'::{typ}" for v in vals)
        cur = conn.execute(f"SELECT unnest(ARRAY[{lits}])")
        res = cur.pgresult
        assert res is not None
        out[typ] = [[repr(v), res.get_value(i, 0).decode()]  # type: ignore[union-attr]
                    for i, v in enumerate(vals)]
    return out


def main() -> None:
    port = int(sys.argv[1])
    conn = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY';"
                 " SET IntervalStyle = 'postgres'; SET extra_float_digits = 1;"
                 " SET bytea_output = 'hex'")
    version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    out = {}
    for sql, _oid, _value, _direction in CASES:
        row = {}
        for fmt, binary in (("text", False), ("binary", True)):
            cur = conn.cursor(binary=binary)
            cur.execute(f"SELECT {sql}")
            res = cur.pgresult
            assert res is not None
            row["oid"] = res.ftype(0)
            row[fmt] = res.get_value(0, 0).hex()  # type: ignore[union-attr]
        out[sql] = row
    floats = _random_floats(conn)
    (Path(__file__).parent / "data" / "pg15_floats.json").write_text(
        json.dumps({"server_version": version, **floats}, indent=0) + "\n")
    path = Path(__file__).parent / "data" / "pg15_types.json"
    path.write_text(json.dumps({"server_version": version, "cases": out}, indent=1,
                               ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} cases from PostgreSQL {version} to {path}")


if __name__ == "__main__":
    main()
