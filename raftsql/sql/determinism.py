"""Make a translated write deterministic before the leader proposes it.

Why: every node applies the same log entry to its own SQLite and must reach byte-identical
state (ARCHITECTURE.md "Determinism"). The translator marks the nondeterministic calls
(pg_now(), pg_random(), pg_gen_random_uuid(), ...); here the leader replaces them with bound
values it chose once, and adds explicit values for columns whose PostgreSQL DEFAULT is
nondeterministic (the SQLite DDL keeps DEFAULT (pg_unfixed_default('...')) there, which raises
if an INSERT ever reaches the state machine without a value). Prior art: rqlite's rewriter,
which also takes the clock and random source as inputs.

Semantics chosen (docs/sql.md):
  * now()/CURRENT_TIMESTAMP/clock_timestamp() -> one timestamptz per call of this function
    (the caller passes the transaction's `now` to get PostgreSQL's per-transaction now());
  * random()/gen_random_uuid() -> pg_fixed_random(seed)/pg_fixed_uuid(seed): a seeded stream,
    so each row still gets its own value, the same on every node.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sqlglot
from sqlglot import exp

from raftsql.sql import functions, sqlstate
from raftsql.sql.classify import StatementKind, Translated
from raftsql.sql.errors import SqlError, unsupported
from raftsql.sql.rewrite.scan import scan_generated


class SchemaInfo(Protocol):
    """What fix_nondeterminism needs to know about the current schema (leader's view).

    Table names are as SQLite stores them; lookups are case-insensitive."""

    def columns(self, table: str) -> Sequence[str]:
        """Column names in declaration order; empty if the table does not exist."""
        ...

    def nondeterministic_defaults(self, table: str) -> Mapping[str, str]:
        """column -> PostgreSQL default expression text, for nondeterministic defaults."""
        ...

    def table_sql(self, table: str) -> str | None:
        """The CREATE TABLE statement SQLite keeps for `table` (None if absent)."""
        ...

    def index_sqls(self, table: str) -> Sequence[str]:
        """CREATE INDEX statements of the table's explicit indexes."""
        ...


_UNFIXED = re.compile(r"pg_unfixed_default\('((?:[^']|'')*)'\)", re.I)


class SqliteSchemaInfo:
    """SchemaInfo read from a live apsw connection (the leader's state machine database)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def _table_info(self, table: str) -> list[tuple[Any, ...]]:
        return list(self._conn.execute("SELECT * FROM pragma_table_info(?)", (table,)))

    def columns(self, table: str) -> Sequence[str]:
        return [row[1] for row in self._table_info(table)]

    def nondeterministic_defaults(self, table: str) -> Mapping[str, str]:
        found: dict[str, str] = {}
        for row in self._table_info(table):
            default = row[4]
            match = _UNFIXED.search(default) if isinstance(default, str) else None
            if match:
                found[row[1]] = match.group(1).replace("''", "'")
        return found

    def table_sql(self, table: str) -> str | None:
        for (sql,) in self._conn.execute(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE",
            (table,),
        ):
            return str(sql)
        return None

    def index_sqls(self, table: str) -> Sequence[str]:
        return [str(row[0]) for row in self._conn.execute(
            "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? COLLATE NOCASE"
            " AND sql IS NOT NULL ORDER BY name", (table,))]


def _encode_array(value: Any) -> Any:
    """An array parameter (= ANY($n)) travels as JSON text for json_each()."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    raise SqlError(sqlstate.DATATYPE_MISMATCH, f"expected an array parameter, got {type(value).__name__}")


def bind(t: Translated, params: Sequence[Any]) -> list[Any]:
    """Parameters in '?' order for t.sql (reordered by param_order, arrays JSON-encoded)."""
    if len(params) < t.nparams:
        raise SqlError(sqlstate.PROTOCOL_VIOLATION,
                       f"bind message supplies {len(params)} parameters, but prepared statement "
                       f"requires {t.nparams}")
    return [_encode_array(params[i]) if i in t.json_params else params[i] for i in t.param_order]


_CLOCK_TOKENS = frozenset({"pg_now", "pg_localtimestamp", "pg_current_date", "pg_current_time"})


def _clock_value(token: str, now: dt.datetime) -> Any:
    """The fixed value of one clock call (token as scan_generated names it) at ``now``."""
    utc = now.astimezone(dt.UTC) if now.tzinfo else now.replace(tzinfo=dt.UTC)
    if token == "pg_now":
        return functions.format_timestamp(utc, True)
    if token == "pg_localtimestamp":
        return functions.format_timestamp(utc.replace(tzinfo=None), False)
    if token == "pg_current_date":
        return utc.date().isoformat()
    assert token == "pg_current_time", token
    return utc.strftime("%H:%M:%S.%f").rstrip("0").rstrip(".") + "+00"


def _now_values(now: dt.datetime) -> dict[str, Any]:
    return {token: _clock_value(token, now) for token in _CLOCK_TOKENS}


_REPLACEMENT = {"pg_random": "pg_fixed_random(?)", "pg_gen_random_uuid": "pg_fixed_uuid(?)",
                "pg_randomblob(": "pg_fixed_randomblob(?, "}
"""Seeded replacements of the random calls; the clock calls become a plain '?'."""


@functools.lru_cache(maxsize=1024)
def _marker_template(sql: str) -> tuple[str, tuple[str | None, ...]]:
    """The rewritten text of generated ``sql`` and, for each of its '?' in order, the token
    whose fixed value goes there, or None for the client's next parameter.

    Why cached: both depend on the text only, and scanning it twice per statement
    (scan_generated, _placeholder_kinds) cost ~10% of a pgbench TPC-B transaction's CPU on
    the leader (its INSERT carries CURRENT_TIMESTAMP); the values are filled in per call."""
    parts: list[str] = []
    last = 0
    for start, end, token in scan_generated(sql):
        parts.append(sql[last:start])
        last = end
        if token.startswith("$"):  # only present in sql we have not bound yet (never here)
            raise AssertionError(token)
        if token in _CLOCK_TOKENS:
            parts.append("?")
        elif token in _REPLACEMENT:
            parts.append(_REPLACEMENT[token])
        else:
            raise AssertionError(token)
    parts.append(sql[last:])
    tokens = iter([token for _s, _e, token in scan_generated(sql)])
    slots = tuple(next(tokens) if kind == "fixed" else None for kind in _placeholder_kinds(sql))
    return "".join(parts), slots


def _fix_markers(sql: str, bound_by_position: list[Any], now: dt.datetime,
                 seed: int) -> tuple[str, list[Any]]:
    """Rewrite nondeterministic calls in generated SQL into '?' with chosen values, merged
    with the client's parameters in '?' order."""
    text, slots = _marker_template(sql)
    values: dict[str, Any] = {}
    merged: list[Any] = []
    client_iter = iter(bound_by_position)
    for token in slots:
        if token is None:
            merged.append(next(client_iter))
        elif token in _CLOCK_TOKENS:
            if token not in values:
                values[token] = _clock_value(token, now)
            merged.append(values[token])
        else:
            merged.append(seed)
    return text, merged


def _placeholder_kinds(sql: str) -> list[str]:
    """For the original generated SQL: in text order, 'client' for each '?' and 'fixed' for
    each nondeterministic call (which becomes exactly one '?')."""
    markers = {start: token for start, _end, token in scan_generated(sql)}
    kinds: list[str] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"":
            j = sql.index(ch, i + 1)
            while sql[j + 1 : j + 2] == ch:
                j = sql.index(ch, j + 2)
            i = j + 1
            continue
        if i in markers:
            kinds.append("fixed")
        elif ch == "?":
            kinds.append("client")
        i += 1
    return kinds


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int | float):
        return exp.Literal.number(repr(value) if isinstance(value, float) else value)
    if isinstance(value, bytes):
        return exp.HexString(this=value.hex())
    return exp.Literal.string(str(value))


