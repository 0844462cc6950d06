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
  function name as the client wrote it (substr, not sqlglot's substring; an operator such as
  `^` or AND is "?column?"), type name of a cast, "case", else "?column?"; unquoted names are
  lower case;
- its type follows the operators and functions (count -> int8, sum(int) -> int8, avg ->
  numeric, comparisons -> bool, literals int4/int8/numeric/text, casts -> the cast type,
  window functions their own, floor/sqrt/^... float8 or numeric by the argument); columns take
  their declared type, and columns of CTEs, subqueries, VALUES lists and generate_series in
  FROM the type of what produces them. What stays unknown is typed later by its values (text
  at Describe): a wrong OID makes a client decode garbage, which is worse than text.
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
    _record_spellings(tree, pieces[0].text)  # type: ignore[arg-type]  # sqlglot's Expr
    return tree  # type: ignore[arg-type,return-value]  # sqlglot's Expr


_WRITTEN_NAME = re.compile(r'[A-Za-z_][\w$]*|"[^"]+"')


def _record_spellings(tree: exp.Expression, text: str) -> None:
    """Keep, in ``meta["pg_name"]``, each function's name as the client wrote it.

    PostgreSQL names a function-call column after the function as written (FigureColname:
    the last part of the name, lower case unless quoted), while sqlglot folds synonyms into one
    node (substr and substring, string_agg into GroupConcat, date_part into Extract). sqlglot
    keeps the name token's offsets in ``meta`` for ordinary calls; calls with their own syntax
    (EXTRACT(... FROM ...), now() vs CURRENT_TIMESTAMP) are matched to their spellings in order.
    """
    for node in tree.walk():
        if isinstance(node, exp.Func | exp.Binary) and "start" in node.meta and (
                "end" in node.meta):  # (mod(a, b) is a Binary, as a % b is)
            written = text[node.meta["start"] : node.meta["end"] + 1]
            if _WRITTEN_NAME.fullmatch(written):
                node.meta["pg_name"] = written[1:-1] if written.startswith('"') else (
                    written.lower())
    _match_spellings(tree, exp.CurrentTimestamp, r"\bnow\s*\(|\bcurrent_timestamp\b", text)
    _match_spellings(tree, exp.Extract, r"\bdate_part\s*\(|\bextract\s*\(", text)


def _match_spellings(tree: exp.Expression, kind: type[exp.Expression], pattern: str,
                     text: str) -> None:
    """Name the ``kind`` nodes after the spellings found in ``text``, in order, when the
    counts agree (a spelling inside a string literal makes them differ: then none is named)."""
    spellings = re.findall(pattern, text, re.I)
    nodes = list(tree.find_all(kind, bfs=False))
    if len(spellings) == len(nodes):
        for node, spelled in zip(nodes, spellings, strict=True):
            node.meta["pg_name"] = re.match(r"\w+", spelled).group().lower()  # type: ignore[union-attr]


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
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            name = table.name.lower()
            if not name or (name in ctes and not table.args.get("db")):
                continue  # a CTE's columns are typed from its query (Typer.derived)
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
               "repeat", "to_char", "format", "string_agg", "initcap", "reverse", "btrim",
               "split_part", "translate", "quote_ident", "quote_literal", "current_setting",
               "set_config", "pg_typeof", "chr", "encode"}
_INT4_FUNCS = {"length", "char_length", "character_length", "octet_length", "position",
               "strpos", "ascii", "array_length", "pg_backend_pid"}
_BOOL_FUNCS = {"pg_is_in_recovery", "pg_advisory_unlock_all", "pg_try_advisory_lock",
               "pg_advisory_unlock", "pg_table_is_visible", "starts_with", "bool_and",
               "bool_or", "every"}
_WINDOW_OIDS = {"row_number": o.INT8, "rank": o.INT8, "dense_rank": o.INT8, "ntile": o.INT4,
                "percent_rank": o.FLOAT8, "cume_dist": o.FLOAT8}
_WINDOW_VALUE_FUNCS = {"lag", "lead", "first_value", "last_value", "nth_value"}
# functions defined for float8 and numeric only (an integer argument takes float8, the
# preferred type of the numeric category: func_select_candidate in parse_func.c)
_FLOAT_OR_NUMERIC = (exp.Floor, exp.Ceil, exp.Sqrt, exp.Exp, exp.Ln, exp.Log, exp.Pow, exp.Sign,
                     exp.Trunc, exp.Round)
