"""Parameter and result-column types and names, computed the way PostgreSQL computes them.

Why: asyncpg encodes every parameter with the encoder of the OID in ParameterDescription and
decodes every column by the OID in RowDescription (PGWIRE.md section 4), so these must be the
OIDs PostgreSQL would report, before anything runs. The SQLite side knows declared column types
(through a prepared statement's decltypes) but not PostgreSQL's expression typing or column
naming, so both come from the PostgreSQL-dialect AST here:

- a parameter takes the type of what it is compared with, assigned to, inserted into or cast
  to; LIMIT/OFFSET give int8, LIKE gives text; anything else is text (25), like PostgreSQL's
  unknown-literal resolution (parse_coerce.c, parse_param.c);
- a result column is named as FigureColname does (parse_target.c): alias, column name,
  function name, type name of a cast, "case", else "?column?"; unquoted names are lower case;
- its type follows the operators and functions (count -> int8, sum(int) -> int8, avg ->
  numeric, comparisons -> bool, literals int4/int8/numeric/text, casts -> the cast type);
  columns take their declared type. What stays unknown is typed later by its values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from raftsql.pgwire import oids as o
from raftsql.sql import pgtypes
from raftsql.sql.rewrite.scan import INTERVAL_FUNCTION, split

SchemaLookup = Callable[[str], dict[str, str | None]]
"""table name -> {lower-case column name: declared type} (empty when unknown)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One RowDescription entry. `oid` None = not known until values are seen."""

    name: str
    oid: int | None
    typmod: int = -1
    dscale: int | None = None  # numeric display scale of an expression (typmod stays -1)

    @property
    def scale(self) -> int | None:
        """What values.encode_result needs of the type modifier: a numeric's scale (negative:
        division rule, see values.division_scale), a char(n)'s width."""
        if self.oid == o.NUMERIC and self.typmod >= 4:
            return (self.typmod - 4) & 0xFFFF
        if self.oid == o.BPCHAR and self.typmod >= 4:
            return self.typmod - 4
        return self.dscale if self.oid == o.NUMERIC else None


# --------------------------------------------------------------------------- type names


def _typmod(declared: str) -> int:
    inner = declared[declared.find("(") + 1 : declared.rfind(")")] if "(" in declared else ""
    nums = [p.strip() for p in inner.split(",") if p.strip().lstrip("-").isdigit()]
    found = pgtypes.lookup(declared)
    if found is None or not nums:
        return -1
    if found.oid in (o.VARCHAR, o.BPCHAR):
        return int(nums[0]) + 4
    if found.oid == o.NUMERIC:
        precision, scale = int(nums[0]), int(nums[1]) if len(nums) > 1 else 0
        return ((precision << 16) | (scale & 0xFFFF)) + 4
    return -1


def declared_column(name: str, declared: str | None) -> Column:
    """A column whose SQLite declared type is known (or None: unknown)."""
    if not declared:
        return Column(name, None)
    found = pgtypes.lookup(declared)
    if found is None:
        return Column(name, o.TEXT)
    return Column(name, found.oid, _typmod(declared))


def oid_of_datatype(dtype: exp.DataType) -> int:
    """The OID of a sqlglot DataType (e.g. from `$1::int[]`); text when PostgreSQL's builtin
    types table here does not know it."""
    if dtype.this == exp.DataType.Type.ARRAY and dtype.expressions:
        elem = dtype.expressions[0]
        elem_oid = oid_of_datatype(elem) if isinstance(elem, exp.DataType) else o.TEXT
        info = o.TYPES.get(elem_oid)
        return info.array_oid if info is not None and info.array_oid else o.TEXT_ARRAY
    text = dtype.sql(dialect="postgres")
    found = pgtypes.lookup(text)
    if found is not None:
        return found.oid
    name = text.lower()
    if name in ("name", "regclass", "regtype", "oid"):
        return {"name": o.NAME, "oid": o.OID}.get(name, o.TEXT)
    if name.startswith("char") or name == "bpchar":
        return o.BPCHAR
    return o.TEXT


def _datatype_typmod(dtype: exp.DataType) -> int:
    return _typmod(dtype.sql(dialect="postgres"))


