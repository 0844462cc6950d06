"""The SQLite state machine (raftsql/sql/apply.py): determinism, exactly-once, dedup, failures.

Sources of truth: Raft thesis (Ongaro 2014) section 6.3 "Implementing linearizable semantics"
for client sessions and deduplication; Raft paper section 5.3 / Figure 2 ("If commitIndex >
lastApplied: increment lastApplied, apply log[lastApplied] to state machine") for in-order,
exactly-once apply; PostgreSQL Appendix A (errcodes) for the SQLSTATEs; ARCHITECTURE.md
"Determinism" for equal state from an equal log.
"""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from raftsql.sql.apply import ApplyOrderError, EngineVersionMismatch, StateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.engine import ENGINE_VERSION
from raftsql.sql.sqlite_errors import classify


def cmd(*stmts: str | tuple[str, tuple]) -> bytes:
    out = []
    for s in stmts:
        out.append(Stmt(s) if isinstance(s, str) else Stmt(s[0], s[1]))
    return encode(Command(tuple(out)))


SCHEMA = cmd(
    "CREATE TABLE acct (id INTEGER PRIMARY KEY, owner TEXT NOT NULL UNIQUE, "
    "balance INTEGER NOT NULL CHECK (balance >= 0))",
    "CREATE TABLE tx (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "acct INTEGER NOT NULL REFERENCES acct(id) ON DELETE CASCADE, amount INTEGER)",
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID",
    "CREATE TRIGGER tx_log AFTER UPDATE OF balance ON acct BEGIN "
    "INSERT INTO tx (acct, amount) VALUES (new.id, new.balance - old.balance); END",
)

LOG = [
    SCHEMA,
    cmd(("INSERT INTO acct (owner, balance) VALUES (?, ?), (?, ?)", ("ann", 100, "bob", 50))),
    cmd("UPDATE acct SET balance = balance - 30 WHERE owner = 'ann'"),
    cmd(("INSERT INTO kv VALUES (?, ?)", ("k1", b"\x00\xff"))),
    cmd("INSERT INTO acct (owner, balance) VALUES ('ann', 1)"),  # 23505, recorded, no effect
    cmd("UPDATE acct SET balance = balance - 1000 WHERE owner = 'bob'"),  # 23514
    b"\x07not a command",
    cmd(("INSERT INTO kv VALUES (?, ?)", ("k0", 1.5)), "DELETE FROM acct WHERE owner = 'bob'"),
    # bob (id 2) was deleted: SQLite reuses max(rowid) + 1 = 2, the same on every node
    cmd("INSERT INTO acct (owner, balance) VALUES ('cy', 7) RETURNING id, owner"),
]


def fresh(tmp_path: Path, name: str, **kw: int) -> StateMachine:
    return StateMachine(str(tmp_path / name), **kw)


def apply_all(sm: StateMachine, log: list[bytes], start: int = 1) -> list:
    return [sm.apply(i, data) for i, data in enumerate(log, start)]


def rows(sm: StateMachine, sql: str) -> list[tuple]:
    with sm._auth.internal():  # test-only peek at the applied state
        return [tuple(r) for r in sm._conn.execute(sql)]


def test_two_fresh_nodes_reach_equal_state_and_results(tmp_path: Path) -> None:
    """ARCHITECTURE.md 'Determinism': the same log gives the same state on every node."""
    a, b = fresh(tmp_path, "a"), fresh(tmp_path, "b")
    assert apply_all(a, LOG) == apply_all(b, LOG)
    assert a.checksum() == b.checksum()
    assert a.applied_index == b.applied_index == len(LOG)
    b.apply(len(LOG) + 1, cmd("UPDATE kv SET v = 'x' WHERE k = 'k0'"))
    assert a.checksum() != b.checksum()  # the hash does see content


def test_checksum_distinguishes_storage_classes(tmp_path: Path) -> None:
    a, b = fresh(tmp_path, "a"), fresh(tmp_path, "b")
    for sm, value in ((a, 1), (b, "1")):
        sm.apply(1, cmd("CREATE TABLE t (v)", ("INSERT INTO t VALUES (?)", (value,))))
    assert a.checksum() != b.checksum()


