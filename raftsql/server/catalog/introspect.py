"""asyncpg's type introspection query, answered directly.

Why: asyncpg decodes results by type OID and knows only its core types; for any other OID in a
RowDescription (bool[], int8[], name[], int2vector: SQLAlchemy's index reflection returns those)
it sends one fixed recursive CTE over pg_type/pg_namespace/pg_range/pg_attribute
(asyncpg/introspection.py INTRO_LOOKUP_TYPES, $1 = oid[]) and builds codecs from the rows. The
query is recognised by its CTE name and answered from the builtin type table, with the columns
and values PostgreSQL 15 gives: one row per requested type plus, recursively, its element type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from raftsql.server.catalog import tables as tb
from raftsql.server.catalog.functions import format_type

MARKER = "typeinfo_tree"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("oid", "oid"), ("ns", "name"), ("name", "name"), ("kind", "char"), ("basetype", "oid"),
    ("elemtype", "oid"), ("elemdelim", "char"), ("range_subtype", "oid"),
    ("attrtypoids", "_oid"), ("attrnames", "_text"), ("depth", "int4"),
    ("basetype_name", "text"), ("elemtype_name", "text"), ("range_subtype_name", "text"),
)
# int2vector and oidvector are varlena vectors of int2/oid (pg_type.dat typelem)
_VECTOR_ELEMENTS = {22: 21, 30: 26}


def is_introspection(sql: str) -> bool:
    return MARKER in sql


def _oids(param: Any) -> list[int]:
    if isinstance(param, str):
        param = json.loads(param) if param.startswith("[") else param.strip("{}").split(",")
    return [int(v) for v in param or [] if str(v).strip()]


def rows(params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The introspection rows for the OIDs in params[0], deepest element types first."""
    wanted = _oids(params[0]) if params else []
    found: dict[int, tuple[Any, ...]] = {}
    frontier = [(oid, 0) for oid in wanted]
    while frontier:
        oid, depth = frontier.pop()
        info = tb.TYPE_BY_OID.get(oid)
        if info is None or (oid in found and found[oid][10] >= depth):
            continue
        element = info.element or _VECTOR_ELEMENTS.get(oid, 0)
        kind = "p" if info.category == "P" else "b"
        found[oid] = (oid, "pg_catalog", info.name, kind, None, element,
                      "," if element else None, None, None, None, depth, None,
                      format_type(element, None) if element else "-", None)
        if element:
            frontier.append((element, depth + 1))
    return sorted(found.values(), key=lambda r: (-r[10], r[0]))
