"""Declared PostgreSQL type names -> (type OID, SQLite affinity, canonical PG name).

Why: SQLite keeps whatever type name a CREATE TABLE declares, and the translator keeps the
PostgreSQL name there (see docs/sql.md). The frontend reads that declared name back (from the
schema or a cursor's decltype) and uses this table to report the PostgreSQL type OID in
RowDescription. OIDs are PostgreSQL's built-in ones (src/include/catalog/pg_type.dat).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Affinity(enum.Enum):
    """SQLite column affinity (https://www.sqlite.org/datatype3.html section 3.1)."""

    INTEGER = "INTEGER"
    TEXT = "TEXT"
    BLOB = "BLOB"
    REAL = "REAL"
    NUMERIC = "NUMERIC"


@dataclass(frozen=True)
class PgType:
    name: str  # canonical PostgreSQL name, as format_type() prints it
    oid: int
    sqlite_name: str  # the name the translator writes into SQLite DDL


# canonical name -> (oid, declared name written to SQLite)
_TYPES: dict[str, tuple[int, str]] = {
    "boolean": (16, "BOOLEAN"),
    "bytea": (17, "BLOB"),
    "bigint": (20, "BIGINT"),
    "smallint": (21, "SMALLINT"),
    "integer": (23, "INTEGER"),
    "text": (25, "TEXT"),
    "json": (114, "JSON"),
    "real": (700, "REAL"),
    "double precision": (701, "DOUBLE PRECISION"),
    "character": (1042, "CHAR"),
    "character varying": (1043, "VARCHAR"),
    "date": (1082, "DATE"),
    "time without time zone": (1083, "TIME"),
    "timestamp without time zone": (1114, "TIMESTAMP"),
    "timestamp with time zone": (1184, "TIMESTAMPTZ"),
    "interval": (1186, "INTERVAL"),
    "numeric": (1700, "NUMERIC"),
    "uuid": (2950, "UUID"),
    "jsonb": (3802, "JSONB"),
}

# every spelling PostgreSQL accepts (upper case, without modifiers) -> canonical name
_ALIASES: dict[str, str] = {
    "BOOL": "boolean", "BOOLEAN": "boolean",
    "BYTEA": "bytea", "BLOB": "bytea",
    "INT8": "bigint", "BIGINT": "bigint", "BIGSERIAL": "bigint", "SERIAL8": "bigint",
    "INT2": "smallint", "SMALLINT": "smallint", "SMALLSERIAL": "smallint", "SERIAL2": "smallint",
    "INT": "integer", "INT4": "integer", "INTEGER": "integer", "SERIAL": "integer",
    "SERIAL4": "integer",
    "TEXT": "text", "NAME": "text",
    "JSON": "json", "JSONB": "jsonb",
    "REAL": "real", "FLOAT4": "real",
    "DOUBLE PRECISION": "double precision", "FLOAT8": "double precision",
    "FLOAT": "double precision", "DOUBLE": "double precision",
    "CHAR": "character", "CHARACTER": "character", "BPCHAR": "character",
    "VARCHAR": "character varying", "CHARACTER VARYING": "character varying",
    "DATE": "date",
    "TIME": "time without time zone", "TIME WITHOUT TIME ZONE": "time without time zone",
    "TIMESTAMP": "timestamp without time zone",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp without time zone",
    "TIMESTAMPTZ": "timestamp with time zone", "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "INTERVAL": "interval",
    "NUMERIC": "numeric", "DECIMAL": "numeric",
    "UUID": "uuid",
}

_MODIFIERS = re.compile(r"\s*\(.*\)\s*")


def lookup(declared: str) -> PgType | None:
    """The PostgreSQL type for a declared name such as 'NUMERIC(10,2)' or 'varchar(20)'.

    Returns None for names PostgreSQL does not know (the frontend then reports text).
    """
    key = " ".join(_MODIFIERS.sub(" ", declared).upper().split())
    canonical = _ALIASES.get(key)
    if canonical is None:
        return None
    oid, sqlite_name = _TYPES[canonical]
    return PgType(canonical, oid, sqlite_name)


def oid_of(declared: str | None) -> int:
    """Type OID for a declared SQLite column type; 25 (text) when unknown or absent."""
    found = lookup(declared) if declared else None
    return found.oid if found else 25


def affinity(declared: str) -> Affinity:
    """SQLite's affinity for a declared type name (rules of datatype3.html section 3.1)."""
    name = declared.upper()
    if "INT" in name:
        return Affinity.INTEGER
    if "CHAR" in name or "CLOB" in name or "TEXT" in name:
        return Affinity.TEXT
    if "BLOB" in name or not name.strip():
        return Affinity.BLOB
    if "REAL" in name or "FLOA" in name or "DOUB" in name:
        return Affinity.REAL
    return Affinity.NUMERIC
