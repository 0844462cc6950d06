"""Interactive transactions on pooled, statement-caching connections (issue 8): partial replay,
cached authorizer findings, the connection pool.

Sources of truth: docs/transactions.md section 2 (a statement sees every earlier write of its
transaction; the command is validated by value at apply); authorizer.py / docs/transactions.md
section 4 (what a transaction connection refuses, whether or not a statement was cached);
sqlite.org/c3ref/set_authorizer.html (the authorizer is consulted only when a statement is
compiled, so a cached statement needs its findings kept elsewhere).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_txn import Node

from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.errors import SqlError
from raftsql.sql.txn import Transaction, TxnState


@pytest.fixture
def node(tmp_path: Path) -> Node:
    n = Node(tmp_path / "db")
    n.write(
        "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)",
        "INSERT INTO acct VALUES (1, 0), (2, 0)",
        "CREATE TABLE teller (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)",
        "INSERT INTO teller VALUES (1, 0)",
        "CREATE TABLE hist (id INTEGER, delta INTEGER)",
    )
    return n


def _tpcb(txn: Transaction, delta: int) -> int:
    """pgbench's TPC-B shape: the SELECT reads the account the transaction just updated."""
    txn.execute("UPDATE acct SET bal = bal + ? WHERE id = 1", (delta,))
    txn.execute("UPDATE teller SET bal = bal + ? WHERE id = 1", (delta,))
    txn.execute("INSERT INTO hist VALUES (1, ?)", (delta,))
    return int(txn.execute("SELECT bal FROM acct WHERE id = 1").rows[0][0])  # type: ignore[arg-type]


def test_interleaved_transactions_see_their_own_writes(node: Node) -> None:
    """Two transactions alternate statement by statement, so each parks the other before
    every statement (one SQLite writer): each still sees all of its own earlier writes. The
    second round runs on warm connections whose cached statements' findings pick the writes
    a statement needs (the SELECT needs the account update two statements back)."""
    upd_acct = "UPDATE acct SET bal = bal + ? WHERE id = ?"
    upd_teller = "UPDATE teller SET bal = bal + ? WHERE id = 1"
    ins_hist = "INSERT INTO hist VALUES (?, ?)"
    sel = "SELECT bal, (SELECT count(*) FROM hist WHERE id = ?) FROM acct WHERE id = ?"
    for round_ in range(3):
        a, b = node.begin(), node.begin()
        a.execute(upd_acct, (10, 1))
        b.execute(upd_acct, (5, 2))
        a.execute(upd_teller, (10,))
        b.execute(upd_teller, (5,))
        a.execute(ins_hist, (1, 10))
        b.execute(ins_hist, (2, 5))
        assert a.execute(sel, (1, 1)).rows == ((10 * round_ + 10, round_ + 1),)
        assert b.execute(sel, (2, 2)).rows == ((5 * round_ + 5, round_ + 1),)
        assert node.commit(a) is None
        # b's teller update is blind (bal = bal + 5): the same row count after a's commit
        assert node.commit(b) is None


def test_cached_statement_keeps_its_findings(node: Node) -> None:
    """The second run of a statement comes from the cache (no authorizer call): it is still
    recorded as a write with its table, with PostgreSQL's row count for UPDATE."""
    for expected in (1, 2):
        txn = node.begin()
        r = txn.execute("UPDATE acct SET bal = bal + 1 WHERE id = 1")
        assert r.rowcount == 1
        assert txn.write_tables == {"acct"}
        assert [s.sql for s in txn.statements] == ["UPDATE acct SET bal = bal + 1 WHERE id = 1"]
        assert node.commit(txn) is None
        check = node.begin()
        assert check.execute("SELECT bal FROM acct WHERE id = 1").rows == ((expected,),)
        check.rollback()