def test_results_are_the_statements_results(tmp_path: Path) -> None:
    results = apply_all(fresh(tmp_path, "a"), LOG)
    assert results[1][0].rowcount == 2 and results[1][0].lastrowid == 2
    assert results[2][0].rowcount == 1 and results[2][0].lastrowid is None
    assert results[4][0].error is not None and results[4][0].error[0] == "23505"
    assert results[5][0].error is not None and results[5][0].error[0] == "23514"
    assert results[6][0].error is not None and results[6][0].error[0] == "XX001"
    last = results[8][0]
    assert last.columns == (("id", "INTEGER"), ("owner", "TEXT"))
    assert last.rows == ((2, "cy"),) and last.rowcount == 1 and last.error is None


def test_failed_entry_changes_nothing_but_advances_applied_index(tmp_path: Path) -> None:
    """A failure is all-or-nothing for the entry and never wedges the loop."""
    sm = fresh(tmp_path, "a")
    apply_all(sm, LOG[:2])
    before = sm.checksum()
    versions = sm.table_versions()
    res = sm.apply(
        3,
        cmd(
            "UPDATE acct SET balance = 0 WHERE owner = 'ann'",
            "INSERT INTO acct (owner, balance) VALUES (NULL, 1)",
        ),
    )
    assert res[0].error is None and res[1].error is not None and res[1].error[0] == "23502"
    assert sm.checksum() == before and sm.table_versions() == versions
    assert sm.applied_index == 3
    assert sm.apply(4, cmd("UPDATE acct SET balance = 1 WHERE owner = 'ann'"))[0].error is None
    assert rows(sm, "SELECT balance FROM acct WHERE owner = 'ann'") == [(1,)]


def test_conflict_clause_rollback_does_not_wedge(tmp_path: Path) -> None:
    """INSERT OR ROLLBACK ends SQLite's whole transaction; the entry must still be recorded."""
    sm = fresh(tmp_path, "a")
    apply_all(sm, LOG[:2])
    res = sm.apply(3, cmd("INSERT OR ROLLBACK INTO acct (owner, balance) VALUES ('ann', 1)"))
    assert res[0].error is not None and res[0].error[0] == "23505"
    assert sm.applied_index == 3
    sm.close()
    assert StateMachine(str(tmp_path / "a")).applied_index == 3


@pytest.mark.parametrize(
    ("setup", "sql", "sqlstate"),
    [
        ("CREATE TABLE t (a INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1), (1)", "23505"),
        ("CREATE TABLE t (a NOT NULL)", "INSERT INTO t VALUES (NULL)", "23502"),
        (
            "CREATE TABLE p (a INTEGER PRIMARY KEY); CREATE TABLE t (a REFERENCES p(a))",
            "INSERT INTO t VALUES (9)",
            "23503",
        ),
        ("CREATE TABLE t (a CHECK (a > 0))", "INSERT INTO t VALUES (0)", "23514"),
        ("CREATE TABLE t (a)", "SELECT * FROM nope", "42P01"),
        ("CREATE TABLE t (a)", "SELECT nope FROM t", "42703"),
        ("CREATE TABLE t (a)", "CREATE TABLE t (b)", "42P07"),
        ("CREATE TABLE t (a)", "SELEC 1", "42601"),
        ("CREATE TABLE t (a)", "SELECT no_such_fn(1)", "42883"),
        ("CREATE TABLE t (a)", "SELECT pg_div(1, 0)", "22012"),
        ("CREATE TABLE t (a INTEGER PRIMARY KEY)", "INSERT INTO t VALUES ('x')", "42804"),
        ("CREATE TABLE t (a INTEGER) STRICT", "INSERT INTO t VALUES ('x')", "22P02"),
        ("CREATE TABLE t (a)", "INSERT INTO sqlite_master VALUES (1, 2, 3, 4, 5)", "42501"),
    ],
)
def test_sqlite_errors_map_to_postgres_sqlstates(
    tmp_path: Path, setup: str, sql: str, sqlstate: str
) -> None:
    a, b = fresh(tmp_path, "a"), fresh(tmp_path, "b")
    for sm in (a, b):
        sm.apply(1, cmd(*setup.split("; ")))
    ra, rb = a.apply(2, cmd(sql)), b.apply(2, cmd(sql))
    assert ra == rb  # identical on every node
    assert ra[-1].error is not None and ra[-1].error[0] == sqlstate, ra
    assert a.checksum() == b.checksum()


