"""The write path's memoised schema view (raftsql/node/database.py, _SchemaCache).

Source of truth: the uncached SqliteSchemaInfo on the same database: after any DDL the state
machine applied (alone, inside a multi-statement entry, failed) or a restored snapshot, the cache
keyed by StateMachine.schema_generation must answer exactly what a fresh lookup answers; and
SQLite's PRAGMA schema_version, which moves on every schema change
(sqlite.org/pragma.html#pragma_schema_version): the generation moves whenever it does."""

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

    def ddl(*sql: str) -> None:
        nonlocal index
        index += 1
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        generation = sm.db.schema_generation
        sm.apply_entries([Entry(term=1, index=index,
                                data=encode(Command(tuple(Stmt(q) for q in sql))))])
        if conn.execute("PRAGMA schema_version").fetchone()[0] != version:
            assert sm.db.schema_generation != generation, sql

    def same() -> None:
        fresh, cached = SqliteSchemaInfo(conn), cache.current(sm.db.schema_generation)
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
        assert list(cache.current(sm.db.schema_generation).columns("kv")) == ["k", "v"]
        ddl("ALTER TABLE kv ADD COLUMN w INTEGER DEFAULT 7")
        same()
        assert list(cache.current(sm.db.schema_generation).columns("kv")) == ["k", "v", "w"]
        ddl("CREATE INDEX kv_v ON kv (v)")
        same()
        assert len(cache.current(sm.db.schema_generation).index_sqls("kv")) == 1
        ddl("INSERT INTO kv (k, v) VALUES (1, 'a')", "ALTER TABLE kv RENAME COLUMN w TO x")
        same()
        assert list(cache.current(sm.db.schema_generation).columns("kv")) == ["k", "v", "x"]
        ddl("ALTER TABLE kv ADD COLUMN y INTEGER", "INSERT INTO nowhere VALUES (1)")  # fails
        same()
        ddl("UPDATE kv SET v = 'b'")  # no schema change, none counted
        same()
        snapshot = tmp_path / "copy.sqlite"
        sm.db.snapshot_to(str(snapshot))
        ddl("DROP TABLE kv")
        same()
        assert list(cache.current(sm.db.schema_generation).columns("kv")) == []
        sm.db.restore_from(str(snapshot))  # the table is back
        same()
        assert list(cache.current(sm.db.schema_generation).columns("kv")) == ["k", "v", "x"]
    finally:
        conn.close()
        sm.close()