# --------------------------------------------------------------------------- parsing


@functools.lru_cache(maxsize=2048)
def parse(pg_sql: str) -> exp.Expression | None:
    """The PostgreSQL AST of one statement (with $n as placeholders `__pN`), or None."""
    pieces = split(pg_sql)
    if len(pieces) != 1:
        return None
    try:
        tree = sqlglot.parse_one(pieces[0].text, read="postgres")
    except (ParseError, TokenError, ValueError):
        return None
    if isinstance(tree, exp.Command):
        return None
    # sqlglot reads now() and CURRENT_TIMESTAMP alike; PostgreSQL names the columns apart
    spellings = re.findall(r"\bnow\s*\(|\bcurrent_timestamp\b", pieces[0].text, re.I)
    nodes = list(tree.find_all(exp.CurrentTimestamp, bfs=False))
    if len(spellings) == len(nodes):
        for node, spelled in zip(nodes, spellings, strict=True):
            node.meta["pg_name"] = "now" if spelled.lower().startswith("now") else (
                "current_timestamp")
    return tree  # type: ignore[arg-type,return-value]  # sqlglot's Expr


def _placeholder_index(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Placeholder):
        name = str(node.this or "")
        if name.startswith("__p") and name[3:].isdigit():
            return int(name[3:]) - 1
    return None


class _Scope:
    """Tables visible in a statement, for resolving column references to declared types."""

    def __init__(self, tree: exp.Expression, schema: SchemaLookup) -> None:
        self.schema = schema
        self.aliases: dict[str, str] = {}
        self.order: list[str] = []
        for table in tree.find_all(exp.Table):
            name = table.name.lower()
            if not name:
                continue
            self.aliases[(table.alias_or_name or name).lower()] = name
            self.aliases.setdefault(name, name)
            if name not in self.order:
                self.order.append(name)

    @functools.cached_property
    def _columns(self) -> dict[str, dict[str, str | None]]:
        return {t: self.schema(t) for t in self.order}

    def table_columns(self, table: str) -> dict[str, str | None]:
        return self._columns.get(table.lower()) or self.schema(table.lower())

    def column(self, col: exp.Column) -> Column | None:
        name = col.name.lower() if not col.this.args.get("quoted") else col.name
        qualifier = col.table.lower() if col.table else ""
        tables = [self.aliases[qualifier]] if qualifier in self.aliases else self.order
        for table in tables:
            cols = self._columns.get(table, {})
            if name in cols:
                return declared_column(name, cols[name])
        return None


# --------------------------------------------------------------------------- expression types

_BOOL_NODES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not,
               exp.Is, exp.In, exp.Like, exp.ILike, exp.Between, exp.Exists, exp.Boolean,
               exp.NullSafeEQ, exp.NullSafeNEQ, exp.RegexpLike, exp.Any, exp.All)
_TEXT_FUNCS = {"version", "current_schema", "current_database", "current_user", "session_user",
               "user", "lower", "upper", "substr", "substring", "trim", "ltrim", "rtrim",
               "replace", "concat", "concat_ws", "md5", "left", "right", "lpad", "rpad",
               "repeat", "to_char", "format", "string_agg", "initcap", "reverse",
               "split_part", "translate", "quote_ident", "quote_literal", "current_setting",
               "set_config", "pg_typeof", "chr", "encode"}
_INT4_FUNCS = {"length", "char_length", "character_length", "octet_length", "position",
               "strpos", "ascii", "array_length", "pg_backend_pid", "sign"}
_BOOL_FUNCS = {"pg_is_in_recovery", "pg_advisory_unlock_all", "pg_try_advisory_lock",
               "pg_advisory_unlock", "pg_table_is_visible", "starts_with"}
_NUMERIC_RANK = {o.INT2: 1, o.INT4: 2, o.INT8: 3, o.NUMERIC: 4, o.FLOAT4: 5, o.FLOAT8: 6}


def _plain(scale: int) -> int:
    """A display scale, undoing the division-rule encoding (at least that many digits)."""
    return scale if scale >= 0 else -scale - 1


def _func_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


