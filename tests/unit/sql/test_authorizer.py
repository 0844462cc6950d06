"""The authorizer (raftsql/sql/authorizer.py): refusals and read/write tracking.

Sources of truth: ARCHITECTURE.md "Determinism" (ATTACH, load_extension, writable PRAGMAs,
VACUUM INTO and temp files by path are refused with a clear error); sqlite.org/c3ref/
c_alter_table.html (the action codes and their arguments); PostgreSQL SQLSTATEs 42501
insufficient_privilege and 0A000 feature_not_supported.
"""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from raftsql.sql.apply import StateMachine
from raftsql.sql.authorizer import Authorizer, Profile
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.engine import open_connection
from raftsql.sql.execute import run_statement


def cmd(*sql: str) -> bytes:
    return encode(Command(tuple(Stmt(s) for s in sql)))


@pytest.fixture
def sm(tmp_path: Path) -> StateMachine:
    machine = StateMachine(str(tmp_path / "db"))
    machine.apply(
        1, cmd("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "CREATE INDEX t_v ON t (v)")
    )
    return machine


REFUSED = [
    ("ATTACH 'other.db' AS other", "0A000"),
    ("ATTACH ':memory:' AS m", "0A000"),
    ("DETACH main", "0A000"),
    ("VACUUM INTO '{dir}/copy.db'", "25001"),  # SQLite refuses it inside the entry first
    ("SELECT load_extension('/tmp/evil.so')", "0A000"),
    ("PRAGMA journal_mode = DELETE", "42501"),
    ("PRAGMA synchronous = OFF", "42501"),
    ("PRAGMA user_version = 3", "42501"),
    ("PRAGMA writable_schema = ON", "42501"),
    ("PRAGMA foreign_keys = OFF", "42501"),
    ("PRAGMA temp_store_directory = '/tmp'", "42501"),
    ("PRAGMA query_only = OFF", "42501"),
    ("CREATE TEMP TABLE tt (a)", "0A000"),
    ("CREATE TEMP VIEW tv AS SELECT 1", "0A000"),
    ("BEGIN", "0A000"),
    ("COMMIT", "0A000"),
    ("SAVEPOINT x", "0A000"),
    ("INSERT INTO _raftsql_meta VALUES (2, 0, '', 1)", "42501"),
    ("UPDATE _raftsql_meta SET applied_index = 99", "42501"),
    ("DELETE FROM _raftsql_sessions", "42501"),
    ("DROP TABLE _raftsql_table_versions", "42501"),
    ("CREATE INDEX evil ON _raftsql_sessions (seq)", "42501"),
    ("CREATE TABLE _raftsql_mine (a)", "42501"),
    # their values are written once per batch (apply.py), so a replicated read is refused
    ("SELECT * FROM _raftsql_meta", "42501"),
    ("SELECT count(*) FROM _raftsql_sessions", "42501"),
    ("INSERT INTO t (v) SELECT idx FROM _raftsql_table_versions", "42501"),
    ("INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, '')", "42501"),
    ("INSERT INTO t (v) VALUES (random())", "0A000"),
    ("INSERT INTO t (v) VALUES (hex(randomblob(4)))", "0A000"),
    ("SELECT last_insert_rowid()", "0A000"),
    ("SELECT total_changes()", "0A000"),
    ("CREATE VIRTUAL TABLE v USING dbstat", "0A000"),
]


@pytest.mark.parametrize(("sql", "sqlstate"), REFUSED)
def test_replicated_entries_refuse(
    sm: StateMachine, tmp_path: Path, sql: str, sqlstate: str
) -> None:
    before = sm.checksum()
    res = sm.apply(2, cmd(sql.format(dir=tmp_path)))
    assert res[-1].error is not None and res[-1].error[0] == sqlstate, res
    assert "not authorized" not in res[-1].error[1]  # the reason is spelled out
    assert sm.checksum() == before and sm.applied_index == 2
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "other.db").exists()
    with sm._auth.internal():
        assert list(sm._conn.execute("PRAGMA foreign_keys")) == [(1,)]
        assert list(sm._conn.execute("PRAGMA journal_mode")) == [("wal",)]


