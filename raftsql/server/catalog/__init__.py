"""pg_catalog / information_schema emulation: the frontend's one entry point for catalog queries.

Clients read the catalog on their own (psql's \\d family, SQLAlchemy's reflection, psycopg's
TypeInfo, pgbench's probes; PGWIRE.md section 9). This package answers those queries from an
in-memory SQLite database whose tables are named and typed like PostgreSQL 15's, rebuilt only
when the user schema changes (keyed by the rows of `sqlite_master`), with PostgreSQL's catalog
functions registered in Python.

Entry points:

* ``Catalog(path)`` / ``Catalog.for_database(db)``: ``handles(sql)`` (cheap test),
  ``execute(sql, params, facts)`` (sync), ``run(session, sql, params)`` (async, honours the
  session's read barrier and its open transaction), ``describe(sql)`` (parameter and result
  types for the extended protocol's Describe, without running).
* ``param_oids(sql)``: the parameter types PostgreSQL would report in ParameterDescription
  (asyncpg encodes by them; its type-introspection query takes `$1::oid[]`).
* ``answer(sql, ctx, params=None)``: the hook ``raftsql.server.answers.catalog`` calls. It needs
  ``ctx.extra["db"]`` (the node's ``Database``) or ``ctx.extra["catalog"]`` (a ``Catalog``),
  and ``ctx.extra["session"]`` (the ``database.Session``) so that a query inside an open
  transaction sees that transaction's DDL (alembic); ``params`` are the Bind values of a
  parameterised catalog query (SQLAlchemy sends those).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw

from raftsql.server.catalog import introspect, rewrite
from raftsql.server.catalog import tables as tb
from raftsql.server.catalog.functions import CatalogError, Functions
from raftsql.server.catalog.model import Schema, build_schema
from raftsql.sql.authorizer import Profile
from raftsql.sql.engine import open_connection
from raftsql.sql.errors import SqlError

if TYPE_CHECKING:
    from raftsql.node.database import Database, Session

__all__ = ["Catalog", "CatalogResult", "Description", "Facts", "answer", "handles",
           "param_oids"]

MASTER_SQL = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"

_HANDLES = re.compile(
    r"\b(?:pg_catalog|information_schema)\s*\.|"
    r"\bpg_(?:class|namespace|attribute|type|index|indexes|constraint|attrdef|description|"
    r"database|roles|user|authid|auth_members|am|opclass|collation|sequence|sequences|"
    r"tablespace|settings|proc|tables|views|matviews|depend|extension|policy|trigger|"
    r"inherits|rewrite|enum|range|statistic_ext|publication\w*|partitioned_table)\b|"
    r"\b(?:format_type|to_regtype|to_regclass|pg_get_\w+|pg_table_is_visible|"
    r"pg_type_is_visible|has_\w+_privilege|obj_description|col_description|"
    r"pg_encoding_to_char|pg_size_pretty|pg_\w*_size|inet_server_addr|inet_server_port|"
    r"current_schemas|pg_is_in_recovery|pg_backend_pid|current_database|current_schema|"
    r"version|current_setting|set_config)\s*\(|\btypeinfo_tree\b|"
    r"::\s*(?:pg_catalog\s*\.\s*)?reg(?:class|type|namespace|proc)\b",
    re.IGNORECASE,
)


def handles(sql: str) -> bool:
    """Does the statement read pg_catalog / information_schema or call a catalog function?

    A regular expression, so it is cheap enough to run on every statement; user tables whose
    names collide with catalog names (`pg_class`) would be answered by the catalog, as in
    PostgreSQL, where pg_catalog comes first on the search path."""
    return _HANDLES.search(sql) is not None


@dataclass
class Facts:
    """What answers depend on besides the schema: the session and the node."""

    user: str = "raftsql"
    database: str = "raftsql"
    in_recovery: bool = False
    backend_pid: int = 0
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class CatalogResult:
    """Rows with PostgreSQL types: `columns` are (name, typname), `type_oids` their OIDs."""

    columns: tuple[tuple[str, str], ...]
    type_oids: tuple[int, ...]
    rows: tuple[tuple[Any, ...], ...]

    @property
    def command_tag(self) -> str:
        return f"SELECT {len(self.rows)}"


@dataclass(frozen=True)
class Description:
    """Describe's answer: parameter type OIDs and result (name, type OID) pairs."""

    param_oids: tuple[int, ...]
    columns: tuple[tuple[str, int], ...]


