"""psql 15's describe queries against the catalog emulation, checked against the rows
PostgreSQL 15.18 returned for the same schema (recorded with `psql -E`, catalog_recorded.py).

Source of truth: PostgreSQL 15.18 (`\\d`, `\\dt`, `\\d t_parent`, `\\d t_child`, `\\di`, `\\dv`,
`\\dn`, `\\l`, `\\du` outputs reproduced in each test's expected rows; owner normalised to the
session user, OIDs to the ones the emulation hands out).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_recorded import PSQL, PSQL_CHECKS

from raftsql.pgwire import oids as o
from raftsql.server.catalog import Catalog, Facts
from raftsql.sql import command
from raftsql.sql.apply import StateMachine
from raftsql.sql.translate import translate

SCHEMA = """
CREATE TABLE t_parent (id SERIAL PRIMARY KEY, name VARCHAR(30) NOT NULL DEFAULT 'none',
    tag text UNIQUE, price numeric(10,2), ts timestamp, f double precision,
    b boolean DEFAULT true, n integer DEFAULT 0);
CREATE TABLE t_child (id SERIAL PRIMARY KEY, parent_id integer REFERENCES t_parent(id),
    x integer, CONSTRAINT ck CHECK (x > 0));
CREATE INDEX t_child_x_idx ON t_child (x);
CREATE VIEW v AS SELECT id, name FROM t_parent;
"""
USER = "raftsql"


def apply_ddl(sm: StateMachine, sql: str) -> None:
    """Apply DDL the way a node does: translate, then one log entry per statement."""
    index = sm.applied_index
    for t in translate(sql):
        index += 1
        results = sm.apply(index, command.encode(command.Command((command.Stmt(t.sql, ()),))))
        assert results[-1].error is None, results


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    sm = StateMachine(str(Path(tmp_path_factory.mktemp("catalog")) / "db"))
    apply_ddl(sm, SCHEMA)
    return Catalog(sm.path)


def run(catalog: Catalog, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    return list(catalog.execute(sql, params or [], Facts(user=USER)).rows)


def oid(catalog: Catalog, name: str) -> int:
    rows = run(catalog, PSQL["\\d t_parent"][0].replace("t_parent", name))
    assert len(rows) == 1
    assert rows[0][1:] == ("public", name)
    return int(str(rows[0][0]))


def with_oid(query: str, value: int) -> str:
    return query.replace("{oid}", str(value))


def test_list_relations(catalog: Catalog) -> None:
    assert run(catalog, PSQL["\\d"][0]) == [
        ("public", "t_child", "table", USER),
        ("public", "t_child_id_seq", "sequence", USER),
        ("public", "t_parent", "table", USER),
        ("public", "t_parent_id_seq", "sequence", USER),
        ("public", "v", "view", USER),
    ]
    assert run(catalog, PSQL["\\dt"][0]) == [
        ("public", "t_child", "table", USER), ("public", "t_parent", "table", USER)]
    assert run(catalog, PSQL["\\di"][0]) == [
        ("public", "t_child_pkey", "index", USER, "t_child"),
        ("public", "t_child_x_idx", "index", USER, "t_child"),
        ("public", "t_parent_pkey", "index", USER, "t_parent"),
        ("public", "t_parent_tag_key", "index", USER, "t_parent"),
    ]
    assert run(catalog, PSQL["\\dv"][0]) == [("public", "v", "view", USER)]


def test_list_header_names_and_types(catalog: Catalog) -> None:
    result = catalog.execute(PSQL["\\dt"][0], [], Facts())
    assert [c for c, _t in result.columns] == ["Schema", "Name", "Type", "Owner"]
    assert result.type_oids == (o.NAME, o.NAME, o.TEXT, o.NAME)


def test_schemas_databases_roles(catalog: Catalog) -> None:
    assert run(catalog, PSQL["\\dn"][0]) == [("public", "pg_database_owner")]
    assert run(catalog, PSQL["\\l"][0]) == [
        ("raftsql", USER, "UTF8", "C.UTF-8", "C.UTF-8", None, "libc", None)]
    rows = run(catalog, PSQL["\\du"][0])
    # as PostgreSQL shows a role made by CREATE ROLE raftsql SUPERUSER LOGIN
    assert rows == [(USER, 1, 1, 0, 0, 1, -1, None, "[]", 0, 0)]


def test_describe_table_lookup_is_anchored(catalog: Catalog) -> None:
    lookup = PSQL["\\d t_parent"][0]
    assert run(catalog, lookup.replace("^(t_parent)$", "^(t_.*)$"))[0][1:] == ("public", "t_child")
    assert run(catalog, lookup.replace("^(t_parent)$", "^(t_par)$")) == []


def test_describe_table_columns(catalog: Catalog) -> None:
    queries = [with_oid(q, oid(catalog, "t_parent")) for q in PSQL["\\d t_parent"]]
    flags = run(catalog, queries[1])
    assert flags == [(0, "r", 1, 0, 1, 0, 0, 0, 0, "", 0, "", "p", "d", "heap")]
    assert run(catalog, queries[2]) == [
        ("id", "integer", "nextval('t_parent_id_seq'::regclass)", 1, None, "", ""),
        ("name", "character varying(30)", "'none'::character varying", 1, None, "", ""),
        ("tag", "text", None, 0, None, "", ""),
        ("price", "numeric(10,2)", None, 0, None, "", ""),
        ("ts", "timestamp without time zone", None, 0, None, "", ""),
        ("f", "double precision", None, 0, None, "", ""),
        ("b", "boolean", "true", 0, None, "", ""),
        ("n", "integer", "0", 0, None, "", ""),
    ]


def test_describe_table_indexes_and_references(catalog: Catalog) -> None:
    parent = oid(catalog, "t_parent")
    queries = [with_oid(q, parent) for q in PSQL["\\d t_parent"]]
    assert run(catalog, queries[3]) == [
        ("t_parent_pkey", 1, 1, 0, 1,
         "CREATE UNIQUE INDEX t_parent_pkey ON t_parent USING btree (id)", "PRIMARY KEY (id)",
         "p", 0, 0, 0, 0),
        ("t_parent_tag_key", 0, 1, 0, 1,
         "CREATE UNIQUE INDEX t_parent_tag_key ON t_parent USING btree (tag)", "UNIQUE (tag)",
         "u", 0, 0, 0, 0),
    ]
    assert run(catalog, queries[4]) == []  # t_parent has no foreign keys itself
    assert run(catalog, queries[5]) == [
        ("t_child_parent_id_fkey", "t_child",
         "FOREIGN KEY (parent_id) REFERENCES t_parent(id)")]
    for empty in queries[6:]:  # policies, statistics, publications, triggers, inheritance
        assert run(catalog, empty) == []


def test_describe_child_constraints(catalog: Catalog) -> None:
    child = oid(catalog, "t_child")
    queries = [with_oid(q, child) for q in PSQL["\\d t_parent"]]
    assert run(catalog, with_oid(PSQL_CHECKS, child)) == [("ck", "CHECK (x > 0)")]
    assert run(catalog, queries[4]) == [
        (1, "t_child_parent_id_fkey", "FOREIGN KEY (parent_id) REFERENCES t_parent(id)",
         "t_child")]
    rows = run(catalog, queries[3])
    assert [r[0] for r in rows] == ["t_child_pkey", "t_child_x_idx"]
    assert rows[1][5] == "CREATE INDEX t_child_x_idx ON t_child USING btree (x)"
    assert rows[1][6] is None  # not a constraint's index


def test_foreign_keys_mark_both_tables_as_having_triggers(catalog: Catalog) -> None:
    """psql prints 'Foreign-key constraints' / 'Referenced by' only when relhastriggers."""
    flags = PSQL["\\d t_parent"][1]
    for name in ("t_parent", "t_child"):
        assert run(catalog, with_oid(flags, oid(catalog, name)))[0][4] == 1


def test_information_schema_and_star(catalog: Catalog) -> None:
    """information_schema as PostgreSQL 15 fills it (information_schema.sql: tables, columns,
    table_constraints, key_column_usage); `*` expands to the catalog table's columns."""
    assert run(catalog, "select table_name, table_type from information_schema.tables "
                        "where table_schema = 'public' order by 1") == [
        ("t_child", "BASE TABLE"), ("t_parent", "BASE TABLE"), ("v", "VIEW")]
    assert run(catalog, "select column_name, data_type, is_nullable, character_maximum_length "
                        "from information_schema.columns where table_name = 't_parent' "
                        "and ordinal_position <= 2 order by ordinal_position") == [
        ("id", "integer", "NO", None), ("name", "character varying", "NO", 30)]
    assert run(catalog, "select kcu.column_name from information_schema.table_constraints tc "
                        "join information_schema.key_column_usage kcu using (constraint_name) "
                        "where tc.constraint_type = 'FOREIGN KEY'") == [("parent_id",)]
    result = catalog.execute("select * from pg_catalog.pg_tables where tablename = 't_parent'")
    assert [c for c, _t in result.columns][:3] == ["schemaname", "tablename", "tableowner"]
    assert result.rows == (("public", "t_parent", USER, None, 1, 0, 1, 0),)


def test_index_relation_describes_its_columns(catalog: Catalog) -> None:
    """psql `\\d t_parent_pkey` reads the index's own pg_attribute rows."""
    pkey = oid(catalog, "t_parent_pkey")
    assert run(catalog, f"select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
                        f"pg_catalog.pg_get_indexdef(a.attrelid, a.attnum, true) "
                        f"from pg_catalog.pg_attribute a where a.attrelid = '{pkey}'") == [
        ("id", "integer", "id")]
