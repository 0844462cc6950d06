"""Regenerate data/pg15_types.json from a running PostgreSQL 15:

    python3 tests/unit/pgwire/regen_pg15_golden.py PORT

Records, for each expression of type_cases.py, the raw text and binary result bytes and the
result type OID, with the session settings raftsql reports to clients. Review the diff."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from type_cases import CASES  # noqa: E402


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
    path = Path(__file__).parent / "data" / "pg15_types.json"
    path.write_text(json.dumps({"server_version": version, "cases": out}, indent=1,
                               ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} cases from PostgreSQL {version} to {path}")


if __name__ == "__main__":
    main()
