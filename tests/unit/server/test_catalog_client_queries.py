"""Catalog queries of SQLAlchemy 2, psycopg 3 and pgbench against the emulation.

Source of truth: the rows and RowDescription types PostgreSQL 15.18 returned for the same
recorded queries and Bind values (catalog_recorded.py; SQLAlchemy postgresql/base.py,
psycopg _typeinfo.py, pgbench.c GetTableInfo), OIDs mapped to the emulation's.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from catalog_recorded import PGBENCH_PARTITION_PROBE, SQLALCHEMY
from test_catalog_psql import apply_ddl

from raftsql.node.database import Session
from raftsql.pgwire import oids as o
from raftsql.server.catalog import Catalog, Facts, handles
from raftsql.sql.apply import StateMachine
from raftsql.sql.errors import SqlError
from raftsql.sql.translate import translate
from raftsql.sql.txn import Transaction

SA_SCHEMA = """
CREATE TABLE sa_user (id SERIAL NOT NULL, name VARCHAR(30) DEFAULT 'none' NOT NULL,
    email TEXT, PRIMARY KEY (id), UNIQUE (email));
CREATE TABLE sa_addr (id SERIAL NOT NULL, user_id INTEGER, city VARCHAR(40), PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES sa_user (id));
CREATE INDEX ix_sa_addr_city ON sa_addr (city);
"""


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> StateMachine:
    machine = StateMachine(str(Path(tmp_path_factory.mktemp("sa")) / "db"))
    apply_ddl(machine, SA_SCHEMA)
    return machine


@pytest.fixture(scope="module")
def catalog(sm: StateMachine) -> Catalog:
    return Catalog(sm.path)


def query(catalog: Catalog, name: str, **replace: object) -> tuple[list[tuple[object, ...]],
                                                                    tuple[int, ...]]:
    sql, params, _oids = SQLALCHEMY[name]
    values = [replace.get(str(v), v) for v in params]
    result = catalog.execute(sql, values, Facts())
    return list(result.rows), result.type_oids


def table_oid(catalog: Catalog, name: str) -> int:
    rows, _ = query(catalog, "table_oids", sa_user=name)
    return int(str(rows[0][0]))


def test_has_table(catalog: Catalog) -> None:
    assert query(catalog, "has_table") == ([("sa_user",)], (o.NAME,))
    assert query(catalog, "has_table", sa_user="nope")[0] == []
    assert query(catalog, "has_table", sa_user="sa_user_id_seq")[0] == []  # relkind S


def test_get_table_names(catalog: Catalog) -> None:
    rows, _ = query(catalog, "get_table_names")
    assert sorted(rows) == [("sa_addr",), ("sa_user",)]


def test_get_columns(catalog: Catalog) -> None:
    rows, types = query(catalog, "get_columns")
    assert types == (o.NAME, o.TEXT, o.TEXT, o.BOOL, o.NAME, o.TEXT, o.CHAR, o.JSON, o.JSON)
    assert rows == [
        ("id", "integer", "nextval('sa_user_id_seq'::regclass)", 1, "sa_user", None, "", None,
         None),
        ("name", "character varying(30)", "'none'::character varying", 1, "sa_user", None, "",
         None, None),
        ("email", "text", None, 0, "sa_user", None, "", None, None),
    ]


def test_get_pk_constraint(catalog: Catalog) -> None:
    user = table_oid(catalog, "sa_user")
    rows, types = query(catalog, "get_pk_constraint", **{"16442": user})
    assert types == (o.OID, o.TEXT_ARRAY, o.NAME, o.TEXT, o.INT2, o.BOOL)
    assert [(r[0], json.loads(str(r[1])), *r[2:]) for r in rows] == [
        (user, ["id"], "sa_user_pkey", None, 1, 0)]


def test_get_foreign_keys(catalog: Catalog) -> None:
    rows, _ = query(catalog, "get_foreign_keys")
    assert rows == [("sa_addr", "sa_addr_user_id_fkey",
                     "FOREIGN KEY (user_id) REFERENCES sa_user(id)", "public", None)]


def test_get_indexes(catalog: Catalog) -> None:
    addr = table_oid(catalog, "sa_addr")
    rows, types = query(catalog, "get_indexes", **{"16454": addr})
    assert types[5] == 22 and types[11:] == (o.TEXT_ARRAY, o.BOOL_ARRAY, o.INT8_ARRAY)
    assert len(rows) == 1
    row = rows[0]
    assert row[:5] == (addr, "ix_sa_addr_city", 0, 1, 0)
    assert row[5] == "0"  # int2vector text, split by SQLAlchemy's psycopg dialect
    assert row[7] == 403  # btree
    assert [json.loads(str(v)) for v in row[11:]] == [["city"], [0], [3126]]


def test_psycopg_typeinfo(catalog: Catalog) -> None:
    """psycopg TypeInfo.fetch: zero rows for an unknown type, else the type's facts."""
    assert query(catalog, "typeinfo")[0] == []
    rows, types = query(catalog, "typeinfo", hstore="json")
    assert rows == [("json", o.JSON, o.JSON_ARRAY, "json", ",")]
    assert types == (o.NAME, o.OID, o.OID, o.TEXT, o.CHAR)
    rows, _ = query(catalog, "typeinfo", hstore="character varying")
    assert rows == [("varchar", o.VARCHAR, o.VARCHAR_ARRAY, "character varying", ",")]


