"""Queries the session answers itself: the server's identity functions and the hook for the
pg_catalog / information_schema emulation.

Why: `SELECT version()`, `current_schema()`, `pg_is_in_recovery()`, `current_database()`,
`current_user` (SQLAlchemy on connect, asyncpg/libpq target_session_attrs, PGWIRE.md sections
8 and 9) describe this server, not data, and SQLite has no such functions. A SELECT without
FROM made only of these calls is answered here. Anything else is offered first to
`raftsql.server.catalog.answer(sql, ctx)` when that module exists (the catalog emulation),
then goes to the Database.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raftsql.pgwire import oids as o
from raftsql.server.inference import Column

SERVER_VERSION = "15.6 (raftsql 0.1)"
VERSION_TEXT = ("PostgreSQL 15.6 (raftsql 0.1) on x86_64-pc-linux-gnu, compiled by raftsql, "
                "64-bit")


@dataclass
class Context:
    """What the answers may depend on: the connection and node as this session sees them."""

    user: str
    database: str
    is_leader: Callable[[], bool]
    show: Callable[[str], str]
    backend_pid: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    tag: str


_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9]*)'
_ITEM = re.compile(
    r"\s*(?:pg_catalog\s*\.\s*)?(?P<fn>version|current_schema|current_database|current_user|"
    r"session_user|user|current_catalog|pg_is_in_recovery|pg_advisory_unlock_all|"
    r"pg_backend_pid|current_setting)\s*(?P<call>\(\s*(?:'(?P<arg>[^']*)'\s*)?\))?"
    rf"(?:\s+(?:as\s+)?(?P<alias>{_NAME}))?\s*(?:,|$)",
    re.IGNORECASE,
)
_SELECT = re.compile(r"^\s*select\s+(?P<items>.*?)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_NEEDS_CALL = {"version", "current_database", "pg_is_in_recovery", "pg_advisory_unlock_all",
               "pg_backend_pid", "current_setting"}
_NO_CALL = {"current_user", "session_user", "user", "current_catalog"}


def _evaluate(fn: str, arg: str | None, ctx: Context) -> tuple[Any, int]:
    match fn:
        case "version":
            return VERSION_TEXT, o.TEXT
        case "current_schema":
            return "public", o.NAME
        case "current_database" | "current_catalog":
            return ctx.database, o.NAME
        case "current_user" | "session_user" | "user":
            return ctx.user, o.NAME
        case "pg_is_in_recovery":
            return not ctx.is_leader(), o.BOOL
        case "pg_advisory_unlock_all":
            return None, o.TEXT  # void: PostgreSQL prints an empty value
        case "pg_backend_pid":
            return ctx.backend_pid, o.INT4
        case "current_setting":
            return ctx.show(arg or ""), o.TEXT
    raise AssertionError(fn)


def builtin(sql: str, ctx: Context) -> Answer | None:
    """Answer `SELECT f(), g() ...` made only of the identity functions, else None."""
    m = _SELECT.match(sql)
    if m is None:
        return None
    items, pos, text = [], 0, m.group("items")
    while pos < len(text):
        found = _ITEM.match(text, pos)
        if found is None or found.end() == pos:
            return None
        items.append(found)
        pos = found.end()
    if not items:
        return None
    columns, row = [], []
    for item in items:
        fn = item.group("fn").lower()
        called = item.group("call") is not None
        if (fn in _NEEDS_CALL and not called) or (fn in _NO_CALL and called):
            return None
        if fn == "current_setting" and item.group("arg") is None:
            return None
        value, oid = _evaluate(fn, item.group("arg"), ctx)
        alias = item.group("alias")
        if alias and alias.lower() not in ("from", "where"):
            name = alias[1:-1].replace('""', '"') if alias.startswith('"') else alias.lower()
        elif alias:
            return None
        else:
            name = fn
        if fn == "pg_advisory_unlock_all":
            oid = o.TEXT
        columns.append(Column(name, oid))
        row.append(value)
    return Answer(tuple(columns), [tuple(row)], "SELECT 1")


@functools.cache
def _catalog_hook() -> Callable[[str, Context, list[Any] | None], Any] | None:
    try:
        module = importlib.import_module("raftsql.server.catalog")
    except ImportError:
        return None
    return getattr(module, "answer", None)


@functools.cache
def _catalog_handles() -> Callable[[str], bool] | None:
    try:
        module = importlib.import_module("raftsql.server.catalog")
    except ImportError:
        return None
    return getattr(module, "handles", None)


@functools.cache
def _catalog_param_oids() -> Callable[[str], tuple[int, ...] | None] | None:
    try:
        module = importlib.import_module("raftsql.server.catalog")
    except ImportError:
        return None
    return getattr(module, "param_oids", None)


def param_oids(sql: str) -> tuple[int, ...] | None:
    """The catalog emulation's ParameterDescription for one of its queries, if it knows it."""
    fn = _catalog_param_oids()
    return fn(sql) if fn is not None else None


@functools.lru_cache(maxsize=1024)
def handles(sql: str) -> bool:
    """Cheap test: might `answer()` answer this statement? Remembered per text (regexes over
    the whole text, ~10 us; it runs twice per simple query)."""
    if _SELECT.match(sql) and (_ITEM.match(_SELECT.match(sql).group("items"))  # type: ignore[union-attr]
                               or "quote_literal" in sql.lower()):
        return True
    check = _catalog_handles()
    return bool(check(sql)) if check is not None else False


def catalog(sql: str, ctx: Context, params: list[Any] | None = None) -> Answer | None:
    """The catalog emulation's answer, when `raftsql.server.catalog` provides `answer()`.

    The hook gets `ctx` (with `extra["db"]` and `extra["session"]`) and the Bind values."""
    hook = _catalog_hook()
    if hook is None:
        return None
    result = hook(sql, ctx, params)
    return result if result is None or isinstance(result, Answer) else Answer(*result)


_MOGRIFY_ITEM = re.compile(r"\s*quote_literal\(\s*\$(\d+)\s*::[^)]*::\s*text\s*\)\s*(?:,|$)",
                           re.IGNORECASE)


def quote_literal(value: Any) -> str | None:
    """PostgreSQL's quote_literal() of a value's text."""
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else (
        ("true" if value else "false") if isinstance(value, bool) else str(value))
    quoted = "'" + text.replace("'", "''").replace("\\", "\\\\") + "'"
    return ("E" + quoted) if "\\" in text else quoted


def mogrify(sql: str, params: list[Any] | None) -> Answer | None:
    """asyncpg's `SELECT quote_literal($1::T::text), ...` (utils._mogrify, used by
    copy_from_query/copy_to_table with arguments)."""
    m = _SELECT.match(sql)
    if m is None or "quote_literal" not in sql.lower():
        return None
    text, pos, indexes = m.group("items"), 0, []
    while pos < len(text):
        found = _MOGRIFY_ITEM.match(text, pos)
        if found is None or found.end() == pos:
            return None
        indexes.append(int(found.group(1)) - 1)
        pos = found.end()
    values = params if params is not None else []
    row = tuple(quote_literal(values[i]) if i < len(values) else None for i in indexes)
    return Answer(tuple(Column("quote_literal", o.TEXT) for _ in indexes), [row], "SELECT 1")


def answer(sql: str, ctx: Context, params: list[Any] | None = None) -> Answer | None:
    return builtin(sql, ctx) or mogrify(sql, params) or catalog(sql, ctx, params)