_INTEGERS = (o.INT2, o.INT4, o.INT8)
# extract(field FROM ...) scales (timestamp_part_common in timestamp.c); others have scale 0
_EXTRACT_SCALES = {"EPOCH": 6, "SECOND": 6, "SECONDS": 6, "MILLISECOND": 3, "MILLISECONDS": 3,
                   "JULIAN": None}
_NUMERIC_RANK = {o.INT2: 1, o.INT4: 2, o.INT8: 3, o.NUMERIC: 4, o.FLOAT4: 5, o.FLOAT8: 6}


def _plain(scale: int) -> int:
    """A display scale, undoing the division-rule encoding (at least that many digits)."""
    return scale if scale >= 0 else -scale - 1


_NAMES_BY_NODE: dict[type[exp.Expression], str] = {
    exp.GroupConcat: "string_agg", exp.StrPosition: "position", exp.Substring: "substring",
    exp.Extract: "extract", exp.JSONArrayAgg: "json_agg", exp.CurrentSchema: "current_schema",
    exp.Localtimestamp: "localtimestamp", exp.Rand: "random", exp.Length: "length"}
"""Names of function calls that sqlglot parses without keeping the written name (their own
syntax, e.g. POSITION(a IN b), SUBSTRING(x FROM 1), EXTRACT(f FROM x))."""


def _func_name(node: exp.Expression) -> str:
    """The function's name as PostgreSQL knows it (as written: `substr`, not sqlglot's
    `substring`); "" for an operator (`2 ^ 3`, `a AND b`) or anything else."""
    written = node.meta.get("pg_name") if isinstance(node, exp.Func | exp.Binary) else None
    if written:
        return str(written)
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Trim):  # TRIM(...) is btrim/ltrim/rtrim (gram.y)
        position = str(node.args.get("position") or "").upper()
        return {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "btrim")
    named = _NAMES_BY_NODE.get(type(node))
    if named is not None:
        return named
    if isinstance(node, exp.Binary | exp.Unary | exp.Predicate):
        return ""  # an operator: PostgreSQL names its column ?column?
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


def _float_or_numeric(oids: Sequence[int | None]) -> int | None:
    """The result of a function defined for float8 and numeric: float8 if any argument is
    a float or an integer only, numeric if any is numeric; None when one is unknown."""
    if any(oid not in _NUMERIC_RANK for oid in oids):
        return None
    if any(oid in (o.FLOAT4, o.FLOAT8) for oid in oids):
        return o.FLOAT8
    return o.NUMERIC if o.NUMERIC in oids else o.FLOAT8


def _is_unknown_literal(node: exp.Expression) -> bool:
    """A string literal or NULL: PostgreSQL's `unknown`, which takes its peers' type."""
    inner = node.this if isinstance(node, exp.Alias) else node
    return isinstance(inner, exp.Null) or (isinstance(inner, exp.Literal) and inner.is_string)


def _common_type(peers: Sequence[tuple[Column, bool]], lenient: bool = False) -> int | None:
    """select_common_type (parse_coerce.c) over (column, is unknown literal) pairs: unknown
    literals take the others' type, numbers the widest; None when it cannot be told.
    ``lenient``: skip peers of unknown type (a recursive CTE's recursive term)."""
    known = [c.oid for c, unknown in peers if not unknown]
    if not known:
        return o.TEXT
    if None in known:
        if not lenient:
            return None
        known = [oid for oid in known if oid is not None]
        if not known:
            return None
    first = known[0]
    if all(oid == first for oid in known):
        return first
    if all(oid in _NUMERIC_RANK for oid in known):
        best = max(known, key=lambda oid: _NUMERIC_RANK[oid] if oid is not None else 0)
        return o.FLOAT8 if best == o.FLOAT4 else best
    if all(oid in (o.TEXT, o.VARCHAR, o.BPCHAR) for oid in known):
        return o.TEXT
    return None


def _alias_names(alias: exp.Expression | None) -> list[str]:
    if not isinstance(alias, exp.TableAlias):
        return []
    return [c.name if c.args.get("quoted") else c.name.lower() for c in alias.columns]


