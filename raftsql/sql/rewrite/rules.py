"""AST rewrites from PostgreSQL shapes to SQLite shapes, one small function per fact.

Why a list of small functions: like sqlglot's `transforms.preprocess`, each rule is tested on
its own by one-line facts in tests/unit/sql/test_translate.py, and the order is explicit in
RULES. Each rule takes the statement and a Context (where rules record what they learnt, e.g.
which $n binds a JSON array) and returns the rewritten statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from raftsql.sql import sqlstate
from raftsql.sql.errors import SqlError, unsupported
from raftsql.sql.functions import SEEDED_FUNCTIONS, internal_function_error
from raftsql.sql.rewrite.scan import INTERVAL_FUNCTION, PARAM_PREFIX

CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}
FORBIDDEN_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
CLOCK_FUNCTIONS = {"clock_timestamp", "statement_timestamp", "transaction_timestamp"}
SQLITE_TIME_FUNCTIONS = (exp.Datetime, exp.Date, exp.Time, exp.StrToTime, exp.TimeToStr)


@dataclass
class Context:
    json_params: set[int] = field(default_factory=set)
    catalog_tables: list[str] = field(default_factory=list)


Rule = Callable[[exp.Expression, Context], exp.Expression]


def _param_index(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Placeholder) and str(node.name).startswith(PARAM_PREFIX[1:]):
        return int(str(node.name)[len(PARAM_PREFIX) - 1:]) - 1
    return None


def fold_identifiers(root: exp.Expression, ctx: Context) -> exp.Expression:
    """PostgreSQL folds unquoted identifiers to lower case (docs 4.1.1); do the same so the
    SQLite schema and result column names carry PostgreSQL's names ("CREATE TABLE Users"
    creates users). Quoted identifiers keep their case."""
    for ident in root.find_all(exp.Identifier):
        if not ident.quoted and isinstance(ident.this, str) and ident.this != ident.this.lower():
            ident.set("this", ident.this.lower())
    return root


def schemas(root: exp.Expression, ctx: Context) -> exp.Expression:
    """`public.t` is `t`; pg_catalog/information_schema reads are recorded for the frontend;
    any other schema does not exist in SQLite."""
    for table in root.find_all(exp.Table):
        db = table.args.get("db")
        if db is None:
            continue
        name = db.name.lower()
        if table.args.get("catalog") is not None:
            raise unsupported(f"cross-database reference {table.sql('postgres')}")
        if name == "public":
            table.set("db", None)
        elif name in CATALOG_SCHEMAS:
            ctx.catalog_tables.append(f"{name}.{table.name.lower()}")
        else:
            raise unsupported(f"schema {db.name!r} (only public exists)")
    for column in root.find_all(exp.Column):  # public.t.col
        db = column.args.get("db")
        if db is not None and column.args.get("catalog") is None and db.name.lower() == "public":
            column.set("db", None)
    return root


def forbidden_functions(root: exp.Expression, ctx: Context) -> exp.Expression:
    for func in root.find_all(exp.Anonymous):
        name = func.name.lower()
        if name in FORBIDDEN_FUNCTIONS:
            raise SqlError(sqlstate.INSUFFICIENT_PRIVILEGE, f"function {name}() is not allowed")
        if name in SEEDED_FUNCTIONS:
            raise internal_function_error(name)
    return root


_SQLITE_CLOCK = {"julianday", "strftime", "unixepoch"}


def clock_functions(root: exp.Expression, ctx: Context) -> exp.Expression:
    """clock_timestamp() etc. are now() for us (one value per statement, fixed by the leader).
    SQLite's own time functions read 'now' from the fixed value too (datetime('now') ->
    datetime(pg_localtimestamp())), and randomblob(n) becomes a seeded stream; the
    'localtime' modifier depends on each node's timezone and is refused."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() in CLOCK_FUNCTIONS:
            if node.expressions:
                raise unsupported(f"{node.name}() with arguments")
            return exp.CurrentTimestamp()
        if isinstance(node, exp.Anonymous) and node.name.lower() == "randomblob":
            return exp.Anonymous(this="pg_randomblob", expressions=node.expressions)
        sqlite_clock = isinstance(node, SQLITE_TIME_FUNCTIONS) or (
            isinstance(node, exp.Anonymous) and node.name.lower() in _SQLITE_CLOCK)
        if sqlite_clock:
            for item in list(node.iter_expressions()):
                if isinstance(item, exp.Literal) and item.is_string:
                    word = str(item.this).strip().lower()
                    if word == "now":
                        item.replace(exp.Localtimestamp())
                    elif word in ("localtime", "utc"):
                        raise unsupported(f"the SQLite {word!r} modifier (node timezone)")
            if isinstance(node, exp.Anonymous) and node.name.lower() == "unixepoch" \
                    and not node.expressions:
                node.set("expressions", [exp.Localtimestamp()])
        return node
    return root.transform(swap)


