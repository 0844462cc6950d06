"""The user schema as PostgreSQL describes it, recovered from SQLite's `sqlite_master`.

Why from sqlite_master: it is the one schema record every node holds identically (it is part of
the replicated SQLite file), so the catalog needs no replicated metadata of its own. The
translator keeps PostgreSQL's type names in the SQLite DDL (raftsql/sql/rewrite/ddl.py), so the
declared types, defaults and constraints can be read back; what SQLite does not record,
PostgreSQL's naming rules supply: `t_pkey`, `t_col_key`, `t_col_fkey`, `t_col_check`,
`t_col_seq` (PostgreSQL src/backend/commands/indexcmds.c ChooseRelationName,
tablecmds.c ChooseForeignKeyConstraintNameAddition).

Object OIDs are derived from kind and name (crc32), so they are stable across queries: psql
looks a table up by name and then sends its OID back in eleven more queries.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from raftsql.sql import pgtypes

FIRST_USER_OID = 16384
PUBLIC_NSP = 2200

_UNFIXED = re.compile(r"^\(?\s*PG_UNFIXED_DEFAULT\('((?:[^']|'')*)'\)\s*\)?$", re.I)
_PG_DEFAULT_NAMES = {"CURRENT_TIMESTAMP": "CURRENT_TIMESTAMP", "CURRENT_DATE": "CURRENT_DATE",
                     "CURRENT_TIME": "CURRENT_TIME", "LOCALTIMESTAMP": "LOCALTIMESTAMP"}


@dataclass
class Column:
    name: str
    attnum: int
    type_name: str  # format_type() without modifiers, e.g. 'character varying'
    type_oid: int
    typmod: int
    notnull: bool
    default: str | None  # pg_get_expr(adbin) text, e.g. "'none'::character varying"
    serial_seq: str | None = None  # sequence name when the column is a SERIAL


@dataclass
class Constraint:
    oid: int
    name: str
    contype: str  # p u f c
    table: str
    columns: list[str]
    ref_table: str | None = None
    ref_columns: list[str] = field(default_factory=list)
    on_delete: str = ""
    on_update: str = ""
    check: str = ""
    index: str | None = None  # name of the index backing p/u

    def definition(self) -> str:
        """pg_get_constraintdef() text (ruleutils.c pg_get_constraintdef_worker)."""
        cols = ", ".join(quote_ident(c) for c in self.columns)
        if self.contype == "p":
            return f"PRIMARY KEY ({cols})"
        if self.contype == "u":
            return f"UNIQUE ({cols})"
        if self.contype == "c":
            return f"CHECK ({self.check})"
        refs = ", ".join(quote_ident(c) for c in self.ref_columns)
        text = f"FOREIGN KEY ({cols}) REFERENCES {quote_ident(self.ref_table or '')}({refs})"
        if self.on_update:
            text += f" ON UPDATE {self.on_update}"
        if self.on_delete:
            text += f" ON DELETE {self.on_delete}"
        return text


@dataclass
class Index:
    oid: int
    name: str
    table: str
    columns: list[str]  # '' for an expression
    exprs: list[str]
    desc: list[bool]
    unique: bool
    primary: bool
    constraint: Constraint | None = None

    def definition(self, column: int = 0) -> str:
        """pg_get_indexdef(oid, column, pretty) text; the table is not schema-qualified because
        public is on the search path (ruleutils.c generate_relation_name)."""
        keys = [quote_ident(c) if c else f"({e})" for c, e in zip(self.columns, self.exprs, strict=True)]
        keys = [k + (" DESC" if d else "") for k, d in zip(keys, self.desc, strict=True)]
        if column:
            return keys[column - 1].removesuffix(" DESC") if column <= len(keys) else ""
        unique = "UNIQUE " if self.unique else ""
        return (f"CREATE {unique}INDEX {quote_ident(self.name)} ON {quote_ident(self.table)}"
                f" USING btree ({', '.join(keys)})")


@dataclass
class Relation:
    oid: int
    name: str
    kind: str  # r v i S
    columns: list[Column] = field(default_factory=list)
    view_sql: str = ""
    owned_by: tuple[str, str] | None = None  # sequence: (table, column)


@dataclass
class Schema:
    """Every user relation, index and constraint, keyed by name."""

    relations: dict[str, Relation] = field(default_factory=dict)
    indexes: list[Index] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)

    def by_oid(self) -> dict[int, Relation]:
        return {r.oid: r for r in self.relations.values()}


_IDENT_OK = re.compile(r"^[a-z_][a-z0-9_$]*$")
_RESERVED = {"all", "analyse", "analyze", "and", "any", "array", "as", "asc", "both", "case", "cast",
             "check", "collate", "column", "constraint", "create", "default", "desc", "distinct",
             "do", "else", "end", "except", "false", "for", "foreign", "from", "grant", "group",
             "having", "in", "into", "leading", "limit", "not", "null", "offset", "on", "only",
             "or", "order", "primary", "references", "select", "table", "then", "to", "true",
             "union", "unique", "user", "using", "when", "where", "window", "with"}


def quote_ident(name: str) -> str:
    """PostgreSQL's quote_ident: quote unless a lower-case, non-reserved identifier."""
    if _IDENT_OK.match(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def stable_oid(kind: str, name: str, taken: set[int]) -> int:
    """A user OID (>= 16384) from the object's kind and name; probes past collisions."""
    oid = FIRST_USER_OID + zlib.crc32(f"{kind}:{name}".encode()) % 1_000_000_000
    while oid in taken:
        oid += 1
    taken.add(oid)
    return oid


def _typmod(type_oid: int, params: list[int]) -> int:
    if not params:
        return -1
    if type_oid in (1042, 1043):
        return params[0] + 4
    if type_oid == 1700:
        scale = params[1] if len(params) > 1 else 0
        return ((params[0] << 16) | scale) + 4
    return -1


def _pg_literal_default(node: exp.Expression, col_type: str, type_oid: int) -> str:
    """A default as pg_get_expr prints it: strings carry a cast to the column type."""
    text = node.sql("sqlite")
    unfixed = _UNFIXED.match(text)
    if unfixed:
        inner = unfixed.group(1).replace("''", "'")
        return _PG_DEFAULT_NAMES.get(inner.upper(), inner)
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    if isinstance(node, exp.Literal) and node.is_string:
        cast = "bpchar" if type_oid == 1042 else col_type
        return "'" + str(node.this).replace("'", "''") + "'::" + cast
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return f"'-{node.this.this}'::{col_type}"
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Null):
        return "NULL"
    return node.sql("postgres")