def type_oid(typname: str) -> int:
    return tb.TYPE_OIDS.get(typname, 25)


class _Built:
    """One in-memory catalog database for one schema (see the module docstring)."""

    def __init__(self, schema: Schema, facts: Facts) -> None:
        self.conn = apsw.Connection(":memory:")
        self.conn.execute("ATTACH ':memory:' AS pg_catalog")
        self.conn.execute("ATTACH ':memory:' AS information_schema")
        ctx = tb.Context(facts.user, facts.database, tuple(sorted(facts.settings.items())))
        self.functions = Functions(schema, ctx)
        self.functions.register(self.conn)
        with self.conn:
            for stmt in tb.create_statements("pg_catalog", tb.COLUMNS):
                self.conn.execute(stmt)
            for stmt in tb.create_statements("information_schema", tb.INFO_COLUMNS):
                self.conn.execute(stmt)
            for name, rows in tb.rows(schema, ctx).items():
                self._insert("pg_catalog", name, len(tb.COLUMNS[name]), rows)
            for name, rows in tb.information_schema_rows(schema, ctx).items():
                self._insert("information_schema", name, len(tb.INFO_COLUMNS[name]), rows)

    def _insert(self, schema: str, table: str, width: int, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            marks = ", ".join("?" * width)
            self.conn.executemany(f'INSERT INTO {schema}."{table}" VALUES ({marks})', rows)

    def query(self, prepared: rewrite.Prepared, params: Sequence[Any], facts: Facts
              ) -> list[tuple[Any, ...]]:
        fns = self.functions
        fns.in_recovery, fns.backend_pid, fns.settings = (facts.in_recovery, facts.backend_pid,
                                                          facts.settings)
        values = [_bindable(v) for v in params][:prepared.nparams]
        bindings = tuple(values + [None] * (prepared.nparams - len(values)))
        try:
            return [tuple(r) for r in self.conn.execute(prepared.sql, bindings)]
        except CatalogError as exc:
            raise exc.error from None
        except apsw.Error as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, CatalogError):
                raise cause.error from None
            message = str(exc).split(": ", 1)[-1]
            for pattern, state in _SQLITE_ERRORS:
                if pattern in message:
                    raise SqlError(state, message) from None
            raise SqlError("0A000", f"catalog query not supported: {message}") from None


_SQLITE_ERRORS = (("no such column", "42703"), ("no such table", "42P01"),
                  ("no such function", "42883"), ("syntax error", "42601"))


def _bindable(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | tuple):
        import json

        return json.dumps(list(value))
    return value


