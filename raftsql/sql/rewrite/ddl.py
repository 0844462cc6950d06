"""CREATE TABLE / ALTER TABLE rewrites: SERIAL and IDENTITY keys, nondeterministic defaults,
and the column facts the frontend needs (declared PostgreSQL type, OID).

Why separate: DDL is where PostgreSQL and SQLite differ structurally (sequences vs rowid,
DEFAULT now() evaluated at insert time on each node) rather than expression by expression.
"""

from __future__ import annotations

import re

from sqlglot import exp

from raftsql.sql import pgtypes, sqlstate
from raftsql.sql.classify import ColumnInfo
from raftsql.sql.errors import SqlError, unsupported
from raftsql.sql.rewrite.dialect import ddl_type_name

T = exp.DataType.Type
SERIALS = {T.SERIAL: "integer", T.BIGSERIAL: "bigint", T.SMALLSERIAL: "smallint"}
NONDETERMINISTIC_NODES = (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime,
                          exp.Localtimestamp, exp.Rand, exp.Uuid)
NONDETERMINISTIC_NAMES = {"clock_timestamp", "statement_timestamp", "transaction_timestamp",
                          "random", "gen_random_uuid", "now"}


def is_nondeterministic(node: exp.Expression) -> bool:
    for sub in node.walk():
        if isinstance(sub, NONDETERMINISTIC_NODES):
            return True
        if isinstance(sub, exp.Anonymous) and sub.name.lower() in NONDETERMINISTIC_NAMES:
            return True
    return False


def _constraint(col: exp.ColumnDef, kind: type[exp.Expression]) -> exp.ColumnConstraint | None:
    for c in col.args.get("constraints") or []:
        if isinstance(c, exp.ColumnConstraint) and isinstance(c.kind, kind):
            return c
    return None


def _pg_type_name(dtype: exp.DataType) -> str:
    return dtype.sql("postgres").lower()


_INTERVAL_MARKER = re.compile(r"__pg_interval\(('(?:[^']|'')*')\)", re.I)


def _pg_text(node: exp.Expression) -> str:
    """PostgreSQL text of an expression, with the scanner's interval marker undone."""
    return _INTERVAL_MARKER.sub(r"INTERVAL \1", node.sql("postgres"))


def _column_info(col: exp.ColumnDef, pg_type: str, default: exp.Expression | None,
                 nondeterministic: bool) -> ColumnInfo:
    sqlite_type = ddl_type_name(col.args["kind"]) if col.args.get("kind") else ""
    found = pgtypes.lookup(pg_type) or pgtypes.lookup(sqlite_type)
    if found is not None:
        modifiers = sqlite_type[sqlite_type.find("("):] if "(" in sqlite_type else ""
        pg_type = found.name + modifiers
    return ColumnInfo(
        name=col.name, pg_type=pg_type, oid=found.oid if found else 25, sqlite_type=sqlite_type,
        default=_pg_text(default) if default is not None else None,
        nondeterministic_default=nondeterministic,
    )


def _table_pk(schema: exp.Schema) -> list[str]:
    for item in schema.expressions:
        if isinstance(item, exp.PrimaryKey):
            return [e.name for e in item.expressions]
        if isinstance(item, exp.Constraint):
            for sub in item.expressions:
                if isinstance(sub, exp.PrimaryKey):
                    return [e.name for e in sub.expressions]
    return []


def _drop_table_pk(schema: exp.Schema) -> None:
    keep = []
    for item in schema.expressions:
        if isinstance(item, exp.PrimaryKey):
            continue
        if isinstance(item, exp.Constraint) and any(isinstance(s, exp.PrimaryKey)
                                                     for s in item.expressions):
            continue
        keep.append(item)
    schema.set("expressions", keep)


