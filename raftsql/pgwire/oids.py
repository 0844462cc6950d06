"""Builtin type OIDs and the pg_type facts RowDescription needs.

Copied from PostgreSQL 15's pg_type (checked against `SELECT oid, typname, typlen, typarray
FROM pg_type` on 15.18; tests/unit/pgwire/test_types.py pins the table). OIDs never change
between PostgreSQL releases, so a hand-kept table is safe for the builtins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

BOOL: Final = 16
BYTEA: Final = 17
CHAR: Final = 18
NAME: Final = 19
INT8: Final = 20
INT2: Final = 21
INT4: Final = 23
TEXT: Final = 25
OID: Final = 26
JSON: Final = 114
FLOAT4: Final = 700
FLOAT8: Final = 701
UNKNOWN: Final = 705
BPCHAR: Final = 1042
VARCHAR: Final = 1043
DATE: Final = 1082
TIME: Final = 1083
TIMESTAMP: Final = 1114
TIMESTAMPTZ: Final = 1184
INTERVAL: Final = 1186
NUMERIC: Final = 1700
UUID: Final = 2950
JSONB: Final = 3802

BOOL_ARRAY: Final = 1000
BYTEA_ARRAY: Final = 1001
CHAR_ARRAY: Final = 1002
NAME_ARRAY: Final = 1003
INT2_ARRAY: Final = 1005
INT4_ARRAY: Final = 1007
TEXT_ARRAY: Final = 1009
BPCHAR_ARRAY: Final = 1014
VARCHAR_ARRAY: Final = 1015
INT8_ARRAY: Final = 1016
FLOAT4_ARRAY: Final = 1021
FLOAT8_ARRAY: Final = 1022
OID_ARRAY: Final = 1028
TIMESTAMP_ARRAY: Final = 1115
DATE_ARRAY: Final = 1182
TIME_ARRAY: Final = 1183
TIMESTAMPTZ_ARRAY: Final = 1185
INTERVAL_ARRAY: Final = 1187
JSON_ARRAY: Final = 199
NUMERIC_ARRAY: Final = 1231
UUID_ARRAY: Final = 2951
JSONB_ARRAY: Final = 3807


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """pg_type facts: `typlen` goes into RowDescription's type size (-1 = varlena,
    -2 = C string); `element` is the element OID of an array type, else 0."""

    oid: int
    name: str
    typlen: int
    array_oid: int = 0
    element: int = 0


_SCALARS = [
    (BOOL, "bool", 1, BOOL_ARRAY), (BYTEA, "bytea", -1, BYTEA_ARRAY),
    (CHAR, "char", 1, CHAR_ARRAY), (NAME, "name", 64, NAME_ARRAY),
    (INT8, "int8", 8, INT8_ARRAY), (INT2, "int2", 2, INT2_ARRAY), (INT4, "int4", 4, INT4_ARRAY),
    (TEXT, "text", -1, TEXT_ARRAY), (OID, "oid", 4, OID_ARRAY), (JSON, "json", -1, JSON_ARRAY),
    (FLOAT4, "float4", 4, FLOAT4_ARRAY), (FLOAT8, "float8", 8, FLOAT8_ARRAY),
    (UNKNOWN, "unknown", -2, 0), (BPCHAR, "bpchar", -1, BPCHAR_ARRAY),
    (VARCHAR, "varchar", -1, VARCHAR_ARRAY), (DATE, "date", 4, DATE_ARRAY),
    (TIME, "time", 8, TIME_ARRAY), (TIMESTAMP, "timestamp", 8, TIMESTAMP_ARRAY),
    (TIMESTAMPTZ, "timestamptz", 8, TIMESTAMPTZ_ARRAY),
    (INTERVAL, "interval", 16, INTERVAL_ARRAY), (NUMERIC, "numeric", -1, NUMERIC_ARRAY),
    (UUID, "uuid", 16, UUID_ARRAY), (JSONB, "jsonb", -1, JSONB_ARRAY),
]

TYPES: Final[dict[int, TypeInfo]] = {}
for _oid, _name, _len, _arr in _SCALARS:
    TYPES[_oid] = TypeInfo(_oid, _name, _len, _arr)
    if _arr:
        TYPES[_arr] = TypeInfo(_arr, "_" + _name, -1, 0, _oid)
BY_NAME: Final[dict[str, TypeInfo]] = {t.name: t for t in TYPES.values()}