class Catalog:
    """Answers catalog queries for one node's database file (one instance per frontend)."""

    def __init__(self, path: str, db: Database | None = None) -> None:
        self.path = path
        self.db = db
        self._conn, _auth = open_connection(path, Profile.READ)
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._built: _Built | None = None
        self.builds = 0

    @classmethod
    def for_database(cls, db: Database) -> Catalog:
        return cls(db.sm.path, db)

    def close(self) -> None:
        self._conn.close()

    handles = staticmethod(handles)

    # ------------------------------------------------------------------ schema

    def master_rows(self, txn_conn: Any = None) -> list[tuple[str, str, str, str | None]]:
        """sqlite_master as this node (or the session's open transaction) sees it."""
        if txn_conn is not None:
            return [tuple(r) for r in txn_conn.execute(MASTER_SQL)]
        return [tuple(r) for r in self._conn.execute(MASTER_SQL)]

    @staticmethod
    def transaction_master(session: Any) -> list[tuple[str, str, str, str | None]] | None:
        """sqlite_master inside the session's open transaction (it sees its own DDL), or None
        outside one. A failed transaction raises 25P02, as PostgreSQL does."""
        txn = getattr(session, "txn", None)
        if txn is None:
            return None
        return [tuple(r) for r in txn.execute(MASTER_SQL, ()).rows]

    def _catalog(self, master: list[tuple[str, str, str, str | None]], facts: Facts) -> _Built:
        key = (tuple(master), facts.user, facts.database)
        with self._lock:
            if self._built is None or key != self._key:
                self._built = _Built(build_schema(master), facts)
                self._key = key
                self.builds += 1
            return self._built

    # ------------------------------------------------------------------ queries

    def describe(self, sql: str) -> Description:
        if introspect.is_introspection(sql):
            return Description((tb.TYPE_OIDS["_oid"],),
                               tuple((n, type_oid(t)) for n, t in introspect.COLUMNS))
        p = rewrite.prepare(sql)
        return Description(tuple(type_oid(t) for t in p.param_types),
                           tuple((n, type_oid(t)) for n, t in zip(p.names, p.types, strict=True)))

    def execute(self, sql: str, params: Sequence[Any] = (), facts: Facts | None = None,
                master: list[tuple[str, str, str, str | None]] | None = None) -> CatalogResult:
        """Run one catalog query (PostgreSQL text, $n parameters) synchronously."""
        facts = facts or Facts()
        if introspect.is_introspection(sql):
            return CatalogResult(introspect.COLUMNS,
                                 tuple(type_oid(t) for _n, t in introspect.COLUMNS),
                                 tuple(introspect.rows(params)))
        prepared = rewrite.prepare(sql)
        if prepared.user_tables:
            raise SqlError("42P01", f'relation "{prepared.user_tables[0]}" does not exist',
                           hint="the system catalogs are queried apart from user tables")
        columns = tuple(zip(prepared.names, prepared.types, strict=True))
        oids = tuple(type_oid(t) for t in prepared.types)
        if prepared.always_empty:
            return CatalogResult(columns, oids, ())
        built = self._catalog(master if master is not None else self.master_rows(), facts)
        rows = built.query(prepared, params, facts)
        return CatalogResult(columns, oids, tuple(rows))

    async def run(self, session: Session | None, sql: str, params: Sequence[Any] = (),
                  facts: Facts | None = None) -> CatalogResult:
        """`execute` at the session's read level: after its read barrier, or inside its open
        transaction (which sees its own DDL)."""
        master = self.transaction_master(session)
        if master is None and session is not None and self.db is not None:
            await self.db.read_barrier(session)
        if facts is None and self.db is not None:
            facts = Facts(in_recovery=not self.db.node.is_leader())
        return self.execute(sql, params, facts, master)


_CATALOGS: dict[str, Catalog] = {}


def _catalog_for(ctx: Any) -> Catalog | None:
    extra = getattr(ctx, "extra", None) or {}
    found = extra.get("catalog")
    if isinstance(found, Catalog):
        return found
    db = extra.get("db")
    if db is None:
        return None
    path = db.sm.path
    if path not in _CATALOGS:
        _CATALOGS[path] = Catalog.for_database(db)
    return _CATALOGS[path]


def answer(sql: str, ctx: Any, params: Sequence[Any] | None = None) -> Any:
    """The hook of raftsql.server.answers: an `answers.Answer` for a catalog query, else None.

    Without `params` a parameterised query is run with NULLs (enough to describe it)."""
    if not handles(sql) or reads_user_tables(sql):
        return None
    catalog = _catalog_for(ctx)
    if catalog is None:
        return None
    from raftsql.server.answers import Answer
    from raftsql.server.inference import Column

    facts = Facts(user=ctx.user, database=ctx.database, in_recovery=not ctx.is_leader(),
                  backend_pid=getattr(ctx, "backend_pid", 0))
    nparams = len(catalog.describe(sql).param_oids)
    values = list(params) if params is not None else [None] * nparams
    master = Catalog.transaction_master((getattr(ctx, "extra", None) or {}).get("session"))
    result = catalog.execute(sql, values, facts, master)
    columns = tuple(Column(name, oid) for (name, _t), oid in
                    zip(result.columns, result.type_oids, strict=True))
    return Answer(columns, list(result.rows), result.command_tag)


def reads_user_tables(sql: str) -> bool:
    """True for a statement that also reads user tables (`SELECT current_schema(), x FROM t`):
    such statements belong to the database, not to the catalog."""
    if introspect.is_introspection(sql):
        return False
    try:
        return bool(rewrite.prepare(sql).user_tables)
    except SqlError:
        return False


def param_oids(sql: str) -> tuple[int, ...] | None:
    """ParameterDescription OIDs for a catalog query (from its casts; text otherwise), or None
    when the statement is not a catalog query this package can read."""
    if not handles(sql):
        return None
    if introspect.is_introspection(sql):
        return (tb.TYPE_OIDS["_oid"],)
    try:
        prepared = rewrite.prepare(sql)
    except SqlError:
        return None
    return tuple(type_oid(t) for t in prepared.param_types)
