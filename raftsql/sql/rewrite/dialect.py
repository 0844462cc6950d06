"""A SQLite generator that keeps PostgreSQL semantics.

Why a generator subclass (sqlglot's TRANSFORMS table, STYLE.md 4b.3): every place where
SQLite would silently answer differently from PostgreSQL is routed to a function in
raftsql/sql/functions.py (pg_div, pg_cast_int, ...), and every construct we cannot translate
faithfully raises SqlError 0A000 naming it. DDL keeps PostgreSQL's declared type names so the
frontend can report PostgreSQL types from the SQLite schema (see pgtypes.py).
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.generators.sqlite import SQLiteGenerator as _SQLiteBase

from raftsql.sql.errors import unsupported

T = exp.DataType.Type

INT_CASTS = {T.SMALLINT: "smallint", T.INT: "integer", T.BIGINT: "bigint",
             T.TINYINT: "smallint", T.MEDIUMINT: "integer"}
FLOAT_CASTS = {T.FLOAT: "real", T.DOUBLE: "double precision"}
SIMPLE_CASTS = {
    T.BOOLEAN: "pg_cast_bool", T.DATE: "pg_cast_date", T.TIMESTAMP: "pg_cast_timestamp",
    T.TIMESTAMPTZ: "pg_cast_timestamptz", T.JSON: "pg_cast_json", T.JSONB: "pg_cast_jsonb",
    T.UUID: "pg_cast_uuid", T.TEXT: "pg_cast_text", T.TIME: "pg_cast_time",
    T.VARBINARY: "pg_cast_bytea",
}
# DDL: sqlglot type -> declared name kept in SQLite (chosen for the right SQLite affinity)
DDL_NAMES = {
    T.BOOLEAN: "BOOLEAN", T.SMALLINT: "SMALLINT", T.INT: "INTEGER", T.BIGINT: "BIGINT",
    T.TINYINT: "SMALLINT", T.TEXT: "TEXT", T.FLOAT: "REAL", T.DOUBLE: "DOUBLE PRECISION",
    T.DATE: "DATE", T.TIMESTAMP: "TIMESTAMP", T.TIMESTAMPTZ: "TIMESTAMPTZ", T.JSON: "JSON",
    T.JSONB: "JSONB", T.UUID: "UUID", T.VARBINARY: "BLOB", T.BLOB: "BLOB", T.TIME: "TIME",
    T.NAME: "TEXT", T.INTERVAL: "INTERVAL",
}


def _type_param(dtype: exp.DataType, index: int) -> int | None:
    params = dtype.expressions
    if len(params) <= index:
        return None
    node = params[index]
    value = node.this if isinstance(node, exp.DataTypeParam) else node
    if isinstance(value, exp.Literal) and not value.is_string:
        return int(value.this)
    raise unsupported(f"type modifier {node.sql('postgres')}")


def ddl_type_name(dtype: exp.DataType) -> str:
    """The declared type written into SQLite DDL for a PostgreSQL column type."""
    kind = dtype.this
    if kind in (T.VARCHAR, T.CHAR, T.NCHAR, T.NVARCHAR):
        base = "CHAR" if kind in (T.CHAR, T.NCHAR) else "VARCHAR"
        length = _type_param(dtype, 0)
        return base if length is None else f"{base}({length})"
    if kind in (T.DECIMAL, T.BIGDECIMAL):
        precision, scale = _type_param(dtype, 0), _type_param(dtype, 1)
        if precision is None:
            return "NUMERIC"
        return f"NUMERIC({precision})" if scale is None else f"NUMERIC({precision},{scale})"
    if kind in DDL_NAMES and not dtype.expressions:
        return DDL_NAMES[kind]
    if kind in (T.TIMESTAMP, T.TIMESTAMPTZ, T.TIME):
        return DDL_NAMES[kind]  # precision modifiers are accepted and ignored
    raise unsupported(f"column type {dtype.sql('postgres')}")


def _cast_sql(self: Any, e: exp.Cast) -> str:
    to: exp.DataType = e.args["to"]
    kind = to.this
    arg = e.this
    if kind in INT_CASTS:
        return str(self.func("pg_cast_int", arg, exp.Literal.string(INT_CASTS[kind])))
    if kind in FLOAT_CASTS:
        return str(self.func("pg_cast_float", arg, exp.Literal.string(FLOAT_CASTS[kind])))
    if kind in (T.DECIMAL, T.BIGDECIMAL):
        scale = _type_param(to, 1)
        if _type_param(to, 0) is not None and scale is None:
            scale = 0
        if scale is None:
            return str(self.func("pg_cast_numeric", arg))
        return str(self.func("pg_cast_numeric", arg, exp.Literal.number(scale)))
    if kind in (T.VARCHAR, T.CHAR, T.NVARCHAR, T.NCHAR):
        length = _type_param(to, 0)
        if length is None:
            return str(self.func("pg_cast_text", arg))
        if kind in (T.CHAR, T.NCHAR):
            raise unsupported("cast to char(n)")
        return str(self.func("pg_cast_varchar", arg, exp.Literal.number(length)))
    if kind == T.INTERVAL and not to.expressions:
        # compared by span, as interval columns are (raftsql/sql/intervals.py)
        return f"{self.func('pg_cast_interval', arg)} COLLATE pg_interval"
    if kind in SIMPLE_CASTS and not (to.expressions and kind not in (T.TIMESTAMP, T.TIMESTAMPTZ,
                                                                    T.TIME)):
        return str(self.func(SIMPLE_CASTS[kind], arg))
    raise unsupported(f"cast to {to.sql('postgres')}")


def _json_path(path: exp.Expression) -> exp.Expression:
    """PostgreSQL text-array path '{a,b,1}' -> SQLite JSON path '$."a"."b"[1]'."""
    if not (isinstance(path, exp.Literal) and path.is_string):
        raise unsupported("#> / #>> with a non-literal path")
    text = str(path.this).strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise unsupported(f"JSON path {text!r}")
    out = "$"
    for part in [p.strip().strip('"') for p in text[1:-1].split(",") if p.strip()]:
        out += f"[{part}]" if part.lstrip("-").isdigit() else '."' + part.replace('"', '\\"') + '"'
    return exp.Literal.string(out)


def _substring(self: Any, e: exp.Substring) -> str:
    args = [e.this, e.args.get("start") or exp.Literal.number(1)]
    if e.args.get("length") is not None:
        args.append(e.args["length"])
    return str(self.func("pg_substr", *args))


def _round(self: Any, e: exp.Round) -> str:
    """round(x) keeps SQLite's ROUND (half away from zero); round(x, n) exists only for
    numeric in PostgreSQL, so it rounds the decimal value (-0.15 -> -0.2, not binary -0.1)."""
    digits = e.args.get("decimals")
    if digits is None:
        return str(self.func("ROUND", e.this))
    return str(self.func("pg_round", e.this, digits))


def _collate(self: Any, e: exp.Collate) -> str:
    name = e.expression.name if isinstance(e.expression, exp.Identifier | exp.Var) else ""
    if name.upper() in ("C", "POSIX"):  # byte order: SQLite's BINARY collation
        return str(self.sql(e, "this"))
    raise unsupported(f'collation "{name}"')


def _on_conflict(self: Any, e: exp.OnConflict) -> str:
    if e.args.get("constraint") is not None:
        raise unsupported("ON CONFLICT ON CONSTRAINT (name the conflict columns instead)")
    return str(_SQLiteBase.onconflict_sql(self, e))


def _group_concat(self: Any, e: exp.GroupConcat) -> str:
    """string_agg(DISTINCT x, sep): SQLite's DISTINCT aggregates take one argument, so only
    the default ',' separator can be expressed."""
    inner = e.this.this if isinstance(e.this, exp.Order) else e.this
    if isinstance(inner, exp.Distinct):
        sep = e.args.get("separator")
        if not (isinstance(sep, exp.Literal) and sep.is_string and sep.this == ","):
            raise unsupported("string_agg(DISTINCT ..) with a separator other than ','")
        e = e.copy()
        e.set("separator", None)
        order = e.this if isinstance(e.this, exp.Order) else None
        body = self.sql(inner)
        if order is not None:
            body += " " + str(self.sql(exp.Order(expressions=order.expressions))).strip()
        return f"GROUP_CONCAT({body})"
    return str(_SQLiteBase.groupconcat_sql(self, e))


def _negated(e: exp.Expression, sql: str) -> str:
    return f"NOT {sql}" if e.args.get("negate") else sql


def _fn(name: str) -> Any:
    return lambda self, e: f"{name}()"


class SQLiteGenerator(_SQLiteBase):
    # identifiers SQLite cannot take unquoted as a name or alias, though PostgreSQL can
    # (`AS nothing`, a column called `index`); quoting them keeps the name (SQLite compares
    # identifiers case-insensitively, quoted or not). Found by trying each of SQLite's
    # keywords (apsw.keywords) as an alias, a table and a column name.
    RESERVED_KEYWORDS = frozenset({  # type: ignore[assignment]
        "add", "all", "alter", "and", "as", "autoincrement", "between", "case", "cast", "check",
        "collate", "commit", "constraint", "create", "current_date", "current_time",
        "current_timestamp", "default", "deferrable", "delete", "distinct", "drop", "else",
        "escape", "except", "exists", "foreign", "from", "group", "having", "if", "in", "index",
        "insert", "intersect", "into", "is", "isnull", "join", "limit", "not", "nothing",
        "notnull", "null", "on", "or", "order", "primary", "raise", "references", "returning",
        "select", "set", "table", "then", "to", "transaction", "union", "unique", "update",
        "using", "values", "when", "where"})

    TRANSFORMS = {
        **_SQLiteBase.TRANSFORMS,
        exp.Div: lambda self, e: self.func("pg_div", e.this, e.expression),
        exp.Mod: lambda self, e: self.func("pg_mod", e.this, e.expression),
        exp.Cast: _cast_sql,
        exp.TryCast: _cast_sql,
        exp.CurrentTimestamp: _fn("pg_now"),
        exp.CurrentDate: _fn("pg_current_date"),
        exp.CurrentTime: _fn("pg_current_time"),
        exp.Localtimestamp: _fn("pg_localtimestamp"),
        exp.Rand: _fn("pg_random"),
        exp.Uuid: _fn("pg_gen_random_uuid"),
        exp.ILike: lambda self, e: _negated(e, self.func("pg_ilike", e.this, e.expression)),
        exp.RegexpILike: lambda self, e: _negated(e, self.func("pg_regexp_i", e.this,
                                                                e.expression)),
        exp.Extract: lambda self, e: self.func(
            "pg_extract", exp.Literal.string(e.this.name.lower()), e.expression),
        exp.TimestampTrunc: lambda self, e: self.func(
            "pg_date_trunc", exp.Literal.string(e.unit.name.lower()), e.this),
        exp.DateTrunc: lambda self, e: self.func(
            "pg_date_trunc", exp.Literal.string(e.unit.name.lower()), e.this),
        exp.Lower: lambda self, e: self.func("lower", e.this),
        exp.Upper: lambda self, e: self.func("upper", e.this),
        exp.Substring: _substring,
        exp.Round: _round,
        exp.GroupConcat: _group_concat,
        exp.Collate: _collate,
        exp.OnConflict: _on_conflict,
        exp.JSONBExtractScalar: lambda self, e: f"{self.sql(e, 'this')} ->> "
        f"{self.sql(_json_path(e.expression))}",
        exp.JSONBExtract: lambda self, e: f"{self.sql(e, 'this')} -> "
        f"{self.sql(_json_path(e.expression))}",
        exp.Left: lambda self, e: self.func("pg_left", e.this, e.expression),
        exp.Right: lambda self, e: self.func("pg_right", e.this, e.expression),
    }

    def ordered_sql(self, expression: exp.Ordered) -> str:
        container = expression.find_ancestor(exp.Index, exp.OnConflict, exp.Select, exp.Window)
        if isinstance(container, exp.Index | exp.OnConflict) or isinstance(
            expression.parent, exp.Schema | exp.IndexParameters
        ):
            desc = " DESC" if expression.args.get("desc") else ""
            return str(self.sql(expression, "this")) + desc
        return str(super().ordered_sql(expression))

    def datatype_sql(self, expression: exp.DataType) -> str:
        return ddl_type_name(expression)

    def interval_sql(self, expression: exp.Interval) -> str:
        raise unsupported(f"interval value {expression.sql('postgres')}")

    def lock_sql(self, expression: exp.Lock) -> str:
        return ""  # FOR UPDATE/SHARE: every raftsql transaction is serializable anyway


class PgSQLite(SQLite):
    """sqlglot dialect name for our SQLite output."""

    Generator = SQLiteGenerator