class Typer:
    """Types of expressions in one statement, given its scope and the parameter types."""

    def __init__(self, scope: _Scope, params: Sequence[int]) -> None:
        self.scope = scope
        self.params = params

    def column(self, node: exp.Expression) -> Column | None:
        """Declared-type information when `node` is a plain column (or a cast of one)."""
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            return self.scope.column(node)
        if isinstance(node, exp.Cast) and isinstance(node.to, exp.DataType):
            return Column("", oid_of_datatype(node.to), _datatype_typmod(node.to))
        return None

    def scale(self, node: exp.Expression | None) -> int | None:  # noqa: PLR0911
        """The display scale PostgreSQL's numeric arithmetic gives (numeric.c: + and - keep
        the larger scale, * adds them); None when it depends on the values."""
        if node is None:
            return None
        if isinstance(node, exp.Paren | exp.Alias | exp.Neg | exp.Sum | exp.Max | exp.Min
                      | exp.Abs):
            return self.scale(node.this)
        if isinstance(node, exp.Column):
            col = self.column(node)
            return col.scale if col is not None else None
        if isinstance(node, exp.Literal) and not node.is_string:
            text = str(node.this)
            if "e" in text.lower():
                return None
            return len(text.split(".")[1]) if "." in text else 0
        if isinstance(node, exp.Cast) and isinstance(node.to, exp.DataType):
            tm = _datatype_typmod(node.to)
            return ((tm - 4) & 0xFFFF) if tm >= 4 else self.scale(node.this)
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
            a, b = self.scale(node.this), self.scale(node.expression)
            if a is None or b is None:
                return None
            if isinstance(node, exp.Div):
                return -1 - max(_plain(a), _plain(b))  # division rule (numeric.c)
            a, b = _plain(a), _plain(b)
            return a + b if isinstance(node, exp.Mul) else max(a, b)
        if isinstance(node, exp.Avg):
            inner = self.scale(node.this)
            return -1 - _plain(inner) if inner is not None else -1
        if isinstance(node, exp.Round):
            digits = node.args.get("decimals")
            if digits is None:
                return 0
            return int(str(digits.this)) if isinstance(digits, exp.Literal) else None
        return None

    def oid(self, node: exp.Expression | None) -> int | None:  # noqa: PLR0911, PLR0912
        if node is None:
            return None
        idx = _placeholder_index(node)
        if idx is not None:
            return self.params[idx] if idx < len(self.params) else o.TEXT
        if isinstance(node, exp.Paren | exp.Alias | exp.Neg):
            return self.oid(node.this)
        if isinstance(node, exp.Column):
            col = self.column(node)
            return col.oid if col else None
        if isinstance(node, exp.Cast | exp.TryCast) and isinstance(node.to, exp.DataType):
            return oid_of_datatype(node.to)
        if isinstance(node, exp.Anonymous) and node.name.lower() == INTERVAL_FUNCTION:
            return o.INTERVAL
        if isinstance(node, exp.Literal):
            if node.is_string:
                return o.TEXT
            text = str(node.this)
            if any(c in text for c in ".eE"):
                return o.NUMERIC
            return o.INT4 if -(2**31) <= int(text) < 2**31 else (
                o.INT8 if -(2**63) <= int(text) < 2**63 else o.NUMERIC)
        if isinstance(node, exp.Null):
            return o.TEXT
        if isinstance(node, _BOOL_NODES):
            return o.BOOL
        if isinstance(node, exp.Count):
            return o.INT8
        if isinstance(node, exp.Sum):
            arg = self.oid(node.this)
            if arg in (o.INT2, o.INT4):
                return o.INT8
            return arg if arg in (o.FLOAT4, o.FLOAT8, o.INTERVAL) else o.NUMERIC
        if isinstance(node, exp.Avg):
            return o.FLOAT8 if self.oid(node.this) in (o.FLOAT4, o.FLOAT8) else o.NUMERIC
        if isinstance(node, exp.Max | exp.Min | exp.Abs):
            # varchar has no operators or aggregates of its own: PostgreSQL uses text's
            return _operand(self.oid(node.this))
        if isinstance(node, exp.Round):
            arg = self.oid(node.this)
            return arg if arg in (o.FLOAT8,) and node.args.get("decimals") is None else (
                o.NUMERIC)
        if isinstance(node, exp.Coalesce):
            for arg in [node.this, *node.expressions]:
                found = self.oid(arg)
                if found is not None and not (isinstance(arg, exp.Literal | exp.Null)):
                    return found
            return self.oid(node.this)
        if isinstance(node, exp.Case):
            for branch in node.args.get("ifs") or []:
                found = self.oid(branch.args.get("true"))
                if found is not None:
                    return found
            return self.oid(node.args.get("default"))
        if isinstance(node, exp.DPipe | exp.Concat | exp.Lower | exp.Upper | exp.Substring
                      | exp.Trim | exp.Initcap):
            return o.TEXT
        if isinstance(node, exp.Length):
            return o.INT4
        if isinstance(node, exp.CurrentTimestamp):
            return o.TIMESTAMPTZ
        if isinstance(node, exp.CurrentDate):
            return o.DATE
        if isinstance(node, exp.Rand):
            return o.FLOAT8
        if isinstance(node, exp.Div | exp.Mul | exp.Add | exp.Sub | exp.Mod | exp.IntDiv):
            left, right = self.oid(node.this), self.oid(node.expression)
            if left in (o.TIMESTAMP, o.TIMESTAMPTZ, o.DATE):
                return left if isinstance(node, exp.Add) or right == o.INTERVAL else (
                    o.INTERVAL if left != o.DATE else o.INT4)
            if left in _NUMERIC_RANK and right in _NUMERIC_RANK:
                best = max(left, right, key=_NUMERIC_RANK.__getitem__)
                return o.FLOAT8 if best == o.FLOAT4 and left != right else best
            return left if right is None or left == right else None
        if isinstance(node, exp.Subquery):
            inner = node.this
            if isinstance(inner, exp.Query) and inner.selects:
                return self.oid(inner.selects[0])  # type: ignore[arg-type,return-value]  # sqlglot's Expr
            return None
        name = _func_name(node)
        if name in _TEXT_FUNCS:
            return o.TEXT
        if name in _INT4_FUNCS:
            return o.INT4
        if name in _BOOL_FUNCS:
            return o.BOOL
        if name in ("now", "transaction_timestamp", "statement_timestamp", "clock_timestamp"):
            return o.TIMESTAMPTZ
        if name in ("gen_random_uuid", "uuid_generate_v4"):
            return o.UUID
        if name in ("random",):
            return o.FLOAT8
        if name in ("greatest", "least", "nullif"):
            return self.oid(node.this if node.this is not None else None) or (
                self.oid(node.expressions[0]) if node.expressions else None)
        return None


