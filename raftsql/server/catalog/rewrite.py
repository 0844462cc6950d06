"""Client catalog queries (PostgreSQL dialect) -> SQL for the catalog's SQLite connection, with
the result columns' PostgreSQL names and types.

Why a separate path from raftsql.sql.translate: catalog SQL uses what user SQL rarely does and
what SQLite lacks (reg* casts, `= ANY(array)`, array constructors and aggregates, unnest and
generate_subscripts in the select list, pg_catalog-qualified functions, `OPERATOR(pg_catalog.~)`,
`COLLATE pg_catalog.default`), and its answers need PostgreSQL types (oid, name, "char", bool,
arrays) that user tables never have. The queries handled are those of PGWIRE.md section 9:
psql 15 describe.c, SQLAlchemy 2 postgresql/base.py, psycopg 3 _typeinfo.py, pgbench.

Each rewrite works on the sqlglot AST (parsed as postgres) and the result is generated with the
sqlite dialect; the catalog tables live in schemas attached as `pg_catalog` and
`information_schema`, so both qualified and bare table names resolve.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from raftsql.server.catalog import tables as tb
from raftsql.sql.errors import SqlError

_OPERATOR = re.compile(r"OPERATOR\s*\(\s*pg_catalog\s*\.\s*([~!=<>*]+)\s*\)", re.I)
_COLLATE = re.compile(r"\s+COLLATE\s+(?:pg_catalog\s*\.\s*)?(?:\"default\"|default|\"C\")", re.I)
_REG_TYPES = {"regclass", "regtype", "regnamespace", "regproc", "regprocedure", "regrole",
              "regoper", "regconfig"}
_TEXT_TYPES = {"text", "varchar", "character varying", "name", "char", "bpchar", '"char"',
               "character"}
_INT_TYPES = {"int", "integer", "int4", "smallint", "int2", "bigint", "int8", "oid"}
_CAST_TYPES = {"text": "text", "varchar": "varchar", "character varying": "varchar",
               "name": "name", "char": "char", '"char"': "char", "bpchar": "text",
               "character": "text", "int": "int4", "integer": "int4", "int4": "int4",
               "smallint": "int2", "int2": "int2", "bigint": "int8", "int8": "int8",
               "oid": "oid", "boolean": "bool", "bool": "bool", "regclass": "text",
               "regtype": "text", "regnamespace": "text", "regproc": "text", "json": "json"}

# function -> result typname ('=' : the first argument's type, '[]': array of the first arg)
FUNCTION_TYPES: dict[str, str] = {
    "format_type": "text", "pg_get_expr": "text", "pg_get_indexdef": "text",
    "pg_get_constraintdef": "text", "pg_get_viewdef": "text", "pg_get_userbyid": "name",
    "pg_get_serial_sequence": "text", "pg_encoding_to_char": "name", "version": "text",
    "current_schema": "name", "current_database": "name", "__current_user": "name",
    "current_user": "name", "session_user": "name",
    "pg_is_in_recovery": "bool", "pg_backend_pid": "int4", "inet_server_addr": "text",
    "inet_server_port": "int4", "current_setting": "text", "set_config": "text",
    "obj_description": "text", "col_description": "text", "shobj_description": "text",
    "pg_table_is_visible": "bool", "pg_type_is_visible": "bool", "pg_size_pretty": "text",
    "pg_table_size": "int8", "pg_relation_size": "int8", "pg_total_relation_size": "int8",
    "pg_indexes_size": "int8", "pg_database_size": "int8", "quote_ident": "text",
    "array_to_string": "text", "array_upper": "int4", "array_lower": "int4",
    "array_length": "int4", "cardinality": "int4", "array_position": "int4",
    "to_regtype": "text", "to_regclass": "text", "count": "int8", "json_build_object": "json",
    "json_object": "json", "string_agg": "text", "group_concat": "text", "bool_and": "bool",
    "bool_or": "bool", "generate_subscripts": "int4", "length": "int4", "lower": "text",
    "upper": "text", "concat": "text", "coalesce": "=", "min": "=", "max": "=",
    "array_agg": "[]", "unnest": "elem", "current_schemas": "_name",
    "has_table_privilege": "bool", "has_schema_privilege": "bool",
    "has_database_privilege": "bool", "has_column_privilege": "bool",
    "has_function_privilege": "bool", "has_sequence_privilege": "bool", "pg_has_role": "bool",
    "pg_relation_is_publishable": "bool", "pg_get_triggerdef": "text",
}


@dataclass(frozen=True)
class Prepared:
    """A translated catalog query: SQLite text, output names and PostgreSQL typnames."""

    sql: str
    names: tuple[str, ...]
    types: tuple[str, ...]
    param_types: tuple[str, ...]
    always_empty: bool
    nparams: int  # SQLite's parameter count: the highest ?N left in `sql`
    user_tables: tuple[str, ...] = ()  # tables read that are not catalog tables


_ARRAY_CAST = re.compile(r"(::\s*|\bAS\s+)(?:pg_catalog\s*\.\s*)?([a-z_][a-z0-9_]*)\s*\[\s*\]", re.I)


def _strip_operators(sql: str) -> str:
    """Text-level rewrites sqlglot needs first: `OPERATOR(pg_catalog.~)` -> `~`, no
    `COLLATE pg_catalog.default`, and array casts spelled with the array type's own name
    (`::oid[]` -> `::_oid`; sqlglot does not know oid[])."""
    sql = _OPERATOR.sub(r"\1", sql)
    sql = _ARRAY_CAST.sub(lambda m: f"{m.group(1)}_{m.group(2).lower()}", sql)
    return _COLLATE.sub("", sql)


def _func_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower() if hasattr(node, "sql_name") else None
    return None


_SQLGLOT_NAMES = {"explode": "unnest", "logical_and": "bool_and", "logical_or": "bool_or",
                  "group_concat": "string_agg", "currentschema": "current_schema",
                  "current_schema": "current_schema", "currentuser": "current_user",
                  "count": "count", "arrayagg": "array_agg", "array_agg": "array_agg",
                  "max": "max", "min": "min", "coalesce": "coalesce"}


def _pg_function_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    key = type(node).__name__.lower()
    if isinstance(node, exp.Explode):
        return "unnest"
    if isinstance(node, exp.ArrayAgg):
        return "array_agg"
    if isinstance(node, exp.LogicalAnd):
        return "bool_and"
    if isinstance(node, exp.LogicalOr):
        return "bool_or"
    if isinstance(node, exp.GroupConcat):
        return "string_agg"
    if isinstance(node, exp.CurrentSchema):
        return "current_schema"
    if isinstance(node, exp.CurrentUser | exp.SessionUser):
        return "current_user"
    if isinstance(node, exp.Func):
        name = node.sql_name().lower() if hasattr(node, "sql_name") else key
        return _SQLGLOT_NAMES.get(name, name)
    return None


def _cast_target(node: exp.Cast) -> str:
    to = node.args.get("to")
    if isinstance(to, exp.DataType) and to.this == exp.DataType.Type.USERDEFINED:
        kind = to.args.get("kind")
        text = kind.name if isinstance(kind, exp.Dot) else to.sql("postgres")
    else:
        text = to.sql("postgres") if to is not None else ""
    text = text.lower().removeprefix("pg_catalog.").strip()
    return re.sub(r"\s*\(.*\)$", "", text)


# --------------------------------------------------------------------------- names and types

def output_name(node: exp.Expr) -> str:
    """PostgreSQL's column name for a select-list item (FigureColname, parse_target.c)."""
    if isinstance(node, exp.Alias):
        return node.alias
    return _figure(node)[0] or "?column?"