def test_node_local_errors_are_not_classified_as_results() -> None:
    for exc in (apsw.FullError("disk"), apsw.IOError("io"), apsw.CorruptError("x"), MemoryError()):
        assert classify(exc) is None


def test_replayed_index_is_a_noop(tmp_path: Path) -> None:
    """Raft Figure 2: each index is applied once; replays after a crash are skipped."""
    sm = fresh(tmp_path, "a")
    apply_all(sm, LOG[:2])
    digest = sm.checksum()
    assert sm.apply(2, LOG[1]) == []
    assert sm.apply(1, LOG[0]) == []
    sm.apply_noop(2)
    assert sm.checksum() == digest and sm.applied_index == 2


def test_gap_is_refused(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    with pytest.raises(ApplyOrderError):
        sm.apply(2, LOG[0])
    with pytest.raises(ApplyOrderError):
        sm.apply_noop(5)
    assert sm.applied_index == 0


def test_noop_entries_advance_the_index_durably(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    sm.apply_noop(1)
    sm.apply(2, LOG[0])
    sm.apply_noop(3)
    sm.close()
    assert StateMachine(str(tmp_path / "a")).applied_index == 3


def test_duplicate_client_request_returns_first_result(tmp_path: Path) -> None:
    """Thesis 6.3: a retried (client_id, seq) committed twice is executed once."""
    sm = fresh(tmp_path, "a")
    sm.apply(1, SCHEMA)
    ins = cmd("INSERT INTO acct (owner, balance) VALUES ('dee', 5) RETURNING id")
    first = sm.apply(2, ins, "client-1", 1)
    again = sm.apply(3, ins, "client-1", 1)  # the retry, committed at a later index
    assert again == first and first[0].rows == ((1,),)
    assert rows(sm, "SELECT count(*) FROM acct") == [(1,)]
    assert sm.applied_index == 3
    # a replay of index 2 after a crash still reports the stored result
    assert sm.apply(2, ins, "client-1", 1) == first
    # the next request is applied; a failed request's result is stored as well
    assert sm.apply(4, ins, "client-1", 2)[0].error[0] == "23505"
    assert sm.apply(5, ins, "client-1", 2)[0].error[0] == "23505"
    assert rows(sm, "SELECT count(*) FROM acct") == [(1,)]


def test_stored_results_are_bounded(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    big = cmd(
        "CREATE TABLE big (i INTEGER PRIMARY KEY, pad BLOB)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
        "INSERT INTO big SELECT i, zeroblob(500) FROM n RETURNING i, pad",
    )
    first = sm.apply(1, big, "c", 1)
    assert len(first[1].rows) == 3000  # the proposer gets every row ...
    again = sm.apply(2, big, "c", 1)
    assert again[1].rows == () and again[1].rowcount == 3000  # ... a retry only the tag
    assert rows(sm, "SELECT count(*) FROM big") == [(3000,)]


def test_stale_client_request_is_refused_not_applied(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    sm.apply(1, SCHEMA)
    sm.apply(2, cmd("INSERT INTO acct (owner, balance) VALUES ('a', 1)"), "c", 5)
    res = sm.apply(3, cmd("INSERT INTO acct (owner, balance) VALUES ('b', 1)"), "c", 4)
    assert res[0].error is not None and res[0].error[0] == "40001"
    assert rows(sm, "SELECT owner FROM acct") == [("a",)]
    # other clients are independent
    assert (
        sm.apply(4, cmd("INSERT INTO acct (owner, balance) VALUES ('b', 1)"), "d", 1)[0].error
        is None
    )


def test_table_versions_follow_writes_including_triggers_and_cascades(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    apply_all(sm, LOG[:2])
    sm.apply(3, cmd("UPDATE acct SET balance = 1 WHERE id = 1"))  # trigger writes tx
    v = sm.table_versions()
    assert v["acct"] == 3 and v["tx"] == 3 and v["sqlite_master"] == 1
    sm.apply(4, cmd("SELECT * FROM acct"))
    assert sm.table_versions() == v  # a read bumps nothing
    sm.apply(5, cmd("DELETE FROM acct WHERE id = 1"))  # cascades into tx
    assert sm.table_versions()["tx"] == 5


def test_checkpoints_agree_across_nodes(tmp_path: Path) -> None:
    a, b = fresh(tmp_path, "a", checkpoint_every=3), fresh(tmp_path, "b", checkpoint_every=3)
    apply_all(a, LOG)
    apply_all(b, LOG)
    assert a.wait_for_checkpoints(timeout=10) and b.wait_for_checkpoints(timeout=10)
    assert [i for i, _ in a.checkpoints()] == [3, 6, 9]
    assert a.checkpoints() == b.checkpoints()


def test_snapshot_and_restore(tmp_path: Path) -> None:
    src = fresh(tmp_path, "src")
    apply_all(src, LOG[:5])
    at_snapshot = src.checksum()
    assert src.snapshot_to(str(tmp_path / "snap.db")) == 5
    apply_all(src, LOG[5:], start=6)  # the source moves on
    dst = fresh(tmp_path, "dst")
    dst.apply(1, cmd("CREATE TABLE junk (x)"))  # a node with other state is overwritten
    assert dst.restore_from(str(tmp_path / "snap.db")) == 5
    assert dst.applied_index == 5 and dst.checksum() == at_snapshot
    assert rows(dst, "PRAGMA journal_mode") == [("wal",)]  # still the apply configuration
    apply_all(dst, LOG[5:], start=6)
    assert dst.checksum() == src.checksum()
    dst.close()
    assert StateMachine(str(tmp_path / "dst")).checksum() == src.checksum()


def test_snapshot_is_one_consistent_point_while_apply_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries commit between the backup's steps (apply is not blocked), yet the copy is the
    single read snapshot taken at its start (sqlite.org/backup.html, WAL read transactions)."""
    import raftsql.sql.apply as apply_mod

    sm = fresh(tmp_path, "a")
    sm.apply(1, cmd("CREATE TABLE big (i INTEGER PRIMARY KEY, pad BLOB)"))
    sm.apply(
        2,
        cmd(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 400) INSERT INTO big SELECT i, zeroblob(500) FROM n"
        ),
    )
    expected = sm.checksum()
    steps = iter(range(3, 1000))

    def apply_between_steps(source: apsw.Connection, path: str) -> None:
        dest = apsw.Connection(path)
        with dest.backup("main", source, "main") as backup:
            while not backup.done:
                i = next(steps)
                sm.apply(i, cmd(f"DELETE FROM big WHERE i = {i}"))
                backup.step(4)
        dest.close()

    monkeypatch.setattr(apply_mod, "backup_to_file", apply_between_steps)
    assert sm.snapshot_to(str(tmp_path / "snap.db")) == 2
    assert sm.applied_index > 10  # many entries committed while the backup ran
    other = fresh(tmp_path, "b")
    other.restore_from(str(tmp_path / "snap.db"))
    assert other.checksum() == expected


def test_engine_version_is_recorded_and_a_mismatch_refused(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    assert sm.engine_version == ENGINE_VERSION == apsw.sqlite_lib_version()
    sm.close()
    raw = apsw.Connection(str(tmp_path / "a"))
    raw.execute("UPDATE _raftsql_meta SET sqlite_version = '3.0.0'")
    raw.close()
    with pytest.raises(EngineVersionMismatch):
        StateMachine(str(tmp_path / "a"))
    sm = StateMachine(str(tmp_path / "a"), allow_engine_mismatch=True)
    assert sm.stored_engine_version == "3.0.0"
    sm.close()
    StateMachine(str(tmp_path / "a")).close()  # the mismatch was acknowledged and recorded


def test_flush_reports_the_durable_index(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    apply_all(sm, LOG[:3])
    assert sm.flush() == 3