def _derived_sources(tree: exp.Expression) -> dict[str, tuple[exp.Expression, list[str]]]:
    """alias -> (query, column names given with the alias) for each CTE, subquery, VALUES
    list and set-returning function in FROM; a function's query is the function itself."""
    found: dict[str, tuple[exp.Expression, list[str]]] = {}
    for node in tree.find_all(exp.CTE, exp.Subquery, exp.Values, exp.Table):
        alias = node.args.get("alias")
        if isinstance(node, exp.Table):
            func = node.this
            if not isinstance(func, exp.Func):
                continue
            name = node.alias.lower() if node.alias else _func_name(func)  # type: ignore[arg-type]  # sqlglot's Expr
            found.setdefault(name, (func, _alias_names(alias)))  # type: ignore[arg-type]  # sqlglot's Expr
        elif isinstance(alias, exp.TableAlias) and alias.name:
            query = node.this if isinstance(node, exp.CTE | exp.Subquery) else node
            found.setdefault(alias.name.lower(), (query, _alias_names(alias)))  # type: ignore[arg-type]  # sqlglot's Expr
    return found


class Typer:
    """Types of expressions in one statement, given its scope and the parameter types."""

    def __init__(self, scope: _Scope, params: Sequence[int], tree: exp.Expression | None = None
                 ) -> None:
        self.scope = scope
        self.params = params
        self._sources = _derived_sources(tree) if tree is not None else {}
        self._source_columns: dict[str, list[Column] | None] = {}

    def column(self, node: exp.Expression) -> Column | None:
        """Declared-type information when `node` is a plain column (or a cast of one)."""
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            found = self.scope.column(node)
            return found if found is not None else self._derived_column(node)
        if isinstance(node, exp.Cast) and isinstance(node.to, exp.DataType):
            return Column("", oid_of_datatype(node.to), _datatype_typmod(node.to))
        return None

    def source_columns(self, alias: str) -> list[Column] | None:
        """The columns of a CTE, subquery, VALUES list or set-returning function in FROM,
        named `alias`; None when there is none or its columns cannot be typed."""
        if alias in self._source_columns:
            return self._source_columns[alias]  # (None while being computed: WITH RECURSIVE)
        source = self._sources.get(alias)
        if source is None:
            return None
        self._source_columns[alias] = None
        node, names = source
        cols = self.query_columns(node, lenient=True) if not isinstance(node, exp.Func) else (
            self._function_columns(node, alias))
        if cols is not None and names:
            if len(names) > len(cols):
                cols = None
            else:
                cols = [Column(n, c.oid, c.typmod) for n, c in zip(names, cols, strict=False)] + (
                    cols[len(names):])
        self._source_columns[alias] = cols
        return cols

    def _derived_column(self, node: exp.Column) -> Column | None:
        name = node.name.lower() if not node.this.args.get("quoted") else node.name
        qualifier = node.table.lower() if node.table else ""
        aliases = [qualifier] if qualifier else list(self._sources)
        for alias in aliases:
            for col in self.source_columns(alias) or ():
                if col.name == name:
                    return col if col.oid is not None else None
        return None

    def _function_columns(self, func: exp.Func, alias: str) -> list[Column] | None:
        """generate_series(start, stop[, step]) in FROM: one column of start's type
        (int4, int8, numeric, timestamp, timestamptz), named after the alias."""
        if not isinstance(func, exp.ExplodingGenerateSeries | exp.GenerateSeries):
            return None
        args = [func.args.get("start"), func.args.get("end")]
        oids = [self.oid(a) for a in args if a is not None]
        if oids and all(oid in _NUMERIC_RANK and oid not in (o.FLOAT4, o.FLOAT8)
                        for oid in oids):
            oid: int | None = max(oids, key=lambda x: _NUMERIC_RANK[x] if x else 0)
        elif oids and oids[0] in (o.TIMESTAMP, o.TIMESTAMPTZ):
            oid = oids[0]
        else:
            return None
        return [Column(alias, oid)]

    def query_columns(self, node: exp.Expression, lenient: bool = False) -> list[Column] | None:
        """Names and types of a query's result columns (a SELECT, set operation or VALUES);
        None when a star or a shape not handled here hides them."""
        peers = self._query_peers(node, lenient)
        if peers is None:
            return None
        return [Column(c.name, _common_type(p, lenient) if len(p) > 1 or p[0][1] else c.oid,
                       c.typmod if all(x.oid == c.oid for x, _ in p) else -1)
                for p in peers for c in [p[0][0]]]

    def _query_peers(self, node: exp.Expression, lenient: bool
                     ) -> list[list[tuple[Column, bool]]] | None:
        """For each result column, (column, is unknown literal) from every branch/row."""
        if isinstance(node, exp.Subquery):
            return self._query_peers(node.this, lenient)
        if isinstance(node, exp.SetOperation):
            left = self._query_peers(node.this, lenient)
            right = self._query_peers(node.expression, lenient)
            if left is None or right is None or len(left) != len(right):
                return None
            return [a + b for a, b in zip(left, right, strict=True)]
        if isinstance(node, exp.Values):
            rows = [r.expressions if isinstance(r, exp.Tuple) else [r] for r in node.expressions]
            if not rows or any(len(r) != len(rows[0]) for r in rows):
                return None
            return [[(Column(f"column{i + 1}", self.oid(r[i])), _is_unknown_literal(r[i]))
                     for r in rows] for i in range(len(rows[0]))]
        if isinstance(node, exp.Select):
            out = []
            for proj in node.selects:
                if isinstance(proj, exp.Star) or (isinstance(proj, exp.Column)
                                                  and isinstance(proj.this, exp.Star)):
                    return None
                inner = proj.this if isinstance(proj, exp.Alias) else proj
                col = self.column(inner)  # type: ignore[arg-type]  # sqlglot's Expr
                oid = self.oid(inner)  # type: ignore[arg-type]  # sqlglot's Expr
                typmod = col.typmod if col is not None and col.oid == oid else -1
                out.append([(Column(column_name(proj), oid, typmod),  # type: ignore[arg-type]  # sqlglot's Expr
                             _is_unknown_literal(proj))])  # type: ignore[arg-type]  # sqlglot's Expr
            return out
        return None

    def _math_oid(self, node: exp.Expression) -> int | None:
        """floor, ceil, trunc, round, sqrt, exp, ln, log, power/^ and sign: float8 or
        numeric by their arguments (round(x, n), trunc(x, n) and log(b, x): numeric only)."""
        extra = node.args.get("decimals") if isinstance(node, exp.Round | exp.Trunc) else (
            node.args.get("expression") if isinstance(node, exp.Log) else None)
        if extra is not None:
            return o.NUMERIC
        args = [node.this] + ([node.expression] if isinstance(node, exp.Pow) else [])
        found = _float_or_numeric([self.oid(a) for a in args])
        if found is None and isinstance(node, exp.Round):
            return o.NUMERIC  # unknown argument: a number all the same
        return found

    def _window_oid(self, func: exp.Expression) -> int | None:
        if isinstance(func, exp.Filter):
            return self.oid(func.this)
        name = _func_name(func)
        if name in _WINDOW_OIDS:
            return _WINDOW_OIDS[name]
        if name in _WINDOW_VALUE_FUNCS:
            return self.oid(func.this)  # lag(x): x's own type, varchar included
        return self.oid(func)  # an aggregate over a window

    def scale(self, node: exp.Expression | None) -> int | None:  # noqa: PLR0911, PLR0912
        """The display scale PostgreSQL's numeric arithmetic gives (numeric.c: + and - keep
        the larger scale, * adds them); None when it depends on the values."""
        if node is None:
            return None
        if isinstance(node, exp.Paren | exp.Alias | exp.Neg | exp.Sum | exp.Max | exp.Min
                      | exp.Abs | exp.Window | exp.Filter):
            return self.scale(node.this)
        if isinstance(node, exp.Floor | exp.Ceil | exp.Sign) or (
                isinstance(node, exp.Trunc) and node.args.get("decimals") is None):
            return 0
        if isinstance(node, exp.Trunc):
            digits = node.args["decimals"]
            return int(str(digits.this)) if isinstance(digits, exp.Literal) else None
        if isinstance(node, exp.Extract):
            field = str(node.this.name if isinstance(node.this, exp.Expression) else
                        node.this).upper()
            if field == "EPOCH" and self.oid(node.expression) == o.DATE:
                return 0
            return _EXTRACT_SCALES.get(field, 0)
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
        if isinstance(node, exp.Paren | exp.Alias | exp.Neg | exp.Filter):
            return self.oid(node.this)
        if isinstance(node, exp.Window):
            return self._window_oid(node.this)
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            return self.oid(node.expression)  # type: ignore[arg-type]  # pg_catalog.f(...); sqlglot's Expr
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
        if isinstance(node, _FLOAT_OR_NUMERIC):
            return self._math_oid(node)
        if isinstance(node, exp.LogicalAnd | exp.LogicalOr):
            return o.BOOL
        if isinstance(node, exp.Extract):  # numeric since PostgreSQL 14; date_part float8
            return o.FLOAT8 if node.meta.get("pg_name") == "date_part" else o.NUMERIC
        if isinstance(node, exp.TimestampTrunc):
            arg = self.oid(node.this)
            return o.TIMESTAMPTZ if arg == o.DATE else (
                arg if arg in (o.TIMESTAMP, o.TIMESTAMPTZ, o.INTERVAL) else None)
        if isinstance(node, exp.Localtimestamp):
            return o.TIMESTAMP
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
            cols = self.query_columns(node.this)
            return cols[0].oid if cols else None
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
        if name in ("random", "pi"):
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