def _make_rowid_key(col: exp.ColumnDef, schema: exp.Schema, pg_type: str) -> None:
    """SERIAL / IDENTITY -> INTEGER PRIMARY KEY AUTOINCREMENT (SQLite's rowid alias).

    AUTOINCREMENT because a PostgreSQL sequence never hands out a value twice, even after
    the row holding the highest value is deleted."""
    table_pk = _table_pk(schema)
    inline_pk = _constraint(col, exp.PrimaryKeyColumnConstraint) is not None
    others_pk = [c for c in schema.expressions if isinstance(c, exp.ColumnDef) and c is not col
                 and _constraint(c, exp.PrimaryKeyColumnConstraint) is not None]
    if others_pk or (table_pk and table_pk != [col.name]):
        raise unsupported(f"SERIAL/IDENTITY column {col.name!r} that is not the whole primary key")
    if table_pk:
        _drop_table_pk(schema)
    keep = [c for c in col.args.get("constraints") or []
            if not isinstance(c.kind, exp.PrimaryKeyColumnConstraint | exp.NotNullColumnConstraint
                              | exp.GeneratedAsIdentityColumnConstraint | exp.UniqueColumnConstraint
                              | exp.AutoIncrementColumnConstraint)]
    del inline_pk
    keep.append(exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint()))
    keep.append(exp.ColumnConstraint(kind=exp.AutoIncrementColumnConstraint()))
    col.set("kind", exp.DataType.build("INT"))
    col.set("constraints", keep)


def rewrite_column(col: exp.ColumnDef, schema: exp.Schema | None) -> ColumnInfo:
    """Rewrite one column definition in place; return what the frontend needs to know."""
    dtype: exp.DataType | None = col.args.get("kind")
    if dtype is None:
        raise unsupported(f"column {col.name!r} without a type")
    pg_type = _pg_type_name(dtype)
    identity = _constraint(col, exp.GeneratedAsIdentityColumnConstraint)
    if dtype.this in SERIALS or identity is not None:
        if schema is None:
            raise unsupported("ADD COLUMN of a SERIAL or IDENTITY column")
        if identity is not None and identity.kind.args.get("this") is None and \
                identity.kind.args.get("expression") is not None:
            raise unsupported("GENERATED ALWAYS AS (expression) STORED columns")
        if dtype.this in SERIALS:
            pg_type = SERIALS[dtype.this]
        _make_rowid_key(col, schema, pg_type)
        return _column_info(col, pg_type, None, False)
    for c in col.args.get("constraints") or []:
        if isinstance(c.kind, exp.ComputedColumnConstraint | exp.GeneratedAsRowColumnConstraint):
            raise unsupported("generated columns")
    if dtype.this == exp.DataType.Type.INTERVAL and \
            _constraint(col, exp.CollateColumnConstraint) is None:
        # intervals are stored as PostgreSQL's output text; the collation orders them by
        # span as PostgreSQL does (raftsql/sql/intervals.py)
        col.append("constraints", exp.ColumnConstraint(kind=exp.CollateColumnConstraint(
            this=exp.Var(this="pg_interval"))))
    default_c = _constraint(col, exp.DefaultColumnConstraint)
    default = default_c.kind.this if default_c is not None else None
    nondeterministic = default is not None and is_nondeterministic(default)
    if nondeterministic:
        if schema is None:
            raise unsupported("ADD COLUMN with a nondeterministic DEFAULT")
        assert default_c is not None
        assert default is not None
        marker = exp.Anonymous(this="pg_unfixed_default",
                               expressions=[exp.Literal.string(_pg_text(default))])
        default_c.set("kind", exp.DefaultColumnConstraint(this=exp.Paren(this=marker)))
    elif default is not None and not isinstance(default, exp.Literal | exp.Boolean | exp.Null
                                                 | exp.Neg | exp.Paren):
        default_c.set("kind", exp.DefaultColumnConstraint(  # type: ignore[union-attr]
            this=exp.Paren(this=default)))
    return _column_info(col, pg_type, default, nondeterministic)


def rewrite_create_table(create: exp.Create) -> tuple[ColumnInfo, ...]:
    schema = create.this
    if not isinstance(schema, exp.Schema):
        return ()  # CREATE TABLE ... AS SELECT
    if create.args.get("properties") is not None:
        props = create.args["properties"]
        for prop in props.expressions:
            if not isinstance(prop, exp.TemporaryProperty):
                raise unsupported(f"table option {prop.sql('postgres')}")
    infos = [rewrite_column(col, schema) for col in list(schema.expressions)
             if isinstance(col, exp.ColumnDef)]
    return tuple(infos)