def _names(items: list[exp.Expression]) -> list[str]:
    out = []
    for item in items:
        if isinstance(item, exp.Ordered):
            item = item.this
        out.append(item.name)
    return out


def _fk_actions(options: list[str]) -> tuple[str, str]:
    on_delete = on_update = ""
    for opt in options:
        m = re.match(r"ON\s+(DELETE|UPDATE)\s+(.*)", str(opt), re.I)
        if m:
            action = " ".join(m.group(2).upper().split())
            if action == "NO ACTION":
                continue
            if m.group(1).upper() == "DELETE":
                on_delete = action
            else:
                on_update = action
    return on_delete, on_update


def _check_text(node: exp.Expression) -> str:
    return node.sql("postgres")


def _first_column(node: exp.Expression) -> str | None:
    col = node.find(exp.Column)
    return col.name if col is not None else None


class _TableBuilder:
    def __init__(self, schema: Schema, taken: set[int]) -> None:
        self.schema = schema
        self.taken = taken

    def constraint(self, **kw: object) -> Constraint:
        name = str(kw["name"])
        con = Constraint(oid=stable_oid("constraint", f"{kw['table']}.{name}", self.taken), **kw)  # type: ignore[arg-type]
        self.schema.constraints.append(con)
        return con

    def table(self, name: str, tree: exp.Create) -> None:
        rel = Relation(stable_oid("rel", name, self.taken), name, "r")
        self.schema.relations[name] = rel
        body = tree.this
        if not isinstance(body, exp.Schema):
            return
        pk: tuple[str | None, list[str]] | None = None
        uniques: list[tuple[str | None, list[str]]] = []
        fks: list[tuple[str | None, list[str], exp.Reference]] = []
        checks: list[tuple[str | None, exp.Expression]] = []
        attnum = 0
        for item in body.expressions:
            if isinstance(item, exp.ColumnDef):
                attnum += 1
                rel.columns.append(self._column(rel, item, attnum))
                for c in item.args.get("constraints") or []:
                    kind = c.kind
                    if isinstance(kind, exp.PrimaryKeyColumnConstraint):
                        pk = (None, [item.name])
                    elif isinstance(kind, exp.UniqueColumnConstraint):
                        uniques.append((None, [item.name]))
                    elif isinstance(kind, exp.Reference):
                        fks.append((None, [item.name], kind))
                    elif isinstance(kind, exp.CheckColumnConstraint):
                        checks.append((None, kind.this))
                continue
            cname = item.name if isinstance(item, exp.Constraint) else None
            inner = item.expressions if isinstance(item, exp.Constraint) else [item]
            for node in inner:
                if isinstance(node, exp.PrimaryKey):
                    pk = (cname, _names(node.expressions))
                elif isinstance(node, exp.UniqueColumnConstraint):
                    cols = node.this.expressions if isinstance(node.this, exp.Schema) else []
                    uniques.append((cname, _names(cols)))
                elif isinstance(node, exp.ForeignKey):
                    fks.append((cname, _names(node.expressions), node.args["reference"]))
                elif isinstance(node, exp.CheckColumnConstraint):
                    checks.append((cname, node.this))
        self._constraints(rel, pk, uniques, fks, checks)

    def _column(self, rel: Relation, col: exp.ColumnDef, attnum: int) -> Column:
        kind = col.args.get("kind")
        declared = kind.sql("postgres") if kind is not None else ""
        found = pgtypes.lookup(declared) if declared else None
        type_oid = found.oid if found else 25
        type_name = found.name if found else "text"
        params = [int(p.this.this) for p in (kind.expressions if kind is not None else [])
                  if isinstance(p, exp.DataTypeParam) and isinstance(p.this, exp.Literal)]
        constraints = col.args.get("constraints") or []
        kinds = [c.kind for c in constraints]
        notnull = any(isinstance(k, exp.NotNullColumnConstraint | exp.PrimaryKeyColumnConstraint)
                      for k in kinds)
        default = None
        serial = None
        if any(isinstance(k, exp.AutoIncrementColumnConstraint) for k in kinds):
            serial = f"{rel.name}_{col.name}_seq"
            default = f"nextval('{quote_ident(serial)}'::regclass)"
        for k in kinds:
            if isinstance(k, exp.DefaultColumnConstraint):
                default = _pg_literal_default(k.this, type_name, type_oid)
        if serial is not None:
            seq = Relation(stable_oid("rel", serial, self.taken), serial, "S",
                           owned_by=(rel.name, col.name))
            self.schema.relations[serial] = seq
        return Column(col.name, attnum, type_name, type_oid, _typmod(type_oid, params), notnull,
                      default, serial)

    def _constraints(self, rel: Relation, pk: tuple[str | None, list[str]] | None,
                     uniques: list[tuple[str | None, list[str]]],
                     fks: list[tuple[str | None, list[str], exp.Reference]],
                     checks: list[tuple[str | None, exp.Expression]]) -> None:
        t = rel.name
        if pk is not None:
            name = pk[0] or f"{t}_pkey"
            con = self.constraint(name=name, contype="p", table=t, columns=pk[1], index=name)
            self._index(name, t, pk[1], unique=True, primary=True, constraint=con)
            for c in rel.columns:
                if c.name in pk[1]:
                    c.notnull = True
        for cname, cols in uniques:
            name = cname or f"{t}_{'_'.join(cols)}_key"
            con = self.constraint(name=name, contype="u", table=t, columns=cols, index=name)
            self._index(name, t, cols, unique=True, primary=False, constraint=con)
        for cname, cols, ref in fks:
            target = ref.this
            ref_table = target.this.name if isinstance(target, exp.Schema) else target.name
            ref_cols = _names(target.expressions) if isinstance(target, exp.Schema) else []
            on_delete, on_update = _fk_actions(ref.args.get("options") or [])
            self.constraint(name=cname or f"{t}_{'_'.join(cols)}_fkey", contype="f", table=t,
                            columns=cols, ref_table=ref_table, ref_columns=ref_cols,
                            on_delete=on_delete, on_update=on_update)
        for cname, expr in checks:
            first = _first_column(expr)
            name = cname or (f"{t}_{first}_check" if first else f"{t}_check")
            self.constraint(name=name, contype="c", table=t,
                            columns=[first] if first else [], check=_check_text(expr))

    def _index(self, name: str, table: str, cols: list[str], *, unique: bool, primary: bool,
               constraint: Constraint | None = None, exprs: list[str] | None = None,
               desc: list[bool] | None = None) -> None:
        idx = Index(stable_oid("rel", name, self.taken), name, table, cols,
                    exprs or [""] * len(cols), desc or [False] * len(cols), unique, primary,
                    constraint)
        self.schema.indexes.append(idx)
        self.schema.relations[name] = Relation(idx.oid, name, "i")

    def index(self, tree: exp.Create) -> None:
        index = tree.this
        if not isinstance(index, exp.Index):
            return
        table = index.args["table"].name
        params = index.args.get("params")
        keys = params.args.get("columns") or [] if params is not None else []
        cols, exprs, desc = [], [], []
        for key in keys:
            node = key.this if isinstance(key, exp.Ordered) else key
            desc.append(bool(isinstance(key, exp.Ordered) and key.args.get("desc")))
            if isinstance(node, exp.Column):
                cols.append(node.name)
                exprs.append("")
            else:
                cols.append("")
                exprs.append(node.sql("postgres"))
        self._index(index.name, table, cols, unique=bool(tree.args.get("unique")), primary=False,
                    exprs=exprs, desc=desc)


