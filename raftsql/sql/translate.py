"""translate(pg_sql) -> [Translated]: PostgreSQL-dialect SQL to deterministic SQLite SQL.

Pipeline per statement (docs/sql.md has the table of constructs):
  scan.split (quote-aware: $n, E'..', $$..$$, ';')
  -> classify_prefix (transaction/session/forbidden statements, no sqlglot)
  -> sqlglot parse (postgres) -> rules.RULES + ddl rewrites on the AST
  -> generate with dialect.PgSQLite -> scan.bind_markers ('?' + param_order).
The result is memoized by exact text (bounded LRU); `cache_info()` reports hits and misses.
"""

from __future__ import annotations

import functools
import json
import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from raftsql.sql import sqlstate
from raftsql.sql.classify import (
    ColumnInfo,
    SessionAction,
    StatementKind,
    Translated,
    TxnAction,
    classify_prefix,
)
from raftsql.sql.errors import SqlError, unsupported
from raftsql.sql.rewrite import ddl, rules
from raftsql.sql.rewrite.dialect import PgSQLite
from raftsql.sql.rewrite.scan import Piece, bind_markers, leading_words, scan_generated, split

__all__ = ["ColumnInfo", "SessionAction", "StatementKind", "Translated", "TxnAction",
           "translate", "describe", "cache_info", "cache_clear", "CACHE_SIZE"]

CACHE_SIZE = 4096
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(\((?P<opts>[^)]*)\)\s*|(?P<words>(?:(?:ANALYZE|ANALYSE|VERBOSE)\s+)*))",
                      re.I)
_INDEX_METHODS = {"btree"}


def _parse(piece: Piece) -> exp.Expression:
    try:
        trees = sqlglot.parse(piece.text, read="postgres", error_level=ErrorLevel.RAISE)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        near = str(first.get("highlight") or "").strip()
        message = f'syntax error at or near "{near}"' if near else "syntax error at end of input"
        raise SqlError(sqlstate.SYNTAX_ERROR, message,
                       position=_error_position(piece, first)) from None
    except TokenError:
        raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error: cannot tokenize statement") from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error: expected one statement")
    tree = trees[0]
    assert isinstance(tree, exp.Expression)
    if isinstance(tree, exp.Command | exp.Alias):
        words = " ".join(leading_words(piece.text, 2))
        raise unsupported(words or "this statement")
    return tree


def _error_position(piece: Piece, error: dict[str, object]) -> int | None:
    """1-based position of sqlglot's highlighted token in the client's query string."""
    line, col, near = error.get("line"), error.get("col"), str(error.get("highlight") or "")
    if not isinstance(line, int) or not isinstance(col, int) or not near:
        return None
    lines = piece.text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    index = sum(len(x) + 1 for x in lines[: line - 1]) + col - len(near)
    return piece.original_position(max(index, 0))


def _insert_width(source: exp.Expression | None) -> int | None:
    """Values per row of an INSERT source, when the statement alone tells."""
    if isinstance(source, exp.Values):
        widths = {len(row.expressions) for row in source.expressions if isinstance(row, exp.Tuple)}
        return widths.pop() if len(widths) == 1 else None
    if isinstance(source, exp.Select) and not any(
        isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
        for e in source.selects
    ):
        return len(source.selects)
    return None


def _table_name(node: exp.Expression | None) -> str | None:
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        return node.name
    return None


def _classify_tree(tree: exp.Expression) -> tuple[StatementKind, str, bool]:
    """(kind, command tag, returns rows) of a parsed statement."""
    if isinstance(tree, exp.Query | exp.Values):
        if isinstance(tree, exp.Select) and tree.args.get("into") is not None:
            raise unsupported("SELECT INTO")
        return StatementKind.READ, "SELECT", True
    returning = tree.args.get("returning") is not None
    if isinstance(tree, exp.Insert):
        return StatementKind.WRITE, "INSERT", returning
    if isinstance(tree, exp.Update):
        return StatementKind.WRITE, "UPDATE", returning
    if isinstance(tree, exp.Delete):
        return StatementKind.WRITE, "DELETE", returning
    if isinstance(tree, exp.TruncateTable):
        return StatementKind.WRITE, "TRUNCATE TABLE", False
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind", "")).upper()
        if kind not in ("TABLE", "INDEX", "VIEW"):
            raise unsupported(f"CREATE {kind}")
        if kind == "TABLE" and isinstance(tree.expression, exp.Query):
            return StatementKind.DDL, "SELECT", False
        return StatementKind.DDL, f"CREATE {kind}", False
    if isinstance(tree, exp.Drop):
        kind = str(tree.args.get("kind", "")).upper()
        if kind not in ("TABLE", "INDEX", "VIEW"):
            raise unsupported(f"DROP {kind}")
        return StatementKind.DDL, f"DROP {kind}", False
    if isinstance(tree, exp.Alter):
        return StatementKind.DDL, "ALTER TABLE", False
    raise unsupported(type(tree).__name__.upper())


