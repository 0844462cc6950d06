"""Prepared statements and portals (extended protocol and SQL cursors share them), and the
encoding of their rows.

Why a module: a prepared statement fixes its parameter types and result columns once (Parse /
Describe S), a portal binds values and keeps its position across Execute calls with a row
limit (PortalSuspended) and across Sync inside a transaction. PostgreSQL keeps SQL-level
cursors (DECLARE) in the same namespace as protocol portals (PGWIRE.md section 11.7), so they
are the same object here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from raftsql.pgwire import backend as be
from raftsql.pgwire import oids as o
from raftsql.server import values
from raftsql.server.answers import Answer
from raftsql.server.copy import CopySpec
from raftsql.server.inference import Column
from raftsql.sql.classify import StatementKind, Translated


@dataclass
class Prepared:
    """One prepared statement. kind: 'empty', 'sql', 'answer', 'copy', 'cursor',
    'sqlprepare' (PREPARE/EXECUTE), 'multi' (one client statement run as several,
    see rewrites.py)."""

    sql: str
    kind: str
    params: tuple[int, ...] = ()
    columns: tuple[Column, ...] | None = None  # None: returns no rows
    translated: Translated | None = None
    tree: exp.Expression | None = None
    copy: CopySpec | None = None
    answer: Answer | None = None
    described: bool = False  # Describe S sent: columns are final
    subs: list[Prepared] = field(default_factory=list)  # kind 'multi': run in order
    fresh: bool = False  # `answer` was computed just now and may be used once
    _typed_for: tuple[Column, ...] | None = field(default=None, repr=False, compare=False)
    _typed: bool = field(default=False, repr=False, compare=False)

    @property
    def returns_rows(self) -> bool:
        return self.columns is not None

    @property
    def typed(self) -> bool:
        """Every result column has its type: rows need no look at their values (fill_types).
        Decided once per columns tuple, not on every Execute."""
        cols = self.columns
        if cols is not self._typed_for:
            self._typed_for = cols
            self._typed = cols is not None and all(c.oid is not None for c in cols)
        return self._typed

    @functools.cached_property
    def may_open_pipeline(self) -> bool:
        """A write or DDL statement: executing it may open an implicit pipeline transaction
        (PgSession._maybe_begin_pipeline); other statements need not ask."""
        t = self.translated
        return self.kind == "sql" and t is not None and t.kind in (
            StatementKind.WRITE, StatementKind.DDL)

    def final_columns(self) -> tuple[Column, ...] | None:
        """Columns as a Describe S reports them: unknown types become text, once. The tuple is
        kept when every type is known: a Describe of the portal asks for it at every
        execution (psycopg, pgbench), and the DataRow plan is remembered per tuple."""
        cols = self.columns
        if cols is not None and not all(c.oid is not None for c in cols):
            self.columns = tuple(c if c.oid is not None else Column(c.name, o.TEXT)
                                 for c in cols)
        self.described = True
        return self.columns


@dataclass
class Portal:
    stmt: Prepared
    params: list[Any]
    result_formats: tuple[int, ...] = ()
    holdable: bool = False
    executed: bool = False
    columns: tuple[Column, ...] | None = None
    rows: Sequence[tuple[Any, ...]] = ()
    pos: int = 0
    tag: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def formats(self) -> tuple[int, ...]:
        n = len(self.columns or ())
        codes = self.result_formats
        if not codes:
            return (0,) * n
        if len(codes) == 1:
            return codes * n
        return codes

    def row_description(self) -> be.RowDescription:
        return row_description(self.columns or (), self.formats())

    def take(self, limit: int) -> Sequence[tuple[Any, ...]]:
        end = len(self.rows) if limit <= 0 else min(len(self.rows), self.pos + limit)
        chunk = self.rows[self.pos:end]
        self.pos = end
        return chunk

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.rows)


def row_description(columns: Sequence[Column], formats: Sequence[int]) -> be.RowDescription:
    fields = []
    for col, fmt in zip(columns, formats, strict=True):
        oid = col.oid if col.oid is not None else o.TEXT
        info = o.TYPES.get(oid)
        fields.append(be.FieldDescription(col.name, oid, info.typlen if info else -1,
                                          col.typmod, fmt))
    return be.RowDescription(tuple(fields))


def fill_types(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]]) -> tuple[Column, ...]:
    """Give columns of unknown type the type their first non-NULL value shows."""
    out = []
    for i, col in enumerate(columns):
        if col.oid is None:
            found = next((r[i] for r in rows if i < len(r) and r[i] is not None), None)
            col = Column(col.name, values.oid_of_value(found) if found is not None else o.TEXT)
        out.append(col)
    return tuple(out)


_Plan = list[tuple[int, int, int | None]]
_PLANS: dict[int, tuple[Sequence[Column], Sequence[int], _Plan]] = {}
_MAX_PLANS = 1024


def _plan(columns: Sequence[Column], formats: Sequence[int]) -> _Plan:
    """(oid, format, scale) per column, remembered for the columns object a prepared statement
    reuses on every Execute (Column.scale is a Python property). Keyed by identity; the entry
    holds the columns, so the id cannot be reused while it is cached."""
    found = _PLANS.get(id(columns))
    if found is not None and found[0] is columns and found[1] == formats:
        return found[2]
    plan = [((c.oid if c.oid is not None else o.TEXT), fmt, c.scale)
            for c, fmt in zip(columns, formats, strict=True)]
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    _PLANS[id(columns)] = (columns, formats, plan)
    return plan


def encode_rows(columns: Sequence[Column], formats: Sequence[int],
                rows: Sequence[tuple[Any, ...]]) -> bytes:
    """DataRow messages for `rows`, every value converted to its column's type."""
    plan = _plan(columns, formats)
    encode = values.encode_result
    out = []
    for row in rows:
        out.append(be.encode_data_row(
            [encode(oid, v, fmt, scale) for (oid, fmt, scale), v in zip(plan, row, strict=False)]))
    return b"".join(out)