def _bottom_up(root: exp.Expression,
               swap: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """Apply `swap` children-first, so a parent sees its already-rewritten operands
    (`ts - interval '1 day' - interval '1 hour'`, `3::numeric / 4 / x`)."""
    for node in reversed(list(root.walk())):
        new = swap(node)  # type: ignore[arg-type]
        if new is not node:
            if node is root:
                root = new
            else:
                node.replace(new)
    return root


def _interval_text(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() == INTERVAL_FUNCTION:
        first: exp.Expression = node.expressions[0]
        return first
    if isinstance(node, exp.Interval):
        value = node.this
        unit = node.args.get("unit")
        if not isinstance(value, exp.Literal):
            raise unsupported("non-literal INTERVAL")
        text = value.this if unit is None else f"{value.this} {unit.name.lower()}"
        return exp.Literal.string(text)
    if isinstance(node, exp.Cast) and node.args["to"].this == exp.DataType.Type.INTERVAL:
        inner: exp.Expression = node.this
        return inner
    raise AssertionError(node)


def _is_interval(node: exp.Expression) -> bool:
    if isinstance(node, exp.Anonymous) and node.name.lower() == INTERVAL_FUNCTION:
        return True
    return isinstance(node, exp.Interval) or (
        isinstance(node, exp.Cast) and node.args["to"].this == exp.DataType.Type.INTERVAL
    )


def interval_arithmetic(root: exp.Expression, ctx: Context) -> exp.Expression:
    """x +/- interval -> pg_interval_add(x, 'interval text', +1/-1), where x is a timestamp,
    a date or an interval (decided at run time from the value); every other interval value
    (`interval '1 day'`, `'1 day'::interval`, `$1::interval`) -> pg_cast_interval(text), which
    yields PostgreSQL's canonical output text (the stored form, see intervals.py)."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Add | exp.Sub):
            left, right = node.this, node.expression
            if _is_interval(right):
                if _is_interval(left):
                    left = _to_interval(left)
                sign = exp.Literal.number(1 if isinstance(node, exp.Add) else -1)
                return exp.Anonymous(this="pg_interval_add",
                                     expressions=[left, _interval_text(right), sign])
            if _is_interval(left) and isinstance(node, exp.Add):
                return exp.Anonymous(this="pg_interval_add",
                                     expressions=[right, _interval_text(left), exp.Literal.number(1)])
        if isinstance(node, exp.DateAdd | exp.DateSub | exp.TsOrDsAdd):
            raise unsupported(f"date arithmetic {node.sql('postgres')}")
        return node
    root = _bottom_up(root, swap)

    def literal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Interval) or (
                isinstance(node, exp.Anonymous) and node.name.lower() == INTERVAL_FUNCTION):
            return _to_interval(node)
        return node
    return root.transform(literal)


def _to_interval(node: exp.Expression) -> exp.Expression:
    """An interval-typed operand as a cast to interval (the dialect generates
    pg_cast_interval(..) COLLATE pg_interval for it)."""
    if isinstance(node, exp.Cast):
        return node
    return exp.Cast(this=_interval_text(node), to=exp.DataType.build("interval"))


def _json_each(param: int, ctx: Context) -> exp.Select:
    ctx.json_params.add(param)
    placeholder = exp.Placeholder(this=f"{PARAM_PREFIX[1:]}{param + 1}")
    return exp.select("value").from_(exp.Anonymous(this="json_each", expressions=[placeholder]))


def any_all(root: exp.Expression, ctx: Context) -> exp.Expression:
    """x = ANY($1) -> x IN (SELECT value FROM json_each(?)) with $1 bound as a JSON array;
    x = ANY(ARRAY[..]) -> x IN (..); x <> ALL(..) -> x NOT IN (..)."""
    def target(node: exp.Expression) -> exp.Expression | None:
        found: exp.Expression | None = None
        if isinstance(node, exp.Any | exp.All):
            found = node.this
        elif isinstance(node, exp.Anonymous) and node.name.upper() == "ALL" and len(node.expressions) == 1:
            found = node.expressions[0]
        return found

    def swap(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.EQ | exp.NEQ):
            return node
        inner = target(node.expression)
        if inner is None:
            return node
        is_any = isinstance(node.expression, exp.Any)
        if isinstance(node, exp.EQ) != is_any:
            raise unsupported("= ALL / <> ANY")
        if isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Cast) and inner.args["to"].this == exp.DataType.Type.ARRAY:
            inner = inner.this  # $1::int[]: the elements arrive as JSON anyway
        param = _param_index(inner)
        if param is not None:
            result: exp.Expression = exp.In(this=node.this, query=exp.Subquery(
                this=_json_each(param, ctx)))
        elif isinstance(inner, exp.Array):
            result = exp.In(this=node.this, expressions=list(inner.expressions))
        elif isinstance(inner, exp.Select | exp.Subquery):
            result = exp.In(this=node.this, query=inner if isinstance(inner, exp.Subquery)
                            else exp.Subquery(this=inner))
        else:
            raise unsupported(f"ANY/ALL over {inner.sql('postgres')}")
        return result if is_any else exp.Not(this=result)
    return root.transform(swap)


def arrays(root: exp.Expression, ctx: Context) -> exp.Expression:
    """$n::int[] / $n::text[] -> the parameter bound as JSON array text (as for = ANY($n));
    every other array construct is refused."""
    def param_cast(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and node.args["to"].this == exp.DataType.Type.ARRAY:
            param = _param_index(node.this)
            if param is not None:
                ctx.json_params.add(param)
                return exp.Placeholder(this=f"{PARAM_PREFIX[1:]}{param + 1}")
        return node
    root = root.transform(param_cast)
    for node in root.find_all(exp.Array, exp.ArrayAgg, exp.Explode, exp.Unnest):
        raise unsupported(f"arrays ({node.sql('postgres')})")
    for dtype in root.find_all(exp.DataType):
        if dtype.this == exp.DataType.Type.ARRAY:
            raise unsupported(f"array type {dtype.sql('postgres')}")
    return root


def values_alias(root: exp.Expression, ctx: Context) -> exp.Expression:
    """(VALUES ...) AS v(a, b) -> (SELECT column1 AS a, column2 AS b FROM (VALUES ...)) AS v."""
    def swap(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Values):
            return node
        alias = node.args.get("alias")
        if alias is None or not alias.columns:
            return node
        names = [c.name for c in alias.columns]
        bare = exp.Values(expressions=node.expressions)
        select = exp.select(*[exp.alias_(exp.column(f"column{i + 1}"), name)
                              for i, name in enumerate(names)]).from_(exp.Subquery(this=bare))
        return exp.Subquery(this=select, alias=exp.TableAlias(this=alias.this))
    return root.transform(swap)


def generate_series(root: exp.Expression, ctx: Context) -> exp.Expression:
    """FROM generate_series(a, b[, step]) [AS g(n)] -> a recursive CTE subquery (SQLite has
    no generate_series without the series extension). Only integer literal steps."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.ExplodingGenerateSeries):
            series = node.this
            step = series.args.get("step") or exp.Literal.number(1)
            if not (isinstance(step, exp.Literal) and not step.is_string) and not (
                isinstance(step, exp.Neg) and isinstance(step.this, exp.Literal)
            ):
                raise unsupported("generate_series with a non-literal step")
            step_value = int(step.sql())
            if step_value == 0:
                raise SqlError(sqlstate.INVALID_PARAMETER_VALUE, "step size cannot equal zero")
            alias = node.args.get("alias")
            table_name = alias.name if alias and alias.name else "generate_series"
            column = (alias.columns[0].name if alias and alias.columns else
                      table_name if alias and alias.name else "generate_series")
            cmp = "<=" if step_value > 0 else ">="
            start, end = series.args["start"], series.args["end"]
            text = (f"WITH RECURSIVE _gs(v) AS (SELECT {start.sql('postgres')} WHERE "
                    f"{start.sql('postgres')} {cmp} {end.sql('postgres')} UNION ALL SELECT v + "
                    f"({step_value}) FROM _gs WHERE v + ({step_value}) {cmp} {end.sql('postgres')})"
                    f" SELECT v AS {exp.to_identifier(column).sql('postgres')} FROM _gs")
            from sqlglot import parse_one
            sub = exp.Subquery(this=parse_one(text, read="postgres"),
                               alias=exp.TableAlias(this=exp.to_identifier(table_name)))
            return sub
        if isinstance(node, exp.ExplodingGenerateSeries | exp.GenerateSeries):
            raise unsupported("generate_series outside FROM")
        return node
    return root.transform(swap)


def _resolve(expr: exp.Expression, projections: list[exp.Expression]) -> int | None:
    """The projection index an ORDER BY / DISTINCT ON item refers to (position or name)."""
    if isinstance(expr, exp.Literal) and not expr.is_string:
        index = int(expr.this) - 1
        if not 0 <= index < len(projections):
            raise SqlError(sqlstate.INVALID_COLUMN_REFERENCE,
                           f"ORDER BY position {expr.this} is not in select list")
        return index
    if isinstance(expr, exp.Column) and not expr.table:
        for i, p in enumerate(projections):
            if isinstance(p, exp.Alias) and p.alias == expr.name:
                return i
    for i, p in enumerate(projections):
        if (p.this if isinstance(p, exp.Alias) else p) == expr:
            return i
    return None


def _rewrite_distinct_on(select: exp.Select) -> exp.Expression:
    """SELECT DISTINCT ON (k) cols FROM .. ORDER BY k, o  ->
    SELECT cols FROM (SELECT cols AS _dN, o AS _oN, ROW_NUMBER() OVER (PARTITION BY k
    ORDER BY k, o) AS _rn FROM ..) WHERE _rn = 1 ORDER BY ..  (first row of each group)."""
    projections = list(select.expressions)
    names: list[str] = []
    for p in projections:
        if isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)):
            raise unsupported("SELECT DISTINCT ON with *")
        if not isinstance(p, exp.Alias | exp.Column):
            raise unsupported("SELECT DISTINCT ON with an unnamed expression in the select list")
        names.append(p.alias if isinstance(p, exp.Alias) else p.name)
    bare = [p.this if isinstance(p, exp.Alias) else p for p in projections]

    def underlying(expr: exp.Expression) -> tuple[exp.Expression, int | None]:
        index = _resolve(expr, projections)
        return (bare[index].copy() if index is not None else expr.copy()), index

    keys = [underlying(e)[0] for e in select.args["distinct"].args["on"].expressions]
    order = select.args.get("order")
    ordered = list(order.expressions) if order is not None else []
    inner = select.copy()
    for arg in ("distinct", "order", "limit", "offset"):
        inner.set(arg, None)
    extra: list[exp.Expression] = []
    outer_order: list[exp.Ordered] = []
    window_order: list[exp.Ordered] = []
    for item in ordered:
        expr, index = underlying(item.this)
        window_order.append(exp.Ordered(this=expr.copy(), desc=item.args.get("desc"),
                                        nulls_first=item.args.get("nulls_first")))
        if index is None:
            extra.append(exp.alias_(expr, f"_o{len(extra) + 1}"))  # type: ignore[arg-type]
            ref = exp.column(f"_o{len(extra)}")
        else:
            ref = exp.column(f"_d{index + 1}")
        outer_order.append(exp.Ordered(this=ref, desc=item.args.get("desc"),
                                       nulls_first=item.args.get("nulls_first")))
    window = exp.Window(this=exp.RowNumber(), partition_by=keys,
                        order=exp.Order(expressions=window_order) if window_order else None)
    inner.set("expressions", [*[exp.alias_(b.copy(), f"_d{i + 1}") for i, b in enumerate(bare)],
                              *extra, exp.alias_(window, "_rn")])
    outer = exp.select(*[exp.alias_(exp.column(f"_d{i + 1}"), n)
                         for i, n in enumerate(names)]).from_(
        exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("_distinct_on"))))
    outer = outer.where("_rn = 1")
    if outer_order:
        outer.set("order", exp.Order(expressions=outer_order))
    for arg in ("limit", "offset"):
        if select.args.get(arg) is not None:
            outer.set(arg, select.args[arg])
    return outer