_TYPE_COLNAMES = {"integer": "int4", "int": "int4", "smallint": "int2", "bigint": "int8",
                  "boolean": "bool", "character varying": "varchar"}


def _figure(node: exp.Expr) -> tuple[str | None, int]:
    """(name, strength) as FigureColnameInternal: 2 for a column or function name, 1 for a
    type name or keyword, 0 for nothing."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return (None, 0) if isinstance(node.this, exp.Star) else (node.name, 2)
    if isinstance(node, exp.Cast):
        name, strength = _figure(node.this)
        if strength <= 1:
            target = _cast_target(node)
            return _TYPE_COLNAMES.get(target, target), 1
        return name, strength
    if isinstance(node, exp.Case):
        default = node.args.get("default")
        name, strength = _figure(default) if default is not None else (None, 0)
        return (name, strength) if strength > 1 else ("case", 1)
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Query) and node.this.selects:
        first = node.this.selects[0]
        return (first.alias, 2) if isinstance(first, exp.Alias) else _figure(first)
    if isinstance(node, exp.Array):
        return "array", 2
    if isinstance(node, exp.Exists):
        return "exists", 2
    if isinstance(node, exp.Boolean):
        return "bool", 1
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Expression):
        return _figure(node.expression)
    name = _pg_function_name(node)
    if name is not None:
        return name, 2
    return None, 0


class _Typer:
    """Static result types of select-list items; subquery aliases resolve to their items."""

    def __init__(self, root: exp.Expr) -> None:
        self.derived: dict[str, exp.Query] = {}
        for sub in root.find_all(exp.Subquery):
            if sub.alias and isinstance(sub.this, exp.Query):
                self.derived[sub.alias] = sub.this

    def of(self, node: exp.Expr, depth: int = 0) -> str:
        if depth > 20:
            return "text"
        if isinstance(node, exp.Alias | exp.Paren):
            return self.of(node.this, depth + 1)
        if isinstance(node, exp.Column):
            query = self.derived.get(node.table)
            if query is not None:
                for sel in query.selects:
                    if sel.alias_or_name == node.name:
                        return self.of(sel, depth + 1)
            return tb.COLUMN_TYPES.get(node.name, "text")
        if isinstance(node, exp.Cast):
            return _cast_typname(_cast_target(node))
        if isinstance(node, exp.Case):
            ifs = node.args.get("ifs") or []
            for branch in ifs:
                found = self.of(branch.args["true"], depth + 1)
                if not isinstance(branch.args["true"], exp.Null):
                    return found
            default = node.args.get("default")
            return self.of(default, depth + 1) if default is not None else "text"
        if isinstance(node, exp.Predicate | exp.Not | exp.And | exp.Or | exp.Boolean
                      | exp.Exists | exp.RegexpLike | exp.RegexpILike):
            return "bool"
        if isinstance(node, exp.Literal):
            if node.is_string:
                return "text"
            return "int4" if re.fullmatch(r"-?\d+", node.this) else "numeric"
        if isinstance(node, exp.Null):
            return "text"
        if isinstance(node, exp.Array):
            inner = node.expressions[0] if node.expressions else None
            if isinstance(inner, exp.Query) and inner.selects:
                return "_" + self.of(inner.selects[0], depth + 1).lstrip("_")
            return "_" + (self.of(inner, depth + 1) if inner is not None else "text")
        if isinstance(node, exp.Subquery):
            return self.of(node.this, depth + 1)
        if isinstance(node, exp.Query) and node.selects:
            return self.of(node.selects[0], depth + 1)
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Expression):
            return self.of(node.expression, depth + 1)
        name = _pg_function_name(node)
        if name is not None:
            kind = FUNCTION_TYPES.get(name)
            args = [a for a in node.args.values() if isinstance(a, exp.Expression)]
            first = args[0] if args else None
            if isinstance(first, exp.Order):
                first = first.this
            if kind == "=":
                return self.of(first, depth + 1) if first is not None else "text"
            if kind == "[]":
                inner = self.of(first, depth + 1) if first is not None else "text"
                return "_" + inner.lstrip("_")
            if kind == "elem":
                inner = self.of(first, depth + 1) if first is not None else "_text"
                vectors = {"int2vector": "int2", "oidvector": "oid"}
                return vectors.get(inner, inner[1:] if inner.startswith("_") else inner)
            if kind is not None:
                return kind
        if isinstance(node, exp.Binary):
            return self.of(node.this, depth + 1)
        return "text"


# --------------------------------------------------------------------------- rewrites

def _cast_typname(target: str) -> str:
    """The typname a cast produces: '_oid' for oid[], 'varchar' for character varying..."""
    if target.endswith("[]"):
        target = "_" + target[:-2]
    if target.startswith("_"):
        inner = _CAST_TYPES.get(target[1:], target[1:])
        return "_" + inner if "_" + inner in tb.TYPE_OIDS else "_text"
    return _CAST_TYPES.get(target, "text")


def _param(node: exp.Parameter) -> exp.Expr:
    return exp.Var(this=f"?{node.this.this if isinstance(node.this, exp.Literal) else node.this}")


def _rewrite_cast(node: exp.Cast) -> exp.Expr:
    target = _cast_target(node)
    inner: exp.Expr = node.this
    if target in _REG_TYPES:
        fn = {"regclass": "__regclass", "regtype": "__regtype",
              "regnamespace": "__regnamespace"}.get(target)
        if fn is None:
            return inner
        if isinstance(inner, exp.Anonymous) and str(inner.this) == fn:
            return inner
        return exp.Anonymous(this=fn, expressions=[inner])
    if target in _TEXT_TYPES:
        if isinstance(inner, exp.Anonymous) and str(inner.this) in (
                "__regclass", "__regtype", "__regnamespace"):
            return exp.Anonymous(this=str(inner.this) + "_name", expressions=[inner])
        if isinstance(inner, exp.Var | exp.Literal | exp.Column | exp.Null):
            return inner
        return exp.Cast(this=inner, to=exp.DataType.build("TEXT"))
    if target in _INT_TYPES:
        if isinstance(inner, exp.Column):
            return inner
        return exp.Cast(this=inner, to=exp.DataType.build("INTEGER"))
    if target in ("boolean", "bool"):
        return exp.Anonymous(this="__bool", expressions=[inner])
    return inner


def _as_array(node: exp.Expr) -> exp.Expr:
    """An array value as JSON: vectors ('1 2') are converted, JSON arrays pass through."""
    return exp.Anonymous(this="__as_array", expressions=[node.copy()])


def _rewrite_any(node: exp.Expr) -> exp.Expr:
    """`x = ANY(ARRAY[a, b])` -> `x IN (a, b)`; `x = ANY(arr)` -> `x IN (SELECT value FROM
    json_each(arr))`."""
    any_ = node.expression
    target = any_.this
    while isinstance(target, exp.Paren):
        target = target.this
    if isinstance(target, exp.Array) and not (
            target.expressions and isinstance(target.expressions[0], exp.Query)):
        found: exp.Expr = exp.In(this=node.this, expressions=list(target.expressions))
    else:
        values = sqlglot.parse_one("SELECT value FROM json_each(NULL)", read="sqlite")
        values.find(exp.Null).replace(_as_array(target))  # type: ignore[union-attr]
        found = exp.In(this=node.this, query=exp.Subquery(this=values))
    return exp.Not(this=found) if isinstance(node, exp.NEQ) else found


def _array_subquery(query: exp.Query) -> exp.Expr:
    query = query.copy()
    first = query.selects[0]
    inner = first.this if isinstance(first, exp.Alias) else first
    query.selects[0].replace(exp.alias_(inner.copy(), "__v"))
    outer = sqlglot.parse_one("SELECT json_group_array(__v) FROM (SELECT 1) AS __a", read="sqlite")
    outer.find(exp.Subquery).set("this", query)  # type: ignore[union-attr]
    return exp.Subquery(this=outer)


def _json_path(index: exp.Expr) -> exp.Expr:
    """'$[' || (i - 1) || ']' for a 1-based PostgreSQL subscript."""
    zero_based = exp.Sub(this=exp.Paren(this=index.copy()), expression=exp.Literal.number(1))
    return exp.DPipe(this=exp.DPipe(this=exp.Literal.string("$["), expression=zero_based),
                     expression=exp.Literal.string("]"))


def _unnest_select(select: exp.Select) -> None:
    """Set-returning unnest()/generate_subscripts() in a select list -> a json_each join."""
    arrays: dict[str, str] = {}
    joins: list[tuple[str, exp.Expression]] = []
    for item in select.expressions:
        inner = item.this if isinstance(item, exp.Alias) else item
        call = None
        if isinstance(inner, exp.Explode):
            call = ("unnest", inner.this)
        elif isinstance(inner, exp.Anonymous) and str(inner.this).lower() == "generate_subscripts":
            call = ("subscripts", inner.expressions[0])
        if call is None:
            continue
        key = call[1].sql()
        if not arrays:
            arrays[key] = "__u0"
            joins.append(("__u0", call[1]))
        alias = arrays.get(key)
        if alias is None:  # a second array walked in step with the first
            path = exp.DPipe(this=exp.DPipe(this=exp.Literal.string("$["),
                                            expression=exp.column("key", "__u0")),
                             expression=exp.Literal.string("]"))
            new: exp.Expr = exp.Anonymous(this="json_extract",
                                                expressions=[_as_array(call[1]), path])
        elif call[0] == "unnest":
            new = exp.column("value", alias)
        else:
            new = exp.Add(this=exp.column("key", alias), expression=exp.Literal.number(1))
        inner.replace(new)
    for alias, array in joins:
        source = exp.Table(this=exp.Anonymous(this="json_each", expressions=[_as_array(array)]),
                           alias=exp.TableAlias(this=exp.to_identifier(alias)))
        select.append("joins", exp.Join(this=source))


def _unnest_from(select: exp.Select) -> None:
    """`FROM unnest(arr) x` -> `FROM json_each(arr) AS x`, and the bare `x` (the element) as
    `x.value`."""
    sources = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None:
        sources.append(from_.this)
    sources += [j.this for j in select.args.get("joins") or []]
    for table in sources:
        call = table.this if isinstance(table, exp.Table) else None
        if isinstance(call, exp.Dot):
            call = call.expression
        if not isinstance(call, exp.Explode) or not table.alias:
            continue
        alias = table.alias
        table.set("this", exp.Anonymous(this="json_each", expressions=[_as_array(call.this)]))
        for col in list(select.find_all(exp.Column)):
            if col.name == alias and not col.table:
                col.replace(exp.column("value", alias))


def _transform(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Parameter):
        return _param(node)
    if isinstance(node, exp.ByteString):
        return exp.Literal.string(node.this)
    if isinstance(node, exp.Dot) and isinstance(node.this, exp.Identifier) and \
            node.this.name.lower() == "pg_catalog" and isinstance(node.expression, exp.Func):
        return node.expression
    if isinstance(node, exp.Cast):
        return _rewrite_cast(node)
    if isinstance(node, exp.EQ | exp.NEQ) and isinstance(node.expression, exp.Any):
        return _rewrite_any(node)
    if isinstance(node, exp.Array):
        if node.expressions and isinstance(node.expressions[0], exp.Query):
            return _array_subquery(node.expressions[0])
        return exp.Anonymous(this="json_array", expressions=list(node.expressions))
    if isinstance(node, exp.ArrayAgg):
        return exp.Anonymous(this="json_group_array", expressions=[node.this])
    if isinstance(node, exp.Bracket) and node.expressions:
        return exp.Anonymous(this="json_extract",
                             expressions=[node.this, _json_path(node.expressions[0])])
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "json_build_object":
        return exp.Anonymous(this="json_object", expressions=list(node.expressions))
    if isinstance(node, exp.CurrentSchema):
        return exp.Anonymous(this="current_schema", expressions=[])
    if isinstance(node, exp.CurrentUser | exp.SessionUser):
        return exp.Anonymous(this="__current_user", expressions=[])
    if isinstance(node, exp.RegexpILike):
        return exp.Anonymous(this="__regexp_i", expressions=[node.this, node.expression])
    if isinstance(node, exp.Select):
        _unnest_from(node)
        _unnest_select(node)
    return node


def _post_order(node: exp.Expr) -> exp.Expr:
    """Rewrite children first, then the node: a rewrite sees its arguments already in SQLite
    form (e.g. the cast of a cast)."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _post_order(value))
        elif isinstance(value, list):
            node.set(key, [_post_order(v) if isinstance(v, exp.Expression) else v
                           for v in value])
    return _transform(node)