def rewrite_alter(alter: exp.Alter) -> tuple[tuple[ColumnInfo, ...], tuple[str, ...]]:
    """Returns (added columns, primary key columns needing a table rebuild)."""
    if str(alter.args.get("kind", "")).upper() != "TABLE":
        raise unsupported(f"ALTER {alter.args.get('kind')}")
    actions = alter.args.get("actions") or []
    if len(actions) != 1:
        raise unsupported("ALTER TABLE with several actions")
    action = actions[0]
    if isinstance(action, exp.ColumnDef):
        return (rewrite_column(action, None),), ()
    if isinstance(action, exp.AlterRename) and alter.args.get("options"):
        alter.set("actions", [_rename_column_without_keyword(action, alter.args["options"])])
        alter.set("options", None)
        return (), ()
    if isinstance(action, exp.RenameColumn | exp.AlterRename):
        return (), ()
    if isinstance(action, exp.Drop) and str(action.args.get("kind", "")).upper() == "COLUMN":
        if action.args.get("cascade"):
            raise unsupported("DROP COLUMN ... CASCADE")
        return (), ()
    if isinstance(action, exp.AddConstraint):
        for constraint in action.expressions:
            inner = constraint.expressions if isinstance(constraint, exp.Constraint) else [constraint]
            for node in inner:
                if isinstance(node, exp.PrimaryKey):
                    return (), tuple(e.name for e in node.expressions)
        raise unsupported(f"ALTER TABLE {action.sql('postgres')}")
    raise unsupported(f"ALTER TABLE {action.sql('postgres')}")


def _rename_column_without_keyword(action: exp.AlterRename,
                                   options: list[exp.Expression]) -> exp.RenameColumn:
    """``ALTER TABLE t RENAME a TO b``: COLUMN is optional in PostgreSQL (alembic's
    ``op.alter_column(new_column_name=...)`` leaves it out). sqlglot 30 reads the old name as
    a RENAME TO target and the new one as a ``TO`` option; ``RENAME TO u`` (the table) has no
    option and is left alone by the caller."""
    old, new = action.this, options[0] if len(options) == 1 else None
    if not isinstance(new, exp.ToTableProperty) or not isinstance(new.this, exp.Table) or \
            not isinstance(old, exp.Table):
        raise SqlError(sqlstate.SYNTAX_ERROR, 'syntax error at or near "RENAME"')
    if old.args.get("db") or new.this.args.get("db"):  # a qualified column name
        raise SqlError(sqlstate.SYNTAX_ERROR, 'syntax error at or near "."')
    return exp.RenameColumn(this=exp.Column(this=old.this.copy()),
                            to=exp.Column(this=new.this.this.copy()))


# PostgreSQL's NAMEDATALEN - 1: the longest identifier, in bytes.
MAX_IDENTIFIER_BYTES = 63
_PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_$]*$")
_LEADING_NAME = re.compile(r'^\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))')


def _clip(name: str, max_bytes: int) -> str:
    """The longest prefix of whole characters that fits in max_bytes (pg_mbcliplen)."""
    out = name.encode()[:max(max_bytes, 0)]
    return out.decode(errors="ignore")


def _folded(ident: exp.Expression) -> str:
    """An identifier's name as PostgreSQL stores it: unquoted ones fold to lower case."""
    if isinstance(ident, exp.Identifier) and ident.quoted:
        return ident.name
    return ident.name.lower()


def _figure_colname(node: exp.Expression, text: str) -> tuple[str | None, int]:
    """(name, strength) of an index expression, after PostgreSQL's FigureColnameInternal
    (parser/parse_target.c): a column's own name, a function's name as written in `text` (the
    parsed statement; sqlglot renames some, substr becomes SUBSTRING), 'case', 'coalesce', ...
    or (None, 0), which PostgreSQL's index naming spells 'expr'."""
    if isinstance(node, exp.Paren | exp.Collate):
        return _figure_colname(node.this, text)
    if isinstance(node, exp.Column):
        return (_folded(node.this), 2) if not isinstance(node.this, exp.Star) else (None, 0)
    if isinstance(node, exp.Cast | exp.TryCast):
        name, strength = _figure_colname(node.this, text)
        if strength <= 1:
            to = node.to
            type_name = _TYPE_NAMES.get(to.this) if isinstance(to, exp.DataType) else None
            if type_name is None:
                found = _LEADING_NAME.match(to.sql("postgres"))
                type_name = (found.group(1) or found.group(2).lower()) if found else None
            return type_name, 1
        return name, strength
    if isinstance(node, exp.Case | exp.If):
        return "case", 1
    if isinstance(node, exp.Coalesce):
        return "coalesce", 2
    if isinstance(node, exp.Greatest | exp.Least):
        return type(node).__name__.lower(), 2
    if isinstance(node, exp.Nullif):
        return "nullif", 2
    if isinstance(node, exp.Anonymous):
        return node.name.lower(), 2
    if isinstance(node, exp.Func):
        meta = node.meta
        start, end = meta.get("start"), meta.get("end")
        written = text[start:end + 1] if isinstance(start, int) and isinstance(end, int) else ""
        found = _LEADING_NAME.fullmatch(written) or _LEADING_NAME.match(node.sql("postgres"))
        if found is not None:
            return (found.group(1).replace('""', '"') if found.group(1)
                    else found.group(2).lower()), 2
    return None, 0