class _DefaultEvaluator:
    """Evaluates a PostgreSQL default expression once per row, fixed with now/seed, in a
    private in-memory SQLite with our functions (the same code the state machine runs)."""

    def __init__(self, now: dt.datetime, seed: int) -> None:
        import apsw

        self._conn = apsw.Connection(":memory:")
        functions.register(self._conn)
        self._now = now
        self._seed = seed

    def value(self, pg_expression: str) -> Any:
        from raftsql.sql.translate import translate

        (t,) = translate(f"SELECT {pg_expression}")
        sql, params = _fix_markers(t.sql, [], self._now, self._seed)
        rows = list(self._conn.execute(sql, params))
        return rows[0][0]


def _add_default_columns(t: Translated, sql: str, schema: SchemaInfo, now: dt.datetime,
                         seed: int) -> str:
    """Complete an INSERT against the leader's schema: explicit values for columns with
    nondeterministic defaults, and a column list when a list-less INSERT supplies fewer
    values than the table has columns (PostgreSQL defaults the rest; SQLite would refuse)."""
    assert t.table is not None
    defaults = {k.lower(): v for k, v in schema.nondeterministic_defaults(t.table).items()}
    table_columns = list(schema.columns(t.table))
    short = (t.insert_columns is None and t.insert_width is not None
             and 0 < t.insert_width < len(table_columns))
    if not defaults and not short:
        return sql
    tree = sqlglot.parse_one(sql, read="sqlite")
    assert isinstance(tree, exp.Insert)
    columns = t.insert_columns
    rows_node = tree.expression
    if columns is None:
        # no column list: PostgreSQL fills the leading columns, defaults the rest
        all_columns = list(schema.columns(t.table))
        width = (len(rows_node.expressions[0].expressions)
                 if isinstance(rows_node, exp.Values) else len(rows_node.selects))
        columns = tuple(all_columns[:width])
    missing = [c for c in table_columns if c.lower() in defaults
               and c.lower() not in {x.lower() for x in columns}]
    if not missing and not short:
        return sql
    evaluator = _DefaultEvaluator(now, seed) if missing else None
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    tree.set("this", exp.Schema(this=target, expressions=[
        exp.to_identifier(c) for c in (*columns, *missing)]))
    if tree.args.get("default"):
        tree.set("default", None)
        rows_node = exp.Values(expressions=[exp.Tuple(expressions=[])])
        tree.set("expression", rows_node)
    if not missing:
        return tree.sql(dialect="sqlite")
    assert evaluator is not None
    if isinstance(rows_node, exp.Values):
        for row in rows_node.expressions:
            row.set("expressions", [*row.expressions,
                                    *[_literal(evaluator.value(defaults[c.lower()])) for c in missing]])
    elif isinstance(rows_node, exp.Query):
        # one value per row: computed by every node from the leader's seed and clock
        if not isinstance(rows_node, exp.Select):  # UNION etc.: SELECT *, defaults FROM (..)
            rows_node = exp.select("*").from_(exp.Subquery(this=rows_node))
            tree.set("expression", rows_node)
        for c in missing:
            rows_node.select(_fixed_expression(defaults[c.lower()], now, seed), copy=False)
    else:
        raise unsupported(f"INSERT from {type(rows_node).__name__} into a table with "
                          "nondeterministic defaults")
    return tree.sql(dialect="sqlite")