def _inline_lateral(select: exp.Select) -> None:
    """`CROSS JOIN LATERAL (SELECT expr) AS o(n)` (pgbench's partition probe) -> `expr` in
    place of every `o.n`: SQLite has no LATERAL, and a FROM-less subquery is just values."""
    keep = []
    for join in select.args.get("joins") or []:
        lateral = join.this
        inner = lateral.this if isinstance(lateral, exp.Lateral) else None
        query = inner.this if isinstance(inner, exp.Subquery) else inner
        alias = lateral.args.get("alias") if isinstance(lateral, exp.Lateral) else None
        if not (isinstance(query, exp.Select) and alias is not None
                and query.args.get("from_") is None and query.args.get("from") is None):
            keep.append(join)
            continue
        names = [c.name for c in alias.columns] or [s.alias_or_name for s in query.selects]
        values = dict(zip(names, query.selects, strict=False))
        for col in list(select.find_all(exp.Column)):
            if col.table == alias.name and col.name in values:
                value = values[col.name]
                value = value.this if isinstance(value, exp.Alias) else value
                col.replace(exp.Paren(this=value.copy()))
    select.set("joins", keep)


def _inner_tables(select: exp.Select) -> list[str]:
    """Tables a select reads through FROM or inner joins (outer joins keep rows)."""
    names = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None and isinstance(from_.this, exp.Table):
        names.append(from_.this.name.lower())
    for join in select.args.get("joins") or []:
        side = (join.side or "").upper()
        if side in ("LEFT", "RIGHT", "FULL"):
            continue
        if isinstance(join.this, exp.Table):
            names.append(join.this.name.lower())
    return names


