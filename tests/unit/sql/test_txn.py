"""Interactive transactions (raftsql/sql/txn.py + the check in apply.py): serializable, optimistic.

Sources of truth: docs/transactions.md; Berenson et al., "A Critique of ANSI SQL Isolation
Levels" (1995) for the anomalies P4 lost update and A5B write skew, which serializable
execution must exclude; PostgreSQL's behaviour for 40001 serialization_failure, 25P02 (commands
in an aborted transaction) and savepoints (SQL commands SAVEPOINT / ROLLBACK TO / RELEASE).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode, result_digest
from raftsql.sql.errors import SqlError
from raftsql.sql.reads import ReadPool
from raftsql.sql.txn import Transaction, TxnState


class Node:
    """A state machine plus a counter standing in for the Raft log index."""

    def __init__(self, path: Path) -> None:
        self.sm = StateMachine(str(path))
        self.reads = ReadPool(self.sm.path)

    def write(self, *sql: str) -> None:
        res = self.sm.apply(self.sm.applied_index + 1, encode(Command(tuple(Stmt(s) for s in sql))))
        assert all(r.error is None for r in res), res

    def commit(self, txn: Transaction) -> tuple[str, str] | None:
        """Propose the transaction's command and return its error, if any."""
        cmd = txn.commit()
        assert cmd is not None
        res = self.sm.apply(self.sm.applied_index + 1, encode(cmd))
        return next((r.error for r in res if r.error is not None), None)

    def one(self, sql: str) -> object:
        return self.reads.query(sql).rows[0][0]

    def begin(self) -> Transaction:
        return Transaction(self.sm.path)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    n = Node(tmp_path / "db")
    n.write(
        "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
        "INSERT INTO counter VALUES (1, 0)",
        "CREATE TABLE doctor (name TEXT PRIMARY KEY, on_call INTEGER NOT NULL)",
        "INSERT INTO doctor VALUES ('alice', 1), ('bob', 1)",
        "CREATE TABLE other (x INTEGER)",
    )
    return n


def test_own_writes_are_visible_and_private(node: Node) -> None:
    txn = node.begin()
    txn.execute("UPDATE counter SET n = 41 WHERE id = 1")
    txn.execute("INSERT INTO other VALUES (?)", (7,))
    assert txn.execute("SELECT n FROM counter").rows == ((41,),)
    assert txn.execute("SELECT x FROM other").rows == ((7,),)
    assert node.one("SELECT n FROM counter") == 0  # nobody else sees them before commit
    assert node.commit(txn) is None
    assert node.one("SELECT n FROM counter") == 41 and node.one("SELECT x FROM other") == 7


def test_lost_update_is_impossible(node: Node) -> None:
    """P4: two read-modify-write increments; one must fail with 40001, none is lost."""
    t1, t2 = node.begin(), node.begin()
    for t in (t1, t2):
        (n,) = t.execute("SELECT n FROM counter WHERE id = 1").rows[0]
        t.execute("UPDATE counter SET n = ? WHERE id = 1", (n + 1,))
    assert node.commit(t1) is None
    error = node.commit(t2)
    assert error is not None and error[0] == "40001"
    assert node.one("SELECT n FROM counter") == 1
    t3 = node.begin()  # the retry succeeds
    (n,) = t3.execute("SELECT n FROM counter WHERE id = 1").rows[0]
    t3.execute("UPDATE counter SET n = ? WHERE id = 1", (n + 1,))
    assert node.commit(t3) is None and node.one("SELECT n FROM counter") == 2


def test_write_skew_is_prevented(node: Node) -> None:
    """A5B: each doctor checks someone else is on call, then goes off call. Serializable
    execution keeps at least one doctor on call."""
    t1, t2 = node.begin(), node.begin()
    for t, name in ((t1, "alice"), (t2, "bob")):
        assert t.execute("SELECT count(*) FROM doctor WHERE on_call = 1").rows == ((2,),)
        t.execute("UPDATE doctor SET on_call = 0 WHERE name = ?", (name,))
    assert node.commit(t1) is None
    error = node.commit(t2)
    assert error is not None and error[0] == "40001"
    assert node.one("SELECT count(*) FROM doctor WHERE on_call = 1") == 1


