"""Applying ahead of the commit (StateMachine.apply_ahead): the leader runs entries before they
commit, in a transaction `apply_batch` commits when it is handed the same entries.

Sources of truth:
  * Raft paper section 5.3 / Figure 2: only committed entries are applied, in log order, each
    once. A run applied ahead must therefore be invisible until its entries commit, and the
    results and state must be exactly those of applying the committed entries one by one (the
    oracle: a second database that never applies ahead), whatever was applied ahead: the same
    entries, more than commit, different ones (a new leader's log), or a run dropped because
    an interactive transaction took SQLite's write lock.
  * sqlite.org/isolation.html: in WAL mode a reader sees only committed transactions, and a
    transaction that never reaches COMMIT leaves nothing behind (sqlite.org/atomiccommit.html).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import apsw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_apply_batch import (
    SETUP,
    assert_same_state,
    cmd,
    entries,
    fresh,
    logged_items,
    one_by_one,
)

from raftsql.sql.apply import Item, StateMachine
from raftsql.sql.errors import SqlError
from raftsql.sql.txn import Transaction


def _outside(sm: StateMachine, sql: str) -> list[tuple]:
    """What another connection (a reader) sees."""
    conn = apsw.Connection(sm.path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


MODES = st.sampled_from(["none", "same", "more", "other", "lock"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries, st.lists(st.integers(min_value=1, max_value=8), max_size=12),
       st.lists(MODES, max_size=12))
def test_results_and_state_are_those_of_applying_the_committed_entries(
    log: list[tuple[bytes | None, str | None, int | None]], cuts: list[int], modes: list[str]
) -> None:
    """Before each committed batch the leader applied ahead nothing, the same entries, more
    entries than commit, other entries at the same indexes, or the same entries and then an
    interactive transaction took the write lock. Results, state, table versions and
    checkpoints are those of applying the batches' entries one by one."""
    items = logged_items(log)
    with tempfile.TemporaryDirectory() as tmp:
        ahead, single = fresh(tmp, "ahead", every=4), fresh(tmp, "single", every=4)
        got, want = [], []
        start, k = 0, 0
        while start < len(items):
            size = cuts[k] if k < len(cuts) else len(items)
            mode = modes[k] if k < len(modes) else "same"
            batch = items[start : start + size]
            if mode in ("same", "lock"):
                ahead.apply_ahead(batch)
            elif mode == "more":
                ahead.apply_ahead(items[start : start + size + 3])
            elif mode == "other":
                other = cmd(*[("INSERT INTO b (a_id, v) VALUES (NULL, pg_fixed_random(?))",
                               (seed,)) for seed in range(0, 70, 3)])
                ahead.apply_ahead([(i, other, None, None) for i, _, _, _ in batch])
            if mode == "lock":  # (no table yet before the first batch: nothing taken)
                with Transaction(ahead.path) as txn, contextlib.suppress(SqlError):
                    txn.execute("INSERT INTO a (k, n) VALUES ('txn', 2)")  # takes the lock
            got.extend(ahead.apply_batch(batch))
            want.extend(one_by_one(single, batch))
            start += size
            k += 1
        assert got == want
        assert_same_state(ahead, single, len(items))
        ahead.close()
        single.close()


def test_a_run_applied_ahead_is_invisible_until_it_commits(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None)])
    run: list[Item] = [(2, cmd("INSERT INTO a (k, n) VALUES ('x', 1) RETURNING id"), "c", 1),
                       (3, cmd("INSERT INTO a (k, n) VALUES ('y', 2)"), None, None)]
    sm.apply_ahead(run)
    assert sm.applied_index == 1
    assert _outside(sm, "SELECT count(*) FROM a") == [(0,)]
    assert _outside(sm, "SELECT applied_index FROM _raftsql_meta") == [(1,)]
    assert _outside(sm, "SELECT count(*) FROM _raftsql_sessions") == [(0,)]
    results = sm.apply_batch(run)
    assert results[0] is not None and results[0][0].rows == ((1,),)
    assert sm.applied_index == 3
    assert _outside(sm, "SELECT k, n FROM a ORDER BY id") == [("x", 1), ("y", 2)]
    assert _outside(sm, "SELECT client_id, seq FROM _raftsql_sessions") == [("c", 1)]
    sm.close()


def test_a_run_applied_ahead_of_a_node_that_stops_is_gone(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None)])
    sm.apply_ahead([(2, cmd("INSERT INTO a (k, n) VALUES ('x', 1)"), None, None)])
    sm.close()
    again = fresh(tmp_path, "a")
    assert again.applied_index == 1
    assert _outside(again, "SELECT count(*) FROM a") == [(0,)]
    again.close()


def test_only_a_run_right_after_the_applied_index_and_one_at_a_time(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None)])
    x = cmd("INSERT INTO a (k, n) VALUES ('x', 1)")
    sm.apply_ahead([(3, x, None, None)])  # a gap: not applied ahead
    sm.apply_ahead([(2, x, None, None)])
    sm.apply_ahead([(3, cmd("INSERT INTO a (k, n) VALUES ('y', 1)"), None, None)])  # one run
    assert sm.apply_batch([(2, x, None, None), (3, x, None, None)])[1][0].error is not None
    assert _outside(sm, "SELECT k FROM a") == [("x",)]  # the second x failed on UNIQUE (k)
    sm.close()


def test_an_interactive_transaction_takes_the_lock_from_a_run_applied_ahead(
        tmp_path: Path) -> None:
    """The transaction's write goes through (the run steps aside, rolled back) and sees none
    of the run; the run is applied when its entries commit."""
    sm = fresh(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None)])
    run: list[Item] = [(2, cmd("INSERT INTO a (k, n) VALUES ('x', 1)"), None, None)]
    sm.apply_ahead(run)
    with Transaction(sm.path) as txn:
        assert txn.execute("INSERT INTO a (k, n) VALUES ('t', 2)").rowcount == 1
        assert txn.execute("SELECT k FROM a ORDER BY k").rows == (("t",),)
    result = sm.apply_batch(run)[0]
    assert result is not None and result[0].rowcount == 1 and sm.applied_index == 2
    assert _outside(sm, "SELECT k FROM a") == [("x",)]  # the transaction was rolled back
    sm.close()


def test_nothing_is_applied_ahead_while_an_interactive_transaction_is_open(
        tmp_path: Path) -> None:
    """It would take the write lock at its next statement and the run would be done twice."""
    sm = fresh(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None)])
    run: list[Item] = [(2, cmd("INSERT INTO a (k, n) VALUES ('x', 1)"), None, None)]
    with Transaction(sm.path) as txn:
        txn.execute("SELECT count(*) FROM a")
        sm.apply_ahead(run)
        assert sm._ahead is None
    sm.apply_ahead(run)  # closed: now it is
    assert sm._ahead is not None
    sm.apply_batch(run)
    assert _outside(sm, "SELECT k FROM a") == [("x",)]
    sm.close()