def _check_ddl(tree: exp.Expression) -> None:
    if isinstance(tree, exp.Create):
        if tree.args.get("replace"):
            raise unsupported("CREATE OR REPLACE")
        props = tree.args.get("properties")
        for prop in props.expressions if props else []:
            if isinstance(prop, exp.TemporaryProperty):
                raise unsupported("temporary tables (they would live on one node only)")
            if isinstance(prop, exp.UnloggedProperty):
                raise unsupported("UNLOGGED tables")
        if str(tree.args.get("kind")).upper() == "INDEX":
            tree.set("concurrently", False)
            index = tree.this
            params = index.args.get("params") if isinstance(index, exp.Index) else None
            using = params.args.get("using") if params is not None else None
            if using is not None:
                if using.name.lower() not in _INDEX_METHODS:
                    raise unsupported(f"index method {using.name}")
                params.set("using", None)  # type: ignore[union-attr]
            if params is not None and params.args.get("include"):
                raise unsupported("INCLUDE columns in an index")
    if isinstance(tree, exp.Drop):
        if tree.args.get("cascade"):
            raise unsupported("DROP ... CASCADE")
        if len(tree.args.get("tables") or []) > 1:
            raise unsupported("DROP of several objects in one statement")
        tree.set("concurrently", False)


_UNNAMED_IF_NOT_EXISTS = re.compile(r"\bEXISTS\s+(ON)\b", re.I)


def _check_unnamed_index(tree: exp.Create, piece: Piece) -> None:
    """PostgreSQL's grammar has IF NOT EXISTS only with an index name: sqlglot accepts
    ``CREATE INDEX IF NOT EXISTS ON t (a)``, PostgreSQL answers 42601 at the ON."""
    if tree.args.get("exists") and isinstance(tree.this, exp.Index) and tree.this.this is None:
        found = _UNNAMED_IF_NOT_EXISTS.search(piece.text)
        near = found.group(1) if found else "ON"
        raise SqlError(sqlstate.SYNTAX_ERROR, f'syntax error at or near "{near}"',
                       position=piece.original_position(found.start(1)) if found else None)


def _generate(tree: exp.Expression) -> str:
    try:
        return tree.sql(dialect=PgSQLite, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise unsupported(str(exc).splitlines()[0].rstrip(".")) from None


def _translate_tree(piece: Piece) -> Translated:
    tree = _parse(piece)
    kind, tag, returns_rows = _classify_tree(tree)
    columns: tuple[ColumnInfo, ...] = ()
    rebuild: tuple[str, ...] = ()
    if kind is StatementKind.DDL:  # first, so defaults are recorded in PostgreSQL's words
        _check_ddl(tree)
        if isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() == "TABLE":
            columns = ddl.rewrite_create_table(tree)
        elif isinstance(tree, exp.Alter):
            columns, rebuild = ddl.rewrite_alter(tree)
        elif isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() == "INDEX":
            _check_unnamed_index(tree, piece)
            ddl.rewrite_create_index(tree, piece.text)
    ctx = rules.Context()
    for rule in rules.RULES:
        tree = rule(tree, ctx)
    insert_columns: tuple[str, ...] | None = None
    insert_width: int | None = None
    if isinstance(tree, exp.Insert):
        if tree.args.get("default"):
            insert_columns = ()
        elif isinstance(tree.this, exp.Schema):
            insert_columns = tuple(c.name for c in tree.this.expressions)
        insert_width = _insert_width(tree.expression)
    table = None
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete | exp.Create | exp.Alter):
        table = _table_name(tree.this)
    elif isinstance(tree, exp.Drop):
        table = _table_name(tree.this)
    sql = "" if rebuild else _generate(tree)
    sql, order = bind_markers(sql)
    markers = [tok for _s, _e, tok in scan_generated(sql) if not tok.startswith("$")]
    view_like = kind is StatementKind.DDL and tag != "SELECT"
    return Translated(
        kind=kind, sql=sql, param_order=order, nparams=piece.nparams, command_tag=tag,
        returns_rows=returns_rows, needs_fixing=bool(markers) and not view_like,
        original=piece.original, json_params=frozenset(ctx.json_params), table=table,
        insert_columns=insert_columns, insert_width=insert_width, columns=columns,
        catalog_tables=tuple(dict.fromkeys(ctx.catalog_tables)), rebuild_primary_key=rebuild,
    )


