"""CREATE TABLE / ALTER TABLE rewrites: SERIAL and IDENTITY keys, nondeterministic defaults,
and the column facts the frontend needs (declared PostgreSQL type, OID).

Why separate: DDL is where PostgreSQL and SQLite differ structurally (sequences vs rowid,
DEFAULT now() evaluated at insert time on each node) rather than expression by expression.
"""

from __future__ import annotations

import re

from sqlglot import exp

from raftsql.sql import pgtypes
from raftsql.sql.classify import ColumnInfo
from raftsql.sql.errors import unsupported
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