def _fixed_expression(pg_expression: str, now: dt.datetime, seed: int) -> exp.Expression:
    """A default expression as SQLite SQL whose clock and random calls are literals/seeded."""
    from raftsql.sql.translate import translate

    (t,) = translate(f"SELECT {pg_expression}")
    values = _now_values(now)
    parts: list[str] = []
    last = 0
    for start, end, token in scan_generated(t.sql):
        parts.append(t.sql[last:start])
        last = end
        if token in values:
            parts.append(exp.Literal.string(values[token]).sql("sqlite"))
        elif token == "pg_random":
            parts.append(f"pg_fixed_random({seed})")
        elif token == "pg_gen_random_uuid":
            parts.append(f"pg_fixed_uuid({seed})")
        elif token == "pg_randomblob(":
            parts.append(f"pg_fixed_randomblob({seed}, ")
        else:
            raise AssertionError(token)
    parts.append(t.sql[last:])
    select = sqlglot.parse_one("".join(parts), read="sqlite")
    assert isinstance(select, exp.Select) and len(select.selects) == 1
    expression: exp.Expression = select.selects[0]  # type: ignore[assignment]
    return expression


def rebuild_script(t: Translated, schema: SchemaInfo) -> str:
    """ALTER TABLE t ADD PRIMARY KEY (cols): SQLite cannot add a primary key, so rebuild the
    table (https://www.sqlite.org/lang_altertable.html, "other kinds of table schema
    changes"): create a copy with the key, copy rows, drop, rename, recreate indexes. Runs
    inside the entry's transaction; duplicate or NULL keys fail the copy like PostgreSQL."""
    assert t.table is not None and t.rebuild_primary_key
    create_sql = schema.table_sql(t.table)
    if create_sql is None:
        raise SqlError(sqlstate.UNDEFINED_TABLE, f'relation "{t.table}" does not exist')
    tree = sqlglot.parse_one(create_sql, read="sqlite")
    table_schema = tree.this
    assert isinstance(table_schema, exp.Schema)
    if "PRIMARY KEY" in create_sql.upper():
        raise SqlError(sqlstate.INVALID_TABLE_DEFINITION,
                       f'multiple primary keys for table "{t.table}" are not allowed')
    known = {c.name.lower(): c for c in table_schema.expressions if isinstance(c, exp.ColumnDef)}
    for name in t.rebuild_primary_key:
        column = known.get(name.lower())
        if column is None:
            raise SqlError(sqlstate.UNDEFINED_COLUMN, f'column "{name}" of relation "{t.table}" '
                           "does not exist")
        column.append("constraints", exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
    table_schema.append("expressions", exp.PrimaryKey(
        expressions=[exp.to_identifier(n) for n in t.rebuild_primary_key]))
    temp = f"_rebuild_pk_{t.table}"  # not _raftsql_*: the authorizer keeps those read-only
    table_schema.set("this", exp.to_table(temp))
    quoted = exp.to_identifier(t.table).sql("sqlite")
    steps = [
        tree.sql(dialect="sqlite"),
        f"INSERT INTO {exp.to_identifier(temp).sql('sqlite')} SELECT * FROM {quoted}",
        f"DROP TABLE {quoted}",
        f"ALTER TABLE {exp.to_identifier(temp).sql('sqlite')} RENAME TO {quoted}",
        *schema.index_sqls(t.table),
    ]
    return ";\n".join(steps)


def _check_trigger_defaults(t: Translated, schema: SchemaInfo | None) -> None:
    """Refuse a trigger whose INSERT leaves out a column with a nondeterministic default:
    each node would compute that default itself when the trigger fires (and the state
    machine, which has no leader's value, fails every such INSERT with XX000)."""
    if schema is None:
        raise unsupported("CREATE TRIGGER without schema information")
    for table, columns in t.trigger_inserts:
        if columns is None:  # no column list: the INSERT gives every column
            continue
        given = {c.lower() for c in columns}
        for column, expression in schema.nondeterministic_defaults(table).items():
            if column.lower() not in given:
                raise SqlError(
                    "0A000",
                    f"a trigger that inserts into {table} without {column} is not supported: "
                    f"each node would compute its default ({expression}) itself",
                    hint=f"give {column} a value in the trigger's INSERT")


def fixes_nothing(t: Translated, schema: SchemaInfo | None = None) -> bool:
    """Whether `fix_nondeterminism` returns ``(t.sql, bind(t, params))`` for ``t`` whatever the
    clock and seed, and, without ``schema``, whatever the schema: no clock or random call to
    fix, no INSERT to complete, no trigger to check, no table to rebuild. Callers then skip
    reading the clock and the schema (most statements: every prepared point read and four of
    pgbench's five statements).

    With ``schema``, an INSERT that needs nothing else counts too when `_add_default_columns`
    would leave it alone against that schema: its table has no nondeterministic default and it
    does not supply fewer values than the table has columns without naming them (a prepared
    upsert: the clock read, the seed and the default lookups were a sixth of the leader's
    statement path before its proposal)."""
    if t.needs_fixing or t.rebuild_primary_key or t.trigger_inserts:
        return False
    if not (t.kind is StatementKind.WRITE and t.command_tag == "INSERT"):
        return True
    if schema is None or t.table is None:
        return False
    if schema.nondeterministic_defaults(t.table):
        return False
    return not (t.insert_columns is None and t.insert_width is not None
                and 0 < t.insert_width < len(schema.columns(t.table)))


def fix_nondeterminism(
    t: Translated,
    params: Sequence[Any],
    *,
    now: dt.datetime,
    rng: random.Random,
    schema: SchemaInfo | None = None,
) -> tuple[str, list[Any]]:
    """Return (sql, bound params) that compute the same result on every node.

    Call it for every WRITE and DDL before proposing (it is cheap when there is nothing to
    do). `params` are the client's $n values; the result's params are in '?' order, ready for
    apsw. `schema` (the leader's view) is needed for INSERTs into tables with
    nondeterministic defaults and for ALTER TABLE ADD PRIMARY KEY; without it those raise
    0A000 rather than guess."""
    bound = bind(t, params)
    if t.trigger_inserts:
        _check_trigger_defaults(t, schema)
    if t.rebuild_primary_key:
        if schema is None:
            raise unsupported("ALTER TABLE ADD PRIMARY KEY without schema information")
        return rebuild_script(t, schema), bound
    sql = t.sql
    seed = rng.getrandbits(62)
    if t.needs_fixing:
        sql, bound = _fix_markers(sql, bound, now, seed)
    if t.kind is StatementKind.WRITE and t.command_tag == "INSERT" and schema is not None:
        sql = _add_default_columns(t, sql, schema, now, seed ^ DEFAULTS_SEED_FLIP)
    return sql, bound


DEFAULTS_SEED_FLIP = 1 << 61
"""The defaults an INSERT completes draw from a seed of their own (the statement's, its top
bit flipped). A VALUES row's defaults are computed on the leader, on a connection of their own
(`_DefaultEvaluator`): from the statement's seed, `DEFAULT random()` took the same first value
as a `random()` written in the same INSERT, which the apply draws from that seed."""
