"""The leader's seeded random() / gen_random_uuid() in interactive transactions (txn.py): every
run of a statement, the first, a replay after a park or a retry on the full view, draws what the
client saw, and so does the apply on every node.

Sources of truth: docs/transactions.md section 2 (a statement sees every earlier write of its
transaction; what the client saw is validated by value at the commit point, 40001 otherwise);
determinism.py (random()/gen_random_uuid() become pg_fixed_random(seed)/pg_fixed_uuid(seed), one
seed per statement, so every node draws the same values); PostgreSQL: a row a transaction
inserted reads back, in that transaction and after its COMMIT, with the values its RETURNING
showed.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from test_txn import Node

from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.determinism import fix_nondeterminism
from raftsql.sql.translate import translate
from raftsql.sql.txn import Transaction

ROWS = "SELECT id, v, u, w FROM r ORDER BY id"


class LoggedNode(Node):
    """A Node that keeps the entries it applied, so another state machine can apply them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.log: list[bytes] = []
        self.rng = random.Random(2024)  # the leader's seed source (database.py `_rng`)

    def _apply(self, data: bytes) -> None:
        self.log.append(data)
        results = self.sm.apply(self.sm.applied_index + 1, data)
        errors = [r.error for r in results if r.error is not None]
        if errors:
            raise AssertionError(errors)

    def write(self, *sql: str) -> None:
        self._apply(encode(Command(tuple(Stmt(s) for s in sql))))

    def commit(self, txn: Transaction) -> tuple[str, str] | None:
        cmd = txn.commit()
        assert cmd is not None
        data = encode(cmd)
        self.log.append(data)
        res = self.sm.apply(self.sm.applied_index + 1, data)
        return next((r.error for r in res if r.error is not None), None)

    def run(self, txn: Transaction, pg: str) -> tuple[tuple[object, ...], ...]:
        """A PostgreSQL statement as the leader runs it in a transaction: translated, its
        random calls fixed with a seed of its own (database.py `_fix`)."""
        (t,) = translate(pg)
        sql, bound = fix_nondeterminism(t, [], now=dt.datetime.now(dt.UTC), rng=self.rng)
        return txn.execute(sql, tuple(bound)).rows

    def replica_rows(self, path: Path) -> tuple[tuple[object, ...], ...]:
        """The rows a second node gets by applying the same log."""
        other = StateMachine(str(path))
        try:
            for index, data in enumerate(self.log, 1):
                other.apply(index, data)
            with other._auth.internal():
                return tuple(tuple(row) for row in other._conn.execute(ROWS))
        finally:
            other.close()


@pytest.fixture
def node(tmp_path: Path) -> LoggedNode:
    n = LoggedNode(tmp_path / "db")
    n.write(
        "CREATE TABLE r (id INTEGER PRIMARY KEY, v REAL, u TEXT, w REAL)",
        "CREATE TABLE other (x INTEGER)",
        "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)",
        "INSERT INTO acct VALUES (1, 0)",
    )
    return n


def _committed(node: LoggedNode, txn: Transaction, tmp_path: Path) -> tuple[tuple[object, ...], ...]:
    """Commit ``txn`` (it must not fail) and return the rows, the same on a second node."""
    assert node.commit(txn) is None
    stored = node.reads.query(ROWS).rows
    assert node.replica_rows(tmp_path / "replica") == stored
    return stored


def test_replay_after_an_autocommit_write_draws_what_the_client_saw(
        node: LoggedNode, tmp_path: Path) -> None:
    """An autocommit write parks the transaction; its next statement replays the INSERT that
    drew random()/gen_random_uuid() and must find the rows the RETURNING showed, and so must
    the commit, on every node."""
    txn = node.begin()
    inserted = node.run(txn, "INSERT INTO r (id, v, u) VALUES (1, random(), gen_random_uuid()), "
                             "(2, random(), gen_random_uuid()) RETURNING id, v, u")
    assert len({row[1] for row in inserted}) == 2  # each row its own value
    node.write("INSERT INTO other VALUES (1)")  # parks txn
    assert node.run(txn, "SELECT id, v, u FROM r ORDER BY id") == inserted
    node.write("INSERT INTO other VALUES (2)")  # parks txn again
    updated = node.run(txn, "UPDATE r SET w = random() WHERE id = 2 RETURNING id, w")
    node.write("INSERT INTO other VALUES (3)")
    seen = node.run(txn, ROWS)
    assert seen == ((*inserted[0], None), (*inserted[1], updated[0][1]))
    assert _committed(node, txn, tmp_path) == seen


def test_replay_after_another_transaction_took_the_write_lock(
        node: LoggedNode, tmp_path: Path) -> None:
    """Two transactions alternate, each parking the other (one SQLite writer): each replay of
    the first one's drawing writes gives the values it first gave."""
    a, b = node.begin(), node.begin()
    first = node.run(a, "INSERT INTO r (id, v, u) VALUES (1, random(), gen_random_uuid()) "
                        "RETURNING v, u")
    node.run(b, "INSERT INTO other VALUES (1)")  # parks a
    second = node.run(a, "UPDATE r SET w = random() + v WHERE id = 1 RETURNING v, u, w")
    assert second[0][:2] == first[0]
    node.run(b, "INSERT INTO other VALUES (2)")  # parks a
    seen = node.run(a, ROWS)
    assert seen == ((1, *second[0]),)
    assert node.commit(b) is None
    assert _committed(node, a, tmp_path) == seen


def test_retry_on_the_full_view_draws_what_the_first_try_drew(
        node: LoggedNode, tmp_path: Path) -> None:
    """A trigger added after the INSERT was compiled makes it depend on a table written
    earlier in the transaction: it runs first on a view without that write, fails there, and
    runs again on all of them (txn.py `_replayed`). The client sees the second run, which must
    draw as the apply does."""
    node.write("CREATE TABLE hist (id INTEGER, v REAL)")
    warm = node.begin()
    node.run(warm, "INSERT INTO hist VALUES (9, random()) RETURNING v")  # cached: hist only
    warm.rollback()
    node.write(
        "CREATE TRIGGER hist_guard BEFORE INSERT ON hist "
        "WHEN (SELECT bal FROM acct WHERE id = 1) = 0 "
        "BEGIN SELECT RAISE(ABORT, 'account 1 is empty'); END"
    )
    txn = node.begin()
    node.run(txn, "UPDATE acct SET bal = 7 WHERE id = 1")
    other = node.begin()
    node.run(other, "INSERT INTO other VALUES (1)")  # parks txn
    shown = node.run(txn, "INSERT INTO hist VALUES (9, random()) RETURNING v")
    other.rollback()
    assert node.commit(txn) is None
    assert node.reads.query("SELECT v FROM hist").rows == shown