def _figure(node: exp.Expression) -> str | None:  # noqa: PLR0911, PLR0912
    if isinstance(node, exp.Window | exp.Filter | exp.WithinGroup):
        return _figure(node.this)  # f(...) OVER (...), f(...) FILTER (...): f's name
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        return _figure(node.expression)  # type: ignore[arg-type]  # pg_catalog.f(...): f
    if isinstance(node, exp.Func | exp.Binary) and node.meta.get("pg_name") and not isinstance(
            node, exp.CurrentTimestamp):
        return str(node.meta["pg_name"])
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
        if isinstance(inner, exp.Values):
            return "column1"
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
    if isinstance(parent, exp.Not | exp.And | exp.Or | exp.Where | exp.Having):
        return o.BOOL  # a condition (coerce_to_boolean)
    if isinstance(parent, exp.If) and child is parent.this:
        case = parent.parent  # CASE WHEN $n: a condition; CASE x WHEN $n: compared with x
        operand = case.this if isinstance(case, exp.Case) else None
        if operand is None:
            return o.BOOL
        found = _non_param_oid(operand, typer)
        return found if found is not None else o.TEXT
    if isinstance(parent, exp.Tuple) and isinstance(parent.parent, _ROW_COMPARISONS):
        # (a, b) = ($1, $2): each parameter takes the type of its partner (make_row_comparison_op)
        other = parent.parent.expression if parent is parent.parent.this else parent.parent.this
        if isinstance(other, exp.Tuple) and len(other.expressions) == len(parent.expressions):
            found = _non_param_oid(other.expressions[parent.expressions.index(child)], typer)
            return found if found is not None else o.TEXT
        return o.TEXT
    if isinstance(parent, (*_FLOAT_OR_NUMERIC, exp.Abs)):
        return _math_param(parent, child, typer)
    select, item = (parent.parent, parent) if isinstance(parent, exp.Alias) else (parent, child)
    if isinstance(select, exp.Select) and isinstance(select.parent, exp.Insert) and (
            select is select.parent.expression and item in select.expressions):
        # INSERT INTO t (a, b) SELECT $1, $2: the target columns' types, as VALUES
        return _insert_target(select.parent, select.expressions.index(item), typer)
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