def test_disjoint_transactions_both_commit(node: Node) -> None:
    t1, t2 = node.begin(), node.begin()
    t1.execute("UPDATE counter SET n = n + 5")
    t2.execute("INSERT INTO other VALUES (1)")
    assert node.commit(t1) is None and node.commit(t2) is None
    assert node.one("SELECT n FROM counter") == 5 and node.one("SELECT count(*) FROM other") == 1


def test_autocommit_write_after_the_snapshot_conflicts(node: Node) -> None:
    txn = node.begin()
    assert txn.execute("SELECT n FROM counter").rows == ((0,),)
    node.write("UPDATE counter SET n = 100")
    # the snapshot is stable: still 0; what the client saw no longer holds at commit: 40001
    assert txn.execute("SELECT n FROM counter").rows == ((0,),)
    txn.execute("UPDATE counter SET n = n + 1")
    error = node.commit(txn)
    assert error is not None and error[0] == "40001"
    assert node.one("SELECT n FROM counter") == 100


def test_foreign_key_parent_deleted_concurrently(node: Node) -> None:
    """The FK check reads the parent table, so a concurrent delete of the parent conflicts."""
    node.write(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE child (p INTEGER REFERENCES parent(id))",
        "INSERT INTO parent VALUES (1)",
    )
    txn = node.begin()
    txn.execute("INSERT INTO child VALUES (1)")
    assert "parent" in txn.read_tables
    node.write("DELETE FROM parent WHERE id = 1")
    error = node.commit(txn)
    assert error is not None and error[0] == "40001"
    assert node.one("SELECT count(*) FROM child") == 0


def test_replay_reaches_the_state_the_transaction_saw(node: Node) -> None:
    txn = node.begin()
    txn.execute("INSERT INTO other SELECT n + 10 FROM counter")
    txn.execute("CREATE TABLE t2 (a)")
    txn.execute("INSERT INTO t2 SELECT x * 2 FROM other")
    seen = txn.execute("SELECT a FROM t2").rows
    assert node.commit(txn) is None
    assert node.reads.query("SELECT a FROM t2").rows == seen == ((20,),)


def test_read_only_transaction_proposes_nothing(node: Node) -> None:
    txn = node.begin()
    assert txn.execute("SELECT n FROM counter").rows == ((0,),)
    node.write("UPDATE counter SET n = 9")
    assert txn.execute("SELECT n FROM counter").rows == ((0,),)  # repeatable
    assert txn.commit() is None and txn.state is TxnState.DONE


def test_every_statement_is_recorded_with_the_digest_of_what_the_client_saw(node: Node) -> None:
    base = node.sm.applied_index
    txn = node.begin()
    seen = txn.execute("SELECT * FROM doctor")
    done = txn.execute("UPDATE counter SET n = 1")
    cmd = txn.commit()
    assert cmd is not None
    assert [s.sql for s in cmd.stmts] == ["SELECT * FROM doctor", "UPDATE counter SET n = 1"]
    assert [s.expect for s in cmd.stmts] == [result_digest(seen), result_digest(done)]
    assert cmd.base_index == base
    assert cmd.read_tables == {"doctor"} and cmd.write_tables == {"counter"}


def test_savepoints_drop_rolled_back_statements(node: Node) -> None:
    txn = node.begin()
    txn.execute("SAVEPOINT early")  # before the first write: no private copy yet
    txn.execute("INSERT INTO other VALUES (1)")
    txn.execute("SAVEPOINT a")
    txn.execute("INSERT INTO other VALUES (2)")
    txn.execute("ROLLBACK TO SAVEPOINT a")
    assert txn.execute("SELECT x FROM other").rows == ((1,),)
    txn.execute("INSERT INTO other VALUES (3)")
    txn.execute("RELEASE a")
    with pytest.raises(SqlError) as info:
        txn.rollback_to("a")
    assert info.value.sqlstate == "3B001"
    txn.execute("ROLLBACK TO early")
    assert txn.execute("SELECT count(*) FROM other").rows == ((0,),)
    txn.execute("INSERT INTO other VALUES (4)")
    assert [s.sql for s in txn.statements] == ["INSERT INTO other VALUES (4)"]
    assert node.commit(txn) is None
    assert node.reads.query("SELECT x FROM other").rows == ((4,),)


