"""The write path's memoised schema view (raftsql/node/database.py, _SchemaCache).

Source of truth: the uncached SqliteSchemaInfo on the same database, and SQLite's rule that
every schema change increments PRAGMA schema_version (sqlite.org/pragma.html#pragma_schema_version):
after any DDL the cache must answer exactly what a fresh lookup answers."""

from __future__ import annotations

from pathlib import Path

from raftsql.node.database import _SchemaCache
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.raft.types import Entry
from raftsql.sql.authorizer import Profile
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.determinism import SqliteSchemaInfo
from raftsql.sql.engine import open_connection


def test_cache_follows_schema_changes(tmp_path: Path) -> None:
    sm = SqlStateMachine(tmp_path / "sql")
    conn, _ = open_connection(sm.path, Profile.READ)
    cache = _SchemaCache(conn)
    index = 0

    def ddl(sql: str) -> None:
        nonlocal index
        index += 1
        sm.apply_entries([Entry(term=1, index=index, data=encode(Command((Stmt(sql),))))])

    def same() -> None:
        fresh, cached = SqliteSchemaInfo(conn), cache.current()
        for table in ("kv", "KV", "other"):
            assert list(cached.columns(table)) == list(fresh.columns(table))
            assert dict(cached.nondeterministic_defaults(table)) == dict(
                fresh.nondeterministic_defaults(table))
            assert cached.table_sql(table) == fresh.table_sql(table)
            assert list(cached.index_sqls(table)) == list(fresh.index_sqls(table))

    try:
        same()  # no tables yet
        ddl("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)")
        same()
        assert list(cache.current().columns("kv")) == ["k", "v"]
        ddl("ALTER TABLE kv ADD COLUMN w INTEGER DEFAULT 7")
        same()
        assert list(cache.current().columns("kv")) == ["k", "v", "w"]
        ddl("CREATE INDEX kv_v ON kv (v)")
        same()
        assert len(cache.current().index_sqls("kv")) == 1
        ddl("DROP TABLE kv")
        same()
        assert list(cache.current().columns("kv")) == []
    finally:
        conn.close()
        sm.close()