@pytest.mark.parametrize(
    "sql, sqlstate",
    [
        ("SELECT applied_index FROM _raftsql_meta", "42501"),  # the transaction's own read
        ("PRAGMA query_only=OFF", "42501"),  # the transaction's own setting
        ("PRAGMA foreign_keys=ON", "42501"),  # set by engine.open_connection
    ],
)
def test_internal_statement_text_is_still_refused(node: Node, sql: str, sqlstate: str) -> None:
    """raftsql runs these texts itself on the same connection, past the authorizer; a client
    sending the same text must still be refused (authorizer.py: internal statements are never
    cached). Before and after a write, and on a reused connection."""
    for _ in range(2):
        txn = node.begin()
        with pytest.raises(SqlError) as exc:
            txn.execute(sql)
        assert exc.value.sqlstate == sqlstate
        txn.rollback()
        txn = node.begin()
        txn.execute("UPDATE acct SET bal = bal WHERE id = 1")
        with pytest.raises(SqlError) as exc:
            txn.execute(sql)
        assert exc.value.sqlstate == sqlstate
        txn.rollback()


def test_denied_statement_stays_denied_when_repeated(node: Node) -> None:
    """A denied statement never compiles, so it is never cached: the second try is asked
    about again (docs/transactions.md section 4: random() is refused in a transaction)."""
    for _ in range(3):
        txn = node.begin()
        with pytest.raises(SqlError) as exc:
            txn.execute("UPDATE acct SET bal = random() WHERE id = 1")
        assert exc.value.sqlstate == "0A000"
        txn.rollback()


def test_statement_whose_dependencies_grew_runs_on_all_writes(node: Node) -> None:
    """A trigger added after a statement was cached makes it depend on a table the
    transaction wrote earlier. Its last compile said otherwise, so it first runs on a view
    without that write; the recompile shows the new dependency and it runs again on all of the
    transaction's writes, as a serial execution would (docs/transactions.md section 2)."""
    warm = node.begin()
    warm.execute("INSERT INTO hist VALUES (9, 9)")  # compiled and cached: depends on hist only
    warm.rollback()
    node.write(
        "CREATE TRIGGER hist_guard BEFORE INSERT ON hist "
        "WHEN (SELECT bal FROM acct WHERE id = 1) = 0 "
        "BEGIN SELECT RAISE(ABORT, 'account 1 is empty'); END"
    )
    txn = node.begin()
    txn.execute("UPDATE acct SET bal = 7 WHERE id = 1")
    other = node.begin()
    other.execute("UPDATE teller SET bal = 1 WHERE id = 1")  # parks txn
    txn.execute("INSERT INTO hist VALUES (9, 9)")  # succeeds only if it sees bal = 7
    other.rollback()
    assert node.commit(txn) is None


def test_foreign_key_parent_written_earlier_is_seen(node: Node) -> None:
    """The foreign key check reads the parent table (SQLite asks the authorizer about it), so
    a cached child insert needs the parent inserted earlier in the transaction."""
    node.write("CREATE TABLE parent (id INTEGER PRIMARY KEY)",
               "CREATE TABLE child (pid INTEGER REFERENCES parent(id))")
    warm = node.begin()
    with pytest.raises(SqlError):
        warm.execute("INSERT INTO child VALUES (1)")  # 23503 here: no parent yet
    warm.rollback()
    txn = node.begin()
    txn.execute("INSERT INTO parent VALUES (1)")
    other = node.begin()
    other.execute("UPDATE teller SET bal = 1 WHERE id = 1")  # parks txn
    txn.execute("INSERT INTO child VALUES (1)")
    other.rollback()
    assert node.commit(txn) is None


def test_tpcb_results_match_the_committed_state(node: Node) -> None:
    """Three TPC-B transactions interleaved: every SELECT shows the client's own update on
    top of what was committed before, and all commit (validation by value at apply)."""
    txns = [node.begin() for _ in range(3)]
    seen = [_tpcb(t, d) for t, d in zip(txns, (1, 10, 100), strict=True)]
    assert seen == [1, 10, 100]  # none committed yet: each sees only its own +delta
    assert node.commit(txns[0]) is None
    # the others saw bal = their own delta, which a serial run after the first no longer shows
    errors = [node.commit(t) for t in txns[1:]]
    assert [e[0] if e else None for e in errors] == ["40001", "40001"]
    retry = node.begin()
    assert _tpcb(retry, 10) == 11
    assert node.commit(retry) is None