_TYPE_NAMES = {T.INT: "int4", T.BIGINT: "int8", T.SMALLINT: "int2", T.BOOLEAN: "bool",
               T.FLOAT: "float4", T.DOUBLE: "float8", T.DECIMAL: "numeric",
               T.TEXT: "text", T.VARCHAR: "varchar", T.CHAR: "bpchar", T.DATE: "date",
               T.TIMESTAMP: "timestamp", T.TIMESTAMPTZ: "timestamptz", T.TIME: "time",
               T.INTERVAL: "interval", T.JSON: "json", T.JSONB: "jsonb", T.UUID: "uuid"}


def _index_column_names(columns: list[exp.Expression], text: str) -> list[str]:
    """PostgreSQL's ChooseIndexColumnNames (commands/indexcmds.c): each key's name ('expr'
    for an unnamed expression), a clash with an earlier key's name suffixed 1, 2, ..."""
    result: list[str] = []
    for key in columns:
        node = key.this if isinstance(key, exp.Ordered) else key
        orig = _figure_colname(node, text)[0] or "expr"
        name, i = orig, 0
        while name in result:
            i += 1
            name = _clip(orig, MAX_IDENTIFIER_BYTES - len(str(i))) + str(i)
        result.append(name)
    return result


def _index_name_addition(names: list[str]) -> str:
    """ChooseIndexNameAddition: the names joined by '_', stopping once NAMEDATALEN is
    reached."""
    buf = b""
    for name in names:
        if buf:
            buf += b"_"
        buf += _clip(name, MAX_IDENTIFIER_BYTES).encode()
        if len(buf) > MAX_IDENTIFIER_BYTES:
            break
    return buf.decode(errors="ignore")


def make_object_name(name1: str, name2: str, label: str) -> str:
    """PostgreSQL's makeObjectName (commands/indexcmds.c): name1_name2_label cut to 63 bytes,
    the longer of the two names losing characters first."""
    b1, b2 = len(name1.encode()), len(name2.encode())
    avail = MAX_IDENTIFIER_BYTES - (1 if name2 else 0) - (len(label.encode()) + 1 if label else 0)
    while b1 + b2 > avail:
        if b1 > b2:
            b1 -= 1
        else:
            b2 -= 1
    parts = [_clip(name1, b1)] + ([_clip(name2, b2)] if name2 else []) + ([label] if label else [])
    return "_".join(parts)


def default_index_name(table: str, columns: list[exp.Expression], text: str) -> str:
    """The name PostgreSQL gives ``CREATE INDEX ON table (columns)`` in an empty namespace
    (ChooseIndexName -> ChooseRelationName(table, addition, "idx")). PostgreSQL appends 1, 2,
    ... to the label while the name is taken; the translator has no schema, so raftsql keeps
    the first choice and a clash fails with 42P07 (docs/sql.md)."""
    return make_object_name(table, _index_name_addition(_index_column_names(columns, text)),
                            "idx")


def rewrite_create_index(create: exp.Create, text: str) -> None:
    """Give ``CREATE [UNIQUE] INDEX ON t (...)`` PostgreSQL's default name, chosen here on the
    leader, so the SQLite text every node applies names the index explicitly. `text` is the
    statement sqlglot parsed (function names are taken as written)."""
    index = create.this
    if not isinstance(index, exp.Index) or index.this is not None:
        return
    table = index.args.get("table")
    params = index.args.get("params")
    columns = list(params.args.get("columns") or []) if params is not None else []
    if not isinstance(table, exp.Table) or not columns:
        raise SqlError(sqlstate.SYNTAX_ERROR, 'syntax error at or near "("')
    name = default_index_name(_folded(table.this), columns, text)
    index.set("this", exp.Identifier(this=name, quoted=_PLAIN_NAME.match(name) is None))