# --------------------------------------------------------------------------- names


def column_name(node: exp.Expression) -> str:
    """PostgreSQL's FigureColname."""
    if isinstance(node, exp.Alias):
        ident = node.args.get("alias")
        quoted = isinstance(ident, exp.Identifier) and ident.args.get("quoted")
        return node.alias if quoted else node.alias.lower()
    strong = _figure(node)
    return strong if strong is not None else "?column?"


def _figure(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Column):
        if isinstance(node.this, exp.Star):
            return None
        return node.name if node.this.args.get("quoted") else node.name.lower()
    if isinstance(node, exp.Paren):
        return _figure(node.this)
    if isinstance(node, exp.Cast | exp.TryCast):
        inner = _figure(node.this)
        if inner is not None:
            return inner
        oid = oid_of_datatype(node.to) if isinstance(node.to, exp.DataType) else o.TEXT
        return o.TYPES[oid].name if oid in o.TYPES else "text"
    if isinstance(node, exp.Case):
        default = node.args.get("default")  # CASE takes its ELSE's name (FigureColname)
        inner = _figure(default) if default is not None else None
        return inner if inner is not None else "case"
    if isinstance(node, exp.Exists):
        return "exists"
    if isinstance(node, exp.Anonymous) and node.name.lower() == INTERVAL_FUNCTION:
        return "interval"  # interval '1 day' is a typed literal, named like a cast
    if isinstance(node, exp.CurrentTimestamp):
        return str(node.meta.get("pg_name", "now"))
    if isinstance(node, exp.CurrentDate):
        return "current_date"
    if isinstance(node, exp.Array):
        return "array"
    if isinstance(node, exp.Coalesce):
        return "coalesce"
    if isinstance(node, exp.Subquery):
        inner = node.this
        if isinstance(inner, exp.Query) and inner.selects:
            return _figure(inner.selects[0])  # type: ignore[arg-type,return-value]  # sqlglot's Expr
        return None
    name = _func_name(node)
    if name:
        return {"substring": "substring", "currentschema": "current_schema",
                "length": "length", "rand": "random"}.get(name, name)
    return None