def test_pool_reuses_connections_and_notices_a_replaced_file(tmp_path: Path) -> None:
    """A finished transaction's connection serves the next one; a database file replaced at
    the same path (a fresh directory) is not read through the old file's connection."""
    path = tmp_path / "db"
    first = Node(path)
    first.write("CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1)")
    a = first.begin()
    conn = a._file
    a.rollback()
    b = first.begin()
    assert b._file is conn
    b.rollback()
    first.sm.close()
    shutil.rmtree(tmp_path)
    os.makedirs(tmp_path)
    second = Node(path)
    second.write("CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (2)")
    c = second.begin()
    assert c._file is not conn
    assert c.execute("SELECT x FROM t").rows == ((2,),)
    c.rollback()


def test_snapshot_is_taken_at_the_first_statement(node: Node) -> None:
    """PostgreSQL (docs, 13.2.2 Repeatable Read): the snapshot is that of the start of the
    first non-transaction-control statement, not of BEGIN; the node's read barrier before
    BEGIN still bounds it from below."""
    txn = node.begin()
    node.write("UPDATE acct SET bal = 5 WHERE id = 1")
    assert txn.execute("SELECT bal FROM acct WHERE id = 1").rows == ((5,),)
    txn.rollback()
    writer = node.begin()
    node.write("UPDATE acct SET bal = 6 WHERE id = 1")
    assert writer.execute("UPDATE acct SET bal = bal + 1 WHERE id = 1").rowcount == 1
    assert writer.execute("SELECT bal FROM acct WHERE id = 1").rows == ((7,),)
    assert node.commit(writer) is None


def test_reused_connection_reads_on_a_stable_snapshot(node: Node) -> None:
    """A connection whose last transaction wrote (query_only off) serves a new transaction
    whose reads come first: they are still repeatable (one WAL snapshot) until its first
    write, and a stale read still fails the commit with 40001 (docs/transactions.md 2)."""
    first = node.begin()
    first.execute("UPDATE acct SET bal = 1 WHERE id = 1")
    assert node.commit(first) is None
    txn = node.begin()
    assert txn.execute("SELECT bal FROM acct WHERE id = 1").rows == ((1,),)
    node.write("UPDATE acct SET bal = 50 WHERE id = 1")
    assert txn.execute("SELECT bal FROM acct WHERE id = 1").rows == ((1,),)
    txn.execute("UPDATE teller SET bal = 1 WHERE id = 1")
    error = node.commit(txn)
    assert error is not None and error[0] == "40001"


@pytest.mark.parametrize(
    "sql, params, sqlstate",
    [
        ("UPDATE _raftsql_meta SET applied_index = ?", (0,), "42501"),  # apply's own text
        ("SELECT seq, result FROM _raftsql_sessions WHERE client_id = ?", ("c",), "42501"),
        ("RELEASE _raftsql_entry", (), "0A000"),
    ],
)
def test_apply_refuses_its_own_statement_texts(
    node: Node, sql: str, params: tuple[object, ...], sqlstate: str
) -> None:
    """The apply connection caches statements too; the state machine runs these very texts
    itself on it, past the authorizer, every batch. Sent in a command they are still refused
    (docs/transactions.md section 4), every time, and applied_index is not touched."""
    for _ in range(2):
        index = node.sm.applied_index + 1
        res = node.sm.apply(index, encode(Command((Stmt(sql, params),))))
        assert res[-1].error is not None and res[-1].error[0] == sqlstate
        assert node.sm.applied_index == index
    check = node.begin()
    assert check.execute("SELECT bal FROM acct WHERE id = 1").rows == ((0,),)
    check.rollback()


def test_failed_statement_leaves_nothing_behind(node: Node) -> None:
    """INSERT OR FAIL keeps the rows it inserted before the conflict (sqlite.org/
    lang_conflict.html); a failed statement must still have no effect on the transaction
    (PostgreSQL: statements are atomic; raftsql's SQLite dialect continues the transaction
    after a failure, dbapi/connection.py, which is simulated here by reopening it)."""
    node.write("CREATE TABLE uniq (k INTEGER PRIMARY KEY)", "INSERT INTO uniq VALUES (3)")
    txn = node.begin()
    txn.execute("INSERT INTO hist VALUES (1, 1)")
    with pytest.raises(SqlError) as exc:
        txn.execute("INSERT OR FAIL INTO uniq VALUES (1), (2), (3)")
    assert exc.value.sqlstate == "23505"
    txn.state = TxnState.OPEN  # what the SQLite dialect of the DB-API does
    assert txn.execute("SELECT count(*) FROM uniq").rows == ((1,),)
    assert txn.execute("SELECT count(*) FROM hist").rows == ((1,),)
    assert node.commit(txn) is None