def test_identity_functions(catalog: Catalog) -> None:
    facts = Facts(user="alice", database="shop", in_recovery=True, backend_pid=42)
    result = catalog.execute(
        "select pg_catalog.version(), current_schema(), current_database(), current_user, "
        "pg_catalog.pg_is_in_recovery(), pg_backend_pid()", [], facts)
    assert [c for c, _t in result.columns] == [
        "version", "current_schema", "current_database", "current_user", "pg_is_in_recovery",
        "pg_backend_pid"]
    assert result.type_oids == (o.TEXT, o.NAME, o.NAME, o.NAME, o.BOOL, o.INT4)
    version, *rest = result.rows[0]
    assert str(version).startswith("PostgreSQL 15.")  # SQLAlchemy's version regexp
    assert rest == ["public", "shop", "alice", 1, 42]


def test_regclass_errors_like_postgresql(catalog: Catalog) -> None:
    with pytest.raises(SqlError) as info:
        catalog.execute("select 'nope'::regclass::oid")
    assert info.value.sqlstate == "42P01"
    assert catalog.execute("select to_regclass('nope')").rows == ((None,),)
    assert catalog.execute("select 'sa_user'::regclass").rows == (("sa_user",),)


def test_pgbench_partition_probe(catalog: Catalog) -> None:
    """pgbench.c GetTableInfo: PostgreSQL 15 answers (2, NULL, 0) for an unpartitioned table in
    public (position of public in current_schemas(true)) and no row for a missing one."""
    probe = PGBENCH_PARTITION_PROBE.replace("pgbench_accounts", "sa_user")
    result = catalog.execute(probe)
    assert result.rows == ((2, None, 0),)
    assert [c for c, _t in result.columns] == ["n", "partstrat", "count"]
    assert result.type_oids == (o.INT4, o.CHAR, o.INT8)
    assert catalog.execute(PGBENCH_PARTITION_PROBE).rows == ()


def test_describe_reports_param_and_result_types(catalog: Catalog) -> None:
    d = catalog.describe(SQLALCHEMY["has_table"][0])
    assert d.param_oids == (o.VARCHAR,) * 7
    assert d.columns == (("relname", o.NAME),)


def test_handles() -> None:
    for sql in [SQLALCHEMY["has_table"][0], "select version()", "SELECT * FROM pg_class",
                "select oid from information_schema.tables", "select 'x'::regclass",
                "SELECT c.relname FROM pg_catalog.pg_class c"]:
        assert handles(sql), sql
    for sql in ["select * from users", "insert into t values (1)", "select count(*) from t",
                "select versions from t"]:
        assert not handles(sql), sql


def test_rebuilds_only_when_schema_changes(sm: StateMachine) -> None:
    catalog = Catalog(sm.path)
    catalog.execute("select relname from pg_class")
    catalog.execute("select relname from pg_class where relkind = 'r'")
    assert catalog.builds == 1
    apply_ddl(sm, "CREATE TABLE later (k int)")
    rows = catalog.execute("select tablename from pg_catalog.pg_tables order by 1").rows
    assert catalog.builds == 2
    assert ("later",) in rows