def _is_always_empty(tree: exp.Expr) -> bool:
    """True when every branch reads an inner-joined table raftsql never fills (tables.py
    ALWAYS_EMPTY): the answer is zero rows whatever the rest of the query says."""
    if isinstance(tree, exp.Union):
        return _is_always_empty(tree.this) and _is_always_empty(tree.expression)
    if isinstance(tree, exp.Subquery):
        return _is_always_empty(tree.this)
    if isinstance(tree, exp.Select):
        return any(name in tb.ALWAYS_EMPTY for name in _inner_tables(tree))
    return False


def _param_types(tree: exp.Expr) -> tuple[str, ...]:
    found: dict[int, str] = {}
    for param in tree.find_all(exp.Parameter):
        number = int(param.this.this) if isinstance(param.this, exp.Literal) else 0
        parent = param.parent
        kind = "text"
        if isinstance(parent, exp.Cast):
            target = _cast_target(parent)
            kind = "text" if target in _REG_TYPES else _cast_typname(target)
        if number:
            found.setdefault(number, kind)
    if not found:
        return ()
    return tuple(found.get(n, "text") for n in range(1, max(found) + 1))


def _table_columns(table: exp.Table) -> list[str] | None:
    schema = table.db.lower() if table.db else ""
    name = table.name.lower()
    if schema == "information_schema":
        cols = tb.INFO_COLUMNS.get(name)
    else:
        cols = tb.COLUMNS.get(name)
    return [c for c, _t in cols] if cols is not None else None