def test_columns_of_cached_statements(node: Node) -> None:
    """PostgreSQL describes a result's columns even when it has no row (RowDescription before
    CommandComplete), and a cached statement recompiled after a schema change describes the
    new schema (SQLite recompiles it inside its first step)."""
    for _ in range(2):
        txn = node.begin()
        r = txn.execute("UPDATE acct SET bal = 1 WHERE id = 99 RETURNING id, bal")
        assert [c[0] for c in r.columns] == ["id", "bal"] and r.rows == () and r.rowcount == 0
        assert [c[0] for c in txn.execute("SELECT * FROM teller").columns] == ["id", "bal"]
        txn.rollback()
    node.write("ALTER TABLE teller ADD COLUMN note TEXT")
    txn = node.begin()
    assert [c[0] for c in txn.execute("SELECT * FROM teller").columns] == ["id", "bal", "note"]
    txn.rollback()


def test_read_then_write_on_a_warm_connection(node: Node) -> None:
    """Reads on the snapshot, then a write (the second round knows it writes and goes to the
    write transaction at once): the write and the reads after it see the transaction's own
    effect, and the command commits (docs/transactions.md section 2)."""
    for round_ in range(3):
        txn = node.begin()
        assert txn.execute("SELECT bal FROM acct WHERE id = 2").rows == ((round_,),)
        assert txn.execute("UPDATE acct SET bal = bal + 1 WHERE id = 2").rowcount == 1
        assert txn.execute("SELECT bal FROM acct WHERE id = 2").rows == ((round_ + 1,),)
        assert node.commit(txn) is None


def test_apply_columns_do_not_depend_on_the_statement_cache(node: Node, tmp_path: Path) -> None:
    """Results, columns included, are stored for deduplication and hashed into every node's
    checksum (docs/transactions.md sections 1 and 5): a node that had the statement cached
    before a schema change must report what a node compiling it afresh reports, even with
    no row to describe."""
    sql = "DELETE FROM teller WHERE id = 99 RETURNING *"
    node.write(sql)  # compiled and cached on the apply connection
    node.write("ALTER TABLE teller ADD COLUMN note TEXT")
    warm = node.sm.apply(node.sm.applied_index + 1, encode(Command((Stmt(sql),))))
    fresh_node = Node(tmp_path / "fresh")
    fresh_node.write("CREATE TABLE teller (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)",
                     "ALTER TABLE teller ADD COLUMN note TEXT")
    fresh = fresh_node.sm.apply(fresh_node.sm.applied_index + 1,
                                encode(Command((Stmt(sql),))))
    assert [c[0] for c in warm[0].columns] == ["id", "bal", "note"]
    assert warm[0].columns == fresh[0].columns


def test_statements_cached_after_their_findings_were_dropped(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for only two texts' findings, statements still compiled in SQLite's cache
    lose theirs; run again they must still count as writes of their table with PostgreSQL's
    row count (sqlite.org/c3ref/set_authorizer.html: a cached statement is not authorized
    again, so its findings must come from a fresh compile)."""
    monkeypatch.setattr("raftsql.sql.authorizer.FINDINGS_PER_CONNECTION", 2)
    texts = [f"UPDATE acct SET bal = bal + {n} WHERE id = 1" for n in range(1, 5)]
    total = 0
    for _ in range(3):
        for sql in texts:
            txn = node.begin()
            assert txn.execute(sql).rowcount == 1
            assert txn.write_tables == {"acct"}
            assert node.commit(txn) is None
            res = node.sm.apply(node.sm.applied_index + 1, encode(Command((Stmt(sql),))))
            assert res[0].rowcount == 1
            total += 2 * int(sql.split("+ ")[1].split()[0])
    check = node.begin()
    assert check.execute("SELECT bal FROM acct WHERE id = 1").rows == ((total,),)
    check.rollback()