def distinct_on(root: exp.Expression, ctx: Context) -> exp.Expression:
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Select):
            distinct = node.args.get("distinct")
            if distinct is not None and distinct.args.get("on") is not None:
                return _rewrite_distinct_on(node)
        return node
    return root.transform(swap)


def data_modifying_ctes(root: exp.Expression, ctx: Context) -> exp.Expression:
    for cte in root.find_all(exp.CTE):
        if isinstance(cte.this, exp.Insert | exp.Update | exp.Delete):
            raise unsupported("data-modifying statement in WITH")
    return root


def insert_defaults(root: exp.Expression, ctx: Context) -> exp.Expression:
    """INSERT ... VALUES (.., DEFAULT, ..): drop a column that is DEFAULT in every row."""
    for insert in root.find_all(exp.Insert):
        values = insert.expression
        if not isinstance(values, exp.Values):
            continue
        rows = [t.expressions for t in values.expressions if isinstance(t, exp.Tuple)]
        is_default = [[isinstance(v, exp.Var) and v.name.upper() == "DEFAULT" for v in row]
                      for row in rows]
        if not any(any(r) for r in is_default):
            continue
        schema = insert.this
        if not isinstance(schema, exp.Schema) or len(rows) != len(values.expressions):
            raise unsupported("DEFAULT in VALUES without a column list")
        width = len(schema.expressions)
        drop = {i for i in range(width) if all(len(r) == width and r[i] for r in is_default)}
        if any(r[i] for r in is_default for i in range(len(r)) if i not in drop):
            raise unsupported("DEFAULT in some but not all rows of a VALUES list")
        schema.set("expressions", [c for i, c in enumerate(schema.expressions) if i not in drop])
        for tuple_ in values.expressions:
            tuple_.set("expressions", [v for i, v in enumerate(tuple_.expressions) if i not in drop])
        if not schema.expressions:
            insert.set("this", schema.this)
            insert.set("expression", None)
            insert.set("default", True)
    for update in root.find_all(exp.Update):
        for eq in update.expressions:
            if isinstance(eq.expression, exp.Column) and eq.expression.name.upper() == "DEFAULT" \
                    and not eq.expression.this.quoted:
                raise unsupported("UPDATE ... SET col = DEFAULT")
    return root