def _expand_stars(select: exp.Select) -> None:
    """`*` and `t.*` over catalog tables -> their column lists, so every output column gets
    PostgreSQL's name and type."""
    sources: list[exp.Table] = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None and isinstance(from_.this, exp.Table):
        sources.append(from_.this)
    sources += [j.this for j in select.args.get("joins") or [] if isinstance(j.this, exp.Table)]
    items: list[exp.Expression] = []
    for item in select.expressions:
        star_table = None
        if isinstance(item, exp.Star):
            star_table = ""
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            star_table = item.table
        if star_table is None:
            items.append(item)
            continue
        for table in sources:
            if star_table and table.alias_or_name != star_table:
                continue
            cols = _table_columns(table)
            if cols is None:
                raise SqlError("0A000", f"SELECT * over {table.sql()} is not supported")
            items += [exp.column(c, table.alias_or_name, quoted=True) for c in cols]
    select.set("expressions", items)


@functools.lru_cache(maxsize=512)
def prepare(pg_sql: str) -> Prepared:
    """Translate one catalog query; SqlError 42601/0A000 when it cannot be."""
    text = _strip_operators(pg_sql.strip().rstrip(";"))
    try:
        tree = sqlglot.parse_one(text, read="postgres", error_level=ErrorLevel.RAISE)
    except (ParseError, TokenError) as exc:
        raise SqlError("42601", f"syntax error in catalog query: {str(exc).splitlines()[0]}") \
            from None
    if not isinstance(tree, exp.Query):
        raise SqlError("0A000", "only SELECT is supported on the system catalogs")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    user_tables = tuple(sorted({
        t.name for t in tree.find_all(exp.Table)
        if isinstance(t.this, exp.Identifier) and t.name not in ctes
        and _table_columns(t) is None}))
    if user_tables:  # not a catalog query (see reads_user_tables)
        return Prepared("", (), (), (), False, 0, user_tables)
    first_select = tree
    while isinstance(first_select, exp.Union):
        first_select = first_select.this
    if isinstance(first_select, exp.Select):
        _expand_stars(first_select)
    for select in list(tree.find_all(exp.Select)):
        if any(isinstance(j.this, exp.Lateral) for j in select.args.get("joins") or []):
            for item in select.expressions:  # o.n keeps its PostgreSQL name "n"
                inner = item.this if isinstance(item, exp.Alias) else item
                if isinstance(inner, exp.Column) and not isinstance(item, exp.Alias):
                    item.replace(exp.alias_(inner.copy(), inner.name))
            _inline_lateral(select)
    selects = tree.selects
    names = tuple(output_name(s) for s in selects)
    typer = _Typer(tree)
    types = tuple(typer.of(s) for s in selects)
    params = _param_types(tree)
    empty = _is_always_empty(tree)
    for s in selects:  # a reg* value in the select list prints as its name
        inner = s.this if isinstance(s, exp.Alias) else s
        if isinstance(inner, exp.Cast) and _cast_target(inner) in _REG_TYPES:
            inner.replace(exp.Cast(this=inner.copy(), to=exp.DataType.build("TEXT")))
    tree = _post_order(tree)
    first = tree
    while isinstance(first, exp.Union):
        first = first.this
    if isinstance(first, exp.Select):
        for item, name in zip(list(first.expressions), names, strict=False):
            inner = item.this if isinstance(item, exp.Alias) else item
            item.replace(exp.alias_(inner.copy(), name, quoted=True))
    sql = tree.sql(dialect="sqlite", unsupported_level=ErrorLevel.IGNORE)
    unquoted = re.sub(r"'(?:[^']|'')*'", "''", sql)
    nparams = max((int(n) for n in re.findall(r"\?(\d+)", unquoted)), default=0)
    return Prepared(sql, names, types, params, empty, nparams, user_tables)