def test_open_transaction_sees_its_own_ddl(sm: StateMachine) -> None:
    """alembic checks its version table inside the transaction that creates it."""
    catalog = Catalog(sm.path)
    txn = Transaction(sm.path)
    try:
        txn.execute(translate("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                              "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")[0].sql)
        session = Session(txn=txn)
        sql, params, _ = SQLALCHEMY["has_table"]
        values = ["alembic_version" if v == "sa_user" else v for v in params]
        inside = asyncio.run(catalog.run(session, sql, values))
        assert inside.rows == (("alembic_version",),)
        outside = asyncio.run(catalog.run(None, sql, values))
        assert outside.rows == ()
        pk = asyncio.run(catalog.run(
            session, "select conname, pg_get_constraintdef(oid) from pg_constraint "
                     "where contype = 'p' and conrelid = 'alembic_version'::regclass"))
        assert pk.rows == (("alembic_version_pkc", "PRIMARY KEY (version_num)"),)
    finally:
        txn.rollback()


def test_asyncpg_type_introspection(catalog: Catalog) -> None:
    """asyncpg introspects OIDs it has no codec for (asyncpg connection.py _introspect_types):
    first `current_setting('jit')` / `set_config`, then its recursive CTE with $1 = oid[]; the
    rows must describe each array's element as PostgreSQL 15 does (pg_type.dat)."""
    jit = catalog.execute("SELECT current_setting('jit') AS cur, "
                          "set_config('jit', 'off', false) AS new")
    assert jit.rows == (("off", "off"),)
    intro = ("WITH RECURSIVE typeinfo_tree(oid, ns, name, kind, basetype, elemtype, elemdelim, "
             "range_subtype, attrtypoids, attrnames, depth) AS (SELECT ... "
             "WHERE ti.oid = any($1::oid[]) ...) SELECT DISTINCT * FROM typeinfo_tree")
    assert handles(intro)
    result = catalog.execute(intro, [[o.BOOL_ARRAY, 22]])
    assert [c for c, _t in result.columns][:7] == [
        "oid", "ns", "name", "kind", "basetype", "elemtype", "elemdelim"]
    by_oid = {r[0]: r for r in result.rows}
    assert by_oid[o.BOOL_ARRAY][2:7] == ("_bool", "b", None, o.BOOL, ",")
    assert by_oid[22][5] == o.INT2  # int2vector's typelem
    assert by_oid[o.BOOL][10] == 1 and by_oid[o.BOOL][5] == 0  # element, one level deeper
    assert result.rows[0][10] == 1  # deepest first (ORDER BY depth DESC)
    assert catalog.describe(intro).param_oids == (o.OID_ARRAY,)


def test_param_oids_follow_the_casts() -> None:
    """ParameterDescription as PostgreSQL 15 reports for SQLAlchemy's casts ($n::VARCHAR ->
    varchar, ::INTEGER -> int4, ::BOOLEAN -> bool) and asyncpg's `$1::oid[]`."""
    from raftsql.server.catalog import param_oids

    assert param_oids(SQLALCHEMY["has_table"][0]) == (o.VARCHAR,) * 7
    assert param_oids("select 1 from pg_type where oid = any($1::oid[]) and typname = $2") == (
        o.OID_ARRAY, o.TEXT)
    assert param_oids("WITH RECURSIVE typeinfo_tree(oid) AS (...) SELECT 1") == (o.OID_ARRAY,)
    assert param_oids("select * from users where id = $1") is None


def test_statements_reading_user_tables_are_not_catalog_queries() -> None:
    """`answer()` leaves a query that reads user tables to the database, even when it calls a
    catalog function; pure catalog queries (and CTEs over them) stay with the catalog."""
    from raftsql.server.catalog import reads_user_tables

    assert reads_user_tables("select current_schema(), x from t")
    assert reads_user_tables("select * from pg_class c join orders o on o.id = c.oid")
    assert not reads_user_tables(SQLALCHEMY["get_indexes"][0])
    assert not reads_user_tables("with x as (select oid from pg_class) select * from x")