def _translate_explain(piece: Piece) -> Translated | None:
    match = _EXPLAIN.match(piece.text)
    if match is None:
        return None
    options = (match.group("opts") or match.group("words") or "").upper()
    inner_text = piece.text[match.end():]
    inner = _translate_piece(Piece(inner_text, inner_text, piece.offset, piece.nparams))
    if inner.kind is not StatementKind.READ:
        if "ANALY" in options:
            raise unsupported("EXPLAIN ANALYZE of a write")
        if inner.kind not in (StatementKind.WRITE,):
            raise unsupported(f"EXPLAIN {inner.command_tag}")
    return Translated(
        kind=StatementKind.READ, sql="EXPLAIN QUERY PLAN " + inner.sql,
        param_order=inner.param_order, nparams=inner.nparams, command_tag="EXPLAIN",
        returns_rows=True, needs_fixing=False, original=piece.original,
        json_params=inner.json_params, catalog_tables=inner.catalog_tables,
    )


def _translate_piece(piece: Piece) -> Translated:
    prefix = classify_prefix(piece)
    if prefix is not None:
        return prefix
    words = leading_words(piece.text, 1)
    if words == ["EXPLAIN"]:
        explained = _translate_explain(piece)
        if explained is not None:
            return explained
    return _translate_tree(piece)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _translate_cached(pg_sql: str) -> tuple[Translated, ...]:
    return tuple(_translate_piece(piece) for piece in split(pg_sql))


def translate(pg_sql: str) -> list[Translated]:
    """Translate every statement of `pg_sql` (split at top-level ';').

    Raises SqlError (42601 syntax, 0A000 unsupported, 42501 forbidden, ...). An empty query
    string gives an empty list (the frontend answers EmptyQueryResponse)."""
    return list(_translate_cached(pg_sql))


def cache_info() -> functools._CacheInfo:
    """Hits, misses, maxsize and current size of the translation cache."""
    return _translate_cached.cache_info()


def cache_clear() -> None:
    _translate_cached.cache_clear()


def describe(t: Translated) -> str:
    """One stable line for a Translated (golden files, logs; STYLE.md rule 14)."""
    flags = [t.kind.name, t.command_tag]
    if t.returns_rows:
        flags.append("rows")
    if t.param_order:
        flags.append("params=" + ",".join(str(i + 1) for i in t.param_order))
    if t.json_params:
        flags.append("json=" + ",".join(str(i + 1) for i in sorted(t.json_params)))
    if t.needs_fixing:
        flags.append("fix")
    if t.catalog_tables:
        flags.append("catalog=" + ",".join(t.catalog_tables))
    if t.rebuild_primary_key:
        flags.append("rebuild_pk=" + ",".join(t.rebuild_primary_key))
    defaults = [c.name for c in t.columns if c.nondeterministic_default]
    if defaults:
        flags.append("nondeterministic_defaults=" + ",".join(defaults))
    action = t.txn or t.session
    if action is not None:
        fields = {k: v for k, v in vars(action).items() if v not in (None, False)}
        body = " ".join(f"{k}={v!r}" if k != "action" else str(v) for k, v in fields.items())
    else:
        body = t.sql
    if "\n" in body or body != body.strip():
        body = "json:" + json.dumps(body)
    return " ".join(flags) + " | " + body