def truncate(root: exp.Expression, ctx: Context) -> exp.Expression:
    if isinstance(root, exp.TruncateTable):
        if len(root.expressions) != 1:
            raise unsupported("TRUNCATE of several tables")
        if root.args.get("identity") or root.args.get("option"):
            raise unsupported("TRUNCATE options")
        return exp.Delete(this=root.expressions[0])
    return root


_DATE_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ}
_FRACTIONAL_TYPES = {exp.DataType.Type.DECIMAL, exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT,
                     exp.DataType.Type.BIGDECIMAL}
_DATE_FUNCTIONS = {"pg_interval_add", "make_date", "pg_date_trunc"}


def _is_date(node: exp.Expression) -> bool:
    """Statically a date/timestamp (the translator has no schema: columns are unknown)."""
    if isinstance(node, exp.Paren):
        return _is_date(node.this)
    if isinstance(node, exp.Cast):
        return node.args["to"].this in _DATE_TYPES
    if isinstance(node, exp.CurrentDate | exp.CurrentTimestamp | exp.Localtimestamp
                  | exp.TimestampTrunc | exp.DateTrunc):
        return True
    return isinstance(node, exp.Anonymous) and node.name.lower() in _DATE_FUNCTIONS


def _is_fractional(node: exp.Expression) -> bool:
    """Statically numeric/float: PostgreSQL divides exactly, not as integers."""
    if isinstance(node, exp.Paren | exp.Neg):
        return _is_fractional(node.this)
    if isinstance(node, exp.Cast):
        return node.args["to"].this in _FRACTIONAL_TYPES
    if isinstance(node, exp.Literal) and not node.is_string:
        return any(ch in str(node.this) for ch in ".eE")
    if isinstance(node, exp.Avg | exp.Round):
        return True
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("pg_div_exact", "pg_round"):
        return True
    if isinstance(node, exp.Mul | exp.Add | exp.Sub | exp.Div):
        return _is_fractional(node.this) or _is_fractional(node.expression)
    return False