# --------------------------------------------------------------------------- entry points


def _param_context(node: exp.Expression, typer: Typer) -> int:  # noqa: PLR0911, PLR0912
    """The type PostgreSQL gives parameter `node` from where it stands."""
    child, parent = node, node.parent
    while isinstance(parent, exp.Paren | exp.Neg):
        child, parent = parent, parent.parent
    if parent is None:
        return o.TEXT
    if isinstance(parent, exp.Cast | exp.TryCast) and isinstance(parent.to, exp.DataType):
        return oid_of_datatype(parent.to)
    if isinstance(parent, exp.Limit | exp.Offset | exp.Fetch):
        return o.INT8
    if isinstance(parent, exp.Like | exp.ILike | exp.DPipe | exp.RegexpLike):
        return o.TEXT
    if isinstance(parent, exp.In):
        other = parent.this if child is not parent.this else (
            parent.expressions[0] if parent.expressions else None)
        found = _non_param_oid(other, typer)
        return found if found is not None else o.TEXT
    if isinstance(parent, exp.Between):
        for side in (parent.this, parent.args.get("low"), parent.args.get("high")):
            if side is not child:
                found = _non_param_oid(side, typer)
                if found is not None:
                    return found
        return o.TEXT
    if isinstance(parent, exp.Any | exp.All):
        # x op ANY($n): an array of x's (operator) type
        outer = parent.parent
        if isinstance(outer, exp.Binary):
            other = outer.expression if parent is outer.this else outer.this
            elem = _non_param_oid(other, typer)
            info = o.TYPES.get(elem) if elem is not None else None
            if info is not None and info.array_oid:
                return info.array_oid
        return o.TEXT_ARRAY
    case = parent.parent if isinstance(parent, exp.If) else parent
    if isinstance(case, exp.Case) and child is not getattr(parent, "this", None) or (
            isinstance(parent, exp.Case) and child is parent.args.get("default")):
        case = case if isinstance(case, exp.Case) else parent
        results = [b.args.get("true") for b in case.args.get("ifs") or []]
        results.append(case.args.get("default"))
        for arg in results:
            if arg is not None and arg is not child:
                found = _peer_oid(arg, typer)
                if found is not None:
                    return found
        return o.TEXT
    if isinstance(parent, exp.Coalesce | exp.Greatest | exp.Least | exp.Nullif):
        # one common type for all arguments (parse_coerce.c select_common_type)
        args = [parent.this, *(parent.expressions or []), parent.args.get("expression")]
        for arg in args:
            if arg is not None and arg is not child:
                found = _peer_oid(arg, typer)
                if found is not None:
                    return found
        return o.TEXT
    if isinstance(parent, exp.EQ) and isinstance(parent.parent, exp.Update | exp.OnConflict) and (
            child is parent.expression and isinstance(parent.this, exp.Column)):
        col = typer.column(parent.this)  # SET col = $n: assignment keeps varchar
        return col.oid if col is not None and col.oid is not None else o.TEXT
    if isinstance(parent, exp.Binary):
        other = parent.expression if child is parent.this else parent.this
        found = _non_param_oid(other, typer)
        if isinstance(parent, exp.Any | exp.All):
            return o.TEXT_ARRAY
        if found is None:
            return o.TEXT
        if isinstance(parent, exp.Sub | exp.Add) and found in (o.TIMESTAMP, o.TIMESTAMPTZ,
                                                              o.DATE):
            return o.INTERVAL
        return found
    if isinstance(parent, exp.Tuple) and isinstance(parent.parent, exp.Values):
        insert = parent.parent.parent
        if isinstance(insert, exp.Insert):
            return _insert_target(insert, parent.expressions.index(child), typer)
    if isinstance(parent, exp.Values) and isinstance(parent.parent, exp.Insert):
        return _insert_target(parent.parent, 0, typer)
    return o.TEXT