def test_error_aborts_until_rollback_to_savepoint(node: Node) -> None:
    txn = node.begin()
    txn.execute("INSERT INTO other VALUES (1)")
    txn.savepoint("s")
    with pytest.raises(SqlError) as info:
        txn.execute("INSERT INTO counter VALUES (1, 1)")
    assert info.value.sqlstate == "23505"
    assert txn.state is TxnState.FAILED
    with pytest.raises(SqlError) as info:
        txn.execute("SELECT 1")
    assert info.value.sqlstate == "25P02"
    txn.rollback_to("s")
    txn.execute("INSERT INTO other VALUES (2)")
    assert node.commit(txn) is None
    assert node.reads.query("SELECT x FROM other ORDER BY x").rows == ((1,), (2,))


def test_commit_of_a_failed_transaction_is_a_rollback(node: Node) -> None:
    txn = node.begin()
    txn.execute("INSERT INTO other VALUES (1)")
    with pytest.raises(SqlError):
        txn.execute("SELECT * FROM missing")
    assert txn.commit() is None
    with pytest.raises(SqlError) as info:
        txn.execute("SELECT 1")
    assert info.value.sqlstate == "25P01"


def test_replicated_statements_refuse_node_local_values(node: Node) -> None:
    txn = node.begin()
    with pytest.raises(SqlError) as info:
        txn.execute("INSERT INTO other VALUES (random())")
    assert info.value.sqlstate == "0A000"
    txn.rollback()


def test_same_table_different_rows_do_not_conflict(node: Node) -> None:
    """Validation by value (docs/transactions.md): two transactions updating different rows of
    one table, with blind increments, both commit (pgbench's TPC-B shape); a read of a row that
    changed before commit still fails with 40001."""
    node.write("INSERT INTO counter VALUES (2, 0)")
    t1, t2 = node.begin(), node.begin()
    t1.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
    t2.execute("UPDATE counter SET n = n + 1 WHERE id = 2")
    assert t2.execute("SELECT n FROM counter WHERE id = 2").rows == ((1,),)
    assert node.commit(t1) is None
    assert node.commit(t2) is None
    assert node.one("SELECT sum(n) FROM counter") == 2
    t3 = node.begin()
    assert t3.execute("SELECT n FROM counter WHERE id = 1").rows == ((1,),)
    t3.execute("UPDATE counter SET n = 10 WHERE id = 2")
    node.write("UPDATE counter SET n = 5 WHERE id = 1")
    error = node.commit(t3)
    assert error is not None and error[0] == "40001"
    assert node.one("SELECT n FROM counter WHERE id = 2") == 1


def test_writes_elsewhere_do_not_disturb_a_transaction(node: Node) -> None:
    """Only the tables the transaction touched matter: a write to another table after its
    snapshot neither fails it nor leaks into its results."""
    txn = node.begin()
    txn.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
    node.write("INSERT INTO other VALUES (1)")
    txn.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
    assert txn.execute("SELECT n FROM counter").rows == ((2,),)
    assert node.commit(txn) is None
    assert node.one("SELECT n FROM counter") == 2



def test_a_failure_caused_by_a_concurrent_commit_is_a_serialization_failure(node: Node) -> None:
    """A statement that fails only because of data committed after the snapshot (here a key
    another client inserted meanwhile) reports 40001, as PostgreSQL does for serializable
    transactions, so the client retries; a failure on the snapshot's own data keeps its code."""
    node.write("CREATE TABLE once (k INTEGER PRIMARY KEY)", "INSERT INTO once VALUES (1)")
    txn = node.begin()
    txn.execute("INSERT INTO other VALUES (0)")  # the first write: the transaction is live
    node.write("INSERT INTO once VALUES (2)")  # committed by someone else
    with pytest.raises(SqlError) as raced:
        txn.execute("INSERT INTO once VALUES (2)")
    assert raced.value.sqlstate == "40001"
    txn.rollback()
    quiet = node.begin()
    quiet.execute("INSERT INTO other VALUES (0)")
    with pytest.raises(SqlError) as genuine:
        quiet.execute("INSERT INTO once VALUES (1)")
    assert genuine.value.sqlstate == "23505"
    quiet.rollback()