def typed_arithmetic(root: exp.Expression, ctx: Context) -> exp.Expression:
    """date +/- integer and date - date where an operand is known to be a date; exact division
    where an operand is known to be numeric/float (10::numeric / 4 is 2.5)."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Add | exp.Sub) and (_is_date(node.this) or _is_date(node.expression)):
            sign = exp.Literal.number(1 if isinstance(node, exp.Add) else -1)
            return exp.Anonymous(this="pg_date_arith",
                                 expressions=[node.this, node.expression, sign])
        if isinstance(node, exp.Div) and (_is_fractional(node.this) or _is_fractional(node.expression)):
            return exp.Anonymous(this="pg_div_exact", expressions=[node.this, node.expression])
        return node
    return _bottom_up(root, swap)


def unsupported_operators(root: exp.Expression, ctx: Context) -> exp.Expression:
    names = {exp.SimilarTo: "SIMILAR TO", exp.WithinGroup: "WITHIN GROUP aggregates",
             exp.ArrayContainsAll: "the @> operator", exp.JSONBContainsTopKey: "the ? operator",
             exp.ArrayContainedBy: "the <@ operator"}
    for node in root.walk():
        for kind, name in names.items():
            if isinstance(node, kind):
                raise unsupported(name)
    return root


RULES: tuple[Rule, ...] = (
    fold_identifiers, schemas, forbidden_functions, clock_functions, data_modifying_ctes, distinct_on,
    unsupported_operators, any_all, arrays, interval_arithmetic, typed_arithmetic, values_alias,
    generate_series, insert_defaults, truncate,
)