def test_a_trigger_cannot_write_internal_tables(sm: StateMachine) -> None:
    """Trigger bodies are authorized when the statement that fires them is compiled."""
    res = sm.apply(
        2,
        cmd(
            "CREATE TRIGGER sneaky AFTER INSERT ON t BEGIN "
            "UPDATE _raftsql_meta SET applied_index = 0; END"
        ),
    )
    assert res[0].error is None  # creating it is harmless ...
    res = sm.apply(3, cmd("INSERT INTO t (v) VALUES ('x')"))
    assert res[0].error is not None and res[0].error[0] == "42501"  # ... firing it is refused
    assert sm.applied_index == 3


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA table_info(t)",
        "PRAGMA index_list(t)",
        "PRAGMA foreign_key_list(t)",
        "PRAGMA user_version",
        "SELECT * FROM pragma_table_info('t')",
        "CREATE VIRTUAL TABLE docs USING fts5(body)",
        "SELECT count(*) FROM sqlite_master",
    ],
)
def test_allowed_statements(sm: StateMachine, sql: str) -> None:
    res = sm.apply(2, cmd(sql))
    assert res[0].error is None, res


def tracked(conn: apsw.Connection, auth: Authorizer, sql: str) -> tuple[set[str], set[str]]:
    run_statement(conn, auth, sql)
    return auth.reads, auth.writes


def test_tracking_sees_views_triggers_and_cascades(tmp_path: Path) -> None:
    StateMachine(str(tmp_path / "db")).close()
    conn, auth = open_connection(str(tmp_path / "db"), Profile.APPLY)
    with auth.internal():
        conn.execute(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, n INTEGER);"
            "CREATE TABLE c (p INTEGER REFERENCES p(id) ON DELETE CASCADE);"
            "CREATE TABLE audit (x);"
            "CREATE VIEW pv AS SELECT n FROM p;"
            "CREATE TRIGGER pa AFTER UPDATE ON p BEGIN INSERT INTO audit VALUES (new.n); END;"
        )
    assert tracked(conn, auth, "SELECT * FROM pv") == ({"p", "pv"}, set())
    assert tracked(conn, auth, "SELECT count(*) FROM c") == ({"c"}, set())
    assert tracked(conn, auth, "UPDATE p SET n = 1 WHERE id = 5") == ({"p"}, {"p", "audit"})
    reads, writes = tracked(conn, auth, "DELETE FROM p WHERE id = 5")
    assert writes == {"p", "c"} and "c" in reads
    assert tracked(conn, auth, "CREATE INDEX pn ON p (n)")[1] == {"p", "sqlite_master"}
    assert tracked(conn, auth, "ALTER TABLE audit ADD COLUMN y")[1] == {"audit", "sqlite_master"}


def test_sql_error_is_mapped_not_left_as_not_authorized(tmp_path: Path) -> None:
    StateMachine(str(tmp_path / "db")).close()
    conn, auth = open_connection(str(tmp_path / "db"), Profile.APPLY)
    with pytest.raises(apsw.AuthError):
        run_statement(conn, auth, "ATTACH ':memory:' AS x")
    assert auth.denial is not None and auth.denial[0] == "0A000"
    conn.close()


def test_vacuum_into_outside_a_transaction_is_refused(tmp_path: Path) -> None:
    """VACUUM INTO reaches the authorizer as an ATTACH of its target path."""
    StateMachine(str(tmp_path / "db")).close()
    for profile in Profile:
        conn, auth = open_connection(str(tmp_path / "db"), profile)
        with pytest.raises(apsw.AuthError):
            run_statement(conn, auth, f"VACUUM INTO '{tmp_path}/copy.db'")
        assert auth.denial is not None and auth.denial[0] == "0A000"
        assert not (tmp_path / "copy.db").exists()
        conn.close()