_ROW_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
                    exp.NullSafeNEQ)


def _math_param(parent: exp.Expression, child: exp.Expression, typer: Typer) -> int:
    """A parameter given to abs, floor, round, sqrt, power/^ ...: float8, the preferred type
    among their candidates; numeric where only numeric has the function (round(x, n))."""
    if child is not parent.this:  # round(x, $n), trunc(x, $n) digits; log($b, x), x ^ $n
        if isinstance(parent, exp.Round | exp.Trunc):
            return o.INT4
        if not isinstance(parent, exp.Pow):
            return o.NUMERIC
    if isinstance(parent, exp.Round | exp.Trunc) and parent.args.get("decimals") is not None:
        return o.NUMERIC
    if isinstance(parent, exp.Log) and parent.args.get("expression") is not None:
        return o.NUMERIC
    if isinstance(parent, exp.Pow):
        other = parent.expression if child is parent.this else parent.this
        return o.NUMERIC if _non_param_oid(other, typer) == o.NUMERIC else o.FLOAT8
    return o.FLOAT8


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
    typer = Typer(_Scope(tree, schema), [g or o.TEXT for g in given], tree)
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


def _is_star(node: exp.Expression) -> bool:
    return isinstance(node, exp.Star) or (isinstance(node, exp.Column)
                                          and isinstance(node.this, exp.Star))