def _operand(oid: int | None) -> int | None:
    """The type an operator sees: varchar resolves to text's operators (pg_operator has no
    varchar entries), so a parameter compared with a varchar column is text."""
    return o.TEXT if oid == o.VARCHAR else oid


def _peer_oid(node: exp.Expression | None, typer: Typer) -> int | None:
    """The type of a non-parameter expression that shares a common type with a parameter
    (CASE results, COALESCE arguments): declared types are kept, varchar included."""
    if node is None or _placeholder_index(node) is not None:
        return None
    if isinstance(node, exp.Literal) and node.is_string:
        return None  # unknown literal: does not type the parameter
    return typer.oid(node)


def _non_param_oid(node: exp.Expression | None, typer: Typer) -> int | None:
    """The type an operator's other operand gives a parameter."""
    return _operand(_peer_oid(node, typer))


def _insert_target(insert: exp.Insert, position: int, typer: Typer) -> int:
    target = insert.this
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        return o.TEXT
    cols = typer.scope.table_columns(table.name)
    if isinstance(target, exp.Schema) and target.expressions:
        names = [e.name.lower() for e in target.expressions]
    else:
        names = list(cols)
    if position >= len(names) or names[position] not in cols:
        return o.TEXT
    found = declared_column(names[position], cols[names[position]])
    return found.oid if found.oid is not None else o.TEXT


@dataclass(frozen=True)
class Shape:
    """What Describe reports for one statement."""

    params: tuple[int, ...]
    columns: tuple[Column, ...] | None  # None: take names and types from the results


def infer_params(tree: exp.Expression | None, nparams: int, client_oids: Sequence[int],
                 schema: SchemaLookup) -> tuple[int, ...]:
    """Parameter OIDs: the client's where given (0 and 705 mean "infer"), else inferred."""
    given = [oid if oid not in (0, o.UNKNOWN) else 0 for oid in client_oids]
    given += [0] * (nparams - len(given))
    if tree is None or all(given):
        return tuple(oid or o.TEXT for oid in given)
    typer = Typer(_Scope(tree, schema), [g or o.TEXT for g in given])
    found = list(given)
    for node in tree.find_all(exp.Placeholder):
        idx = _placeholder_index(node)
        if idx is None or idx >= len(found) or found[idx]:
            continue
        found[idx] = _param_context(node, typer)
    return tuple(oid or o.TEXT for oid in found)


def _projections(tree: exp.Expression) -> list[exp.Expression] | None:
    if isinstance(tree, exp.Query):
        return list(tree.selects)  # type: ignore[arg-type,return-value]  # sqlglot's Expr
    returning = tree.args.get("returning")
    if isinstance(returning, exp.Returning):
        return list(returning.expressions)
    return None


def describe_columns(tree: exp.Expression | None, sqlite_desc: Sequence[tuple[str, str | None]],
                     params: Sequence[int], schema: SchemaLookup) -> tuple[Column, ...]:
    """RowDescription columns from the AST and SQLite's (name, declared type) list."""
    fallback = tuple(declared_column(name, decl) for name, decl in sqlite_desc)
    projections = _projections(tree) if tree is not None else None
    if projections is None or len(projections) != len(sqlite_desc) or any(
        isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
        for p in projections
    ):
        return fallback
    typer = Typer(_Scope(tree, schema), list(params))  # type: ignore[arg-type]
    out = []
    for node, base in zip(projections, fallback, strict=True):
        inner = node.this if isinstance(node, exp.Alias) else node
        col = typer.column(inner)
        oid = typer.oid(inner)
        typmod = col.typmod if col is not None and col.oid == oid else -1
        if isinstance(inner, exp.Column) and base.oid is not None:
            oid, typmod = base.oid, base.typmod
        if oid is None:
            oid, typmod = base.oid, base.typmod
        dscale = typer.scale(inner) if oid == o.NUMERIC and typmod < 4 else None
        out.append(Column(column_name(node), oid, typmod, dscale))
    return tuple(out)