def _view_columns(query: exp.Query, schema: Schema) -> list[Column]:
    """A view's columns; a plain column reference keeps its table column's type (as
    PostgreSQL's view column types come from the query), anything else is text."""
    sources: dict[str, Relation] = {}
    for table in query.find_all(exp.Table):
        rel = schema.relations.get(table.name)
        if rel is not None:
            sources[table.alias_or_name] = rel
    out = []
    for i, sel in enumerate(query.selects, start=1):
        inner = sel.this if isinstance(sel, exp.Alias) else sel
        found = None
        if isinstance(inner, exp.Column):
            candidates = [sources[inner.table]] if inner.table in sources else list(sources.values())
            for rel in candidates:
                found = next((c for c in rel.columns if c.name == inner.name), None)
                if found is not None:
                    break
        if found is not None:
            out.append(Column(sel.alias_or_name, i, found.type_name, found.type_oid, found.typmod,
                              False, None))
        else:
            out.append(Column(sel.alias_or_name, i, "text", 25, -1, False, None))
    return out


def is_internal(name: str) -> bool:
    return name.startswith(("sqlite_", "_raftsql_"))


def build_schema(master: list[tuple[str, str, str, str | None]]) -> Schema:
    """Schema from `SELECT type, name, tbl_name, sql FROM sqlite_master` rows.

    Statements sqlglot cannot read are skipped (a catalog answer missing one object beats no
    answer); internal tables (sqlite_*, _raftsql_*) are never shown."""
    schema = Schema()
    taken: set[int] = set()
    builder = _TableBuilder(schema, taken)
    ordered = sorted(master, key=lambda r: ({"table": 0, "view": 1, "index": 2}.get(r[0], 3), r[1]))
    for kind, name, _tbl, sql in ordered:
        if is_internal(name) or sql is None:
            continue
        try:
            tree = sqlglot.parse_one(sql, read="sqlite")
        except (ParseError, TokenError):
            continue
        if kind == "table" and isinstance(tree, exp.Create):
            builder.table(name, tree)
        elif kind == "view" and isinstance(tree, exp.Create):
            rel = Relation(stable_oid("rel", name, taken), name, "v")
            query = tree.expression
            rel.view_sql = query.sql("postgres") if query is not None else ""
            if isinstance(query, exp.Query):
                rel.columns = _view_columns(query, schema)
            schema.relations[name] = rel
        elif kind == "index" and isinstance(tree, exp.Create):
            builder.index(tree)
    return schema