def _star_widths(projections: Sequence[exp.Expression], total: int, typer: Typer
                 ) -> list[int | None] | None:
    """How many result columns each projection gives (None: one, not a star); None when
    the stars cannot be told apart. `q.*` counts q's columns; one bare `*` takes the rest."""
    widths: list[int | None] = []
    rest = None
    for node in projections:
        if not _is_star(node):
            widths.append(None)
            continue
        qualifier = node.table.lower() if isinstance(node, exp.Column) and node.table else ""
        cols = typer.source_columns(qualifier) if qualifier else None
        table = typer.scope.aliases.get(qualifier) if qualifier else None
        if cols is None and table is not None:
            cols = list(typer.scope.table_columns(table).values())  # type: ignore[arg-type]
        if cols:
            widths.append(len(cols))
        elif rest is None:
            rest = len(widths)
            widths.append(0)
        else:
            return None
    used = sum(w if w is not None else 1 for w in widths)
    if rest is not None:
        widths[rest] = total - used
        used = total
    ok = used == total and all(w is None or w >= 0 for w in widths)
    return widths if ok else None


def _star_column(node: exp.Expression, base: Column, typer: Typer) -> Column:
    """A column a star gives: SQLite's declared type, else the type of the CTE, subquery,
    VALUES or function column of that name."""
    if base.oid is not None:
        return base
    ref = exp.column(base.name, table=node.table if isinstance(node, exp.Column) else None)
    found = typer.column(ref)
    return Column(base.name, found.oid, found.typmod) if found is not None else base


def _projection_column(node: exp.Expression, base: Column, typer: Typer) -> Column:
    inner = node.this if isinstance(node, exp.Alias) else node
    col = typer.column(inner)
    oid = typer.oid(inner)
    typmod = col.typmod if col is not None and col.oid == oid else -1
    if isinstance(inner, exp.Column) and base.oid is not None:
        oid, typmod = base.oid, base.typmod
    if oid is None:
        oid, typmod = base.oid, base.typmod
    dscale = typer.scale(inner) if oid == o.NUMERIC and typmod < 4 else None
    return Column(column_name(node), oid, typmod, dscale)


def describe_columns(tree: exp.Expression | None, sqlite_desc: Sequence[tuple[str, str | None]],
                     params: Sequence[int], schema: SchemaLookup) -> tuple[Column, ...]:
    """RowDescription columns from the AST and SQLite's (name, declared type) list."""
    fallback = tuple(declared_column(name, decl) for name, decl in sqlite_desc)
    if tree is None:
        return fallback
    typer = Typer(_Scope(tree, schema), list(params), tree)
    if isinstance(tree, exp.Values):  # VALUES (...), ...: column1, column2, ...
        found = typer.query_columns(tree)
        if found is None or len(found) != len(fallback):
            return fallback
        return tuple(c if c.oid is not None else b for c, b in zip(found, fallback, strict=True))
    projections = _projections(tree)
    if projections is None:
        return fallback
    widths = _star_widths(projections, len(fallback), typer)
    if widths is None:
        return fallback
    out: list[Column] = []
    for node, width in zip(projections, widths, strict=True):
        if width is None:
            out.append(_projection_column(node, fallback[len(out)], typer))
        else:
            out.extend(_star_column(node, b, typer) for b in fallback[len(out):len(out) + width])
    if isinstance(tree, exp.SetOperation) and all(w is None for w in widths):
        # UNION etc.: one type for each column over all branches (select_common_type)
        common = typer.query_columns(tree)
        if common is not None and len(common) == len(out):
            out = [c if u.oid is None or u.oid == c.oid else Column(c.name, u.oid)
                   for c, u in zip(out, common, strict=True)]
    return tuple(out)
