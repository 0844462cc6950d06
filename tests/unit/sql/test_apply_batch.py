"""Batched apply (StateMachine.apply_batch): one SQLite transaction per batch, same results.

Sources of truth:
  * Raft paper section 5.3 / Figure 2: entries are applied in log order, each exactly once, so
    cutting the committed log into batches must not change any result or the state (ARCHITECTURE.md
    "Determinism": equal content checksums); the oracle is the same log applied one entry at a
    time on a second database.
  * Raft thesis section 6.3: a (client_id, seq) seen before, also earlier in the same batch,
    returns its first result; an older seq is refused.
  * sqlite.org/lang_transaction.html and sqlite.org/atomiccommit.html: a transaction that does
    not reach COMMIT leaves nothing behind after a crash, so a batch is all or nothing.
  * sqlite.org/lang_conflict.html, "ROLLBACK": the ROLLBACK resolution "rolls back the current
    transaction" (savepoints included); sqlite.org/lang_createtrigger.html RAISE(ROLLBACK).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftsql.sql.apply import ApplyOrderError, Item, StateMachine
from raftsql.sql.command import Command, Stmt, encode


def cmd(*stmts: str | tuple[str, tuple]) -> bytes:
    return encode(Command(tuple(Stmt(s) if isinstance(s, str) else Stmt(*s) for s in stmts)))


SETUP = cmd(
    "CREATE TABLE a (id INTEGER PRIMARY KEY, k TEXT UNIQUE, n INTEGER CHECK (n < 50))",
    "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id) ON DELETE CASCADE, v)",
    # a table-level conflict clause: any duplicate key rolls back SQLite's whole transaction
    "CREATE TABLE r (k INTEGER PRIMARY KEY ON CONFLICT ROLLBACK, v)",
    "CREATE TRIGGER no_big BEFORE INSERT ON b WHEN new.v = 'boom' "
    "BEGIN SELECT RAISE(ROLLBACK, 'boom is refused'); END",
)


def fresh(tmp: Path | str, name: str, every: int = 1000) -> StateMachine:
    return StateMachine(str(Path(tmp) / name), checkpoint_every=every)


def peek(sm: StateMachine, sql: str) -> list[tuple]:
    with sm._auth.internal():  # test-only look at the state
        return [tuple(r) for r in sm._conn.execute(sql)]


def logged_items(log: list[tuple[bytes | None, str | None, int | None]]) -> list[Item]:
    """The items of a drawn log (`entries`), after SETUP at index 1."""
    return [(1, SETUP, None, None)] + [
        (i, data, client, seq) for i, (data, client, seq) in enumerate(log, 2)
    ]


def one_by_one(sm: StateMachine, items: list[Item]) -> list:
    out = []
    for index, data, client_id, seq in items:
        if data is None:
            out.append(sm.apply_noop(index))
        else:
            out.append(sm.apply(index, data, client_id, seq))
    return out


# ---- batch == sequential (hypothesis) -------------------------------------------------------

keys = st.sampled_from(["x", "y", "z"])
small = st.integers(min_value=-5, max_value=60)
stmts = st.one_of(
    st.builds(lambda k, n: Stmt("INSERT INTO a (k, n) VALUES (?, ?)", (k, n)), keys, small),
    st.builds(lambda d, k: Stmt("UPDATE a SET n = n + ? WHERE k = ?", (d, k)), small, keys),
    st.builds(lambda i, v: Stmt("INSERT INTO b (a_id, v) VALUES (?, ?)", (i, v)), small,
              st.sampled_from([None, 1, "t", "boom"])),
    st.builds(lambda k: Stmt("DELETE FROM a WHERE k = ?", (k,)), keys),
    st.builds(lambda k: Stmt("INSERT OR ROLLBACK INTO a (k, n) VALUES (?, 1)", (k,)), keys),
    st.builds(lambda k: Stmt("INSERT INTO r VALUES (?, 'v')", (k,)),
              st.integers(min_value=1, max_value=4)),
    # tables created mid-log: their version rows are inserted in first-write order
    st.builds(lambda t: Stmt(f"CREATE TABLE IF NOT EXISTS t{t} (v)"), st.integers(0, 3)),
    st.builds(lambda t, v: Stmt(f"INSERT INTO t{t} VALUES (?)", (v,)), st.integers(0, 3), small),
    st.just(Stmt("SELECT count(*), total(n) FROM a")),
    st.just(Stmt("SELECT count(*) FROM b", expect=b"\x00" * 16)),  # a failed optimistic check
    st.just(Stmt("SELECT nope FROM a")),  # 42703
)
# the leader's fixed random(): a stream per seed on the applying connection (functions.py) that
# a ROLLBACK does not undo; some seeds reused, enough of them in one entry to evict streams
seeded = st.builds(lambda seed, f: Stmt(f"INSERT INTO b (a_id, v) VALUES (NULL, {f}(?))", (seed,)),
                   st.one_of(st.integers(min_value=0, max_value=9),
                             st.integers(min_value=0, max_value=70)),
                   st.sampled_from(["pg_fixed_random", "pg_fixed_uuid"]))
commands = st.one_of(
    st.lists(st.one_of(stmts, seeded), min_size=1, max_size=3).map(
        lambda s: encode(Command(tuple(s)))),
    st.lists(seeded, min_size=1, max_size=40).map(lambda s: encode(Command(tuple(s)))),
    st.just(b"\x01garbage"),
)
entries = st.lists(
    st.one_of(
        st.tuples(commands, st.none(), st.none()),
        # few clients and small seqs: retries (same seq) and stale (older seq) are common
        st.tuples(commands, st.sampled_from(["c1", "c2", "c3"]),
                  st.integers(min_value=1, max_value=6)),
        st.tuples(st.none(), st.none(), st.none()),  # no-op entry
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries, st.lists(st.integers(min_value=1, max_value=12), max_size=12),
       st.lists(st.integers(min_value=0, max_value=3), max_size=12))
def test_batches_equal_one_entry_at_a_time(
    log: list[tuple[bytes | None, str | None, int | None]], cuts: list[int], replays: list[int]
) -> None:
    """Any cut of the log into batches, with replays of already-applied entries in front of a
    batch (a restart), gives the results, state, table versions and checkpoints of applying
    the same items one by one."""
    items = logged_items(log)
    with tempfile.TemporaryDirectory() as tmp:
        batched, single = fresh(tmp, "batched", every=4), fresh(tmp, "single", every=4)
        got, want = [], []
        start, k = 0, 0
        while start < len(items):
            size = cuts[k] if k < len(cuts) else len(items)
            back = min(replays[k] if k < len(replays) else 0, start)
            batch = items[start - back : start + size]
            got.extend(batched.apply_batch(batch))
            want.extend(one_by_one(single, batch))
            start += size
            k += 1
        assert got == want
        assert_same_state(batched, single, len(items))
        assert [i for i, _ in batched.checkpoints()] == list(range(4, len(items) + 1, 4))
        batched.close()
        single.close()


def assert_same_state(sm: StateMachine, oracle: StateMachine, applied: int) -> None:
    """Applied index, content, table versions and checkpoints all equal the oracle's."""
    assert sm.applied_index == oracle.applied_index == applied
    assert sm.checksum() == oracle.checksum()
    assert sm.table_versions() == oracle.table_versions()
    assert sm.wait_for_checkpoints(10) and oracle.wait_for_checkpoints(10)
    assert sm.checkpoints() == oracle.checkpoints()


# ---- what the batch does inside ------------------------------------------------------------


def test_duplicate_and_stale_inside_one_batch(tmp_path: Path) -> None:
    """Thesis 6.3 within a batch: the retry sees the first result, an older seq is refused."""
    sm = fresh(tmp_path, "a")
    ins = cmd("INSERT INTO a (k, n) VALUES ('q', 1) RETURNING id")
    res = sm.apply_batch([
        (1, SETUP, None, None),
        (2, ins, "c", 5),
        (3, ins, "c", 5),  # retry of 2, committed again
        (4, ins, "c", 4),  # older than the latest
        (5, None, None, None),
    ])
    assert res[1] == res[2] and res[1][0].rows == ((1,),)
    assert res[3][0].error is not None and res[3][0].error[0] == "40001"
    assert res[4] is None
    assert peek(sm, "SELECT count(*) FROM a") == [(1,)]
    assert peek(sm, "SELECT client_id, seq FROM _raftsql_sessions") == [("c", 5)]


def test_a_failed_one_statement_entry_leaves_none_of_its_rows(tmp_path: Path) -> None:
    """An entry of one statement runs without a savepoint (apply.py): when it fails after
    writing some rows (a UNIQUE clash on its third row, a CHECK on its second update, a
    trigger's RAISE(ABORT) after an insert), SQLite takes back all of that statement and
    nothing else; the entries around it in the batch stay applied."""
    sm = fresh(tmp_path, "a")
    res = sm.apply_batch([
        (1, SETUP, None, None),
        (2, cmd("INSERT INTO a (k, n) VALUES ('p', 1), ('q', 2)"), "c", 1),
        (3, cmd("INSERT INTO a (k, n) VALUES ('r', 3), ('s', 4), ('p', 5), ('t', 6)"), "c", 2),
        (4, cmd("UPDATE a SET n = n + 47"), "c", 3),  # 'q' would reach 49, 'p' 48: fine
        (5, cmd("UPDATE a SET n = n + 1 WHERE k IN ('p', 'q')"), "c", 4),  # 'q' -> 50: CHECK
        (6, cmd("CREATE TRIGGER no_z AFTER INSERT ON a WHEN new.k = 'z' "
                "BEGIN SELECT RAISE(ABORT, 'no z'); END"), "c", 5),
        (7, cmd("INSERT INTO a (k, n) SELECT k || 'x', 0 FROM a UNION ALL SELECT 'z', 0"),
         "c", 6),
        (8, cmd("INSERT INTO a (k, n) VALUES ('u', 7)"), "c", 7),
    ])
    assert [r[0].error[0] if r and r[0].error else None for r in res] == [
        None, None, "23505", None, "23514", None, "P0001", None]
    assert peek(sm, "SELECT k, n FROM a ORDER BY k") == [("p", 48), ("q", 49), ("u", 7)]
    assert sm.applied_index == 8
    assert peek(sm, "SELECT seq FROM _raftsql_sessions") == [(7,)]


def test_one_transaction_and_table_versions_of_the_last_writer(tmp_path: Path) -> None:
    """applied_index moves once per batch; a table's version is the last entry that wrote it
    (txn.py compares it with `idx > base_index`)."""
    sm = fresh(tmp_path, "a")
    sm.apply(1, SETUP)
    commits: list[int] = []
    sm._conn.set_commit_hook(lambda: commits.append(1) or False)  # False: let it commit
    sm.apply_batch([
        (2, cmd("INSERT INTO a (k, n) VALUES ('x', 1)"), None, None),
        (3, cmd("UPDATE a SET n = 2"), None, None),
        (4, cmd("INSERT INTO b (a_id, v) VALUES (1, 1)"), None, None),
        (5, cmd("SELECT * FROM a"), None, None),
        (6, cmd("INSERT INTO a (k, n) VALUES ('x', 1)"), None, None),  # fails: 23505
    ])
    assert len(commits) == 1 and sm.applied_index == 6
    versions = sm.table_versions()
    assert versions["a"] == 3 and versions["b"] == 4 and versions["sqlite_master"] == 1


def test_new_bookkeeping_rows_keep_the_sequential_rowid_order(tmp_path: Path) -> None:
    """Sessions and table versions are written once at the end of the batch, yet in the order
    one-entry-at-a-time apply inserts them: the content checksum covers their rowids."""
    batch: list[Item] = [
        (1, cmd("CREATE TABLE zz (v)"), "z-client", 1),
        (2, cmd("CREATE TABLE aa (v)"), "a-client", 1),
        (3, cmd("INSERT INTO zz VALUES (1)", "INSERT INTO aa VALUES (1)"), "z-client", 2),
    ]
    sm, ref = fresh(tmp_path, "a"), fresh(tmp_path, "ref")
    sm.apply_batch(batch)
    one_by_one(ref, batch)
    order = "SELECT rowid, * FROM {} ORDER BY rowid"
    for table in ("_raftsql_sessions", "_raftsql_table_versions"):
        assert peek(sm, order.format(table)) == peek(ref, order.format(table))
    assert [r[1] for r in peek(sm, order.format("_raftsql_table_versions"))] == [
        "sqlite_master", "zz", "aa"]
    assert sm.checksum() == ref.checksum()


@pytest.mark.parametrize(
    "failing",
    [
        "INSERT OR ROLLBACK INTO a (k, n) VALUES ('x', 1)",  # statement conflict clause
        "INSERT INTO r VALUES (1, 'again')",  # the table's ON CONFLICT ROLLBACK
        "INSERT INTO b (a_id, v) VALUES (NULL, 'boom')",  # a trigger's RAISE(ROLLBACK)
    ],
)
def test_rollback_conflict_inside_a_batch_keeps_earlier_entries(
    tmp_path: Path, failing: str
) -> None:
    """SQLite's ROLLBACK resolution ends the whole transaction (lang_conflict.html); the
    entries before it in the batch must keep their effects, the entry itself fails alone."""
    batch: list[Item] = [
        (1, SETUP, None, None),
        (2, cmd("INSERT INTO a (k, n) VALUES ('x', 1)", "INSERT INTO r VALUES (1, 'v')"), "c", 1),
        (3, cmd("INSERT INTO b (a_id, v) VALUES (1, 'kept')"), None, None),
        (4, cmd("UPDATE a SET n = 7", failing), "c", 2),
        (5, cmd("INSERT INTO a (k, n) VALUES ('y', 2)"), None, None),
    ]
    sm, ref = fresh(tmp_path, "a"), fresh(tmp_path, "ref")
    res = sm.apply_batch(batch)
    assert res == one_by_one(ref, batch)
    assert res[3][1].error is not None and res[3][1].error[0] in ("23505", "P0001"), res[3]
    assert peek(sm, "SELECT k, n FROM a ORDER BY id") == [("x", 1), ("y", 2)]
    assert peek(sm, "SELECT v FROM b") == [("kept",)]
    assert sm.applied_index == 5 and sm.checksum() == ref.checksum()
    sm.close()
    reopened = fresh(tmp_path, "a")
    assert reopened.applied_index == 5 and reopened.checksum() == ref.checksum()


def test_a_seeded_random_before_a_rollback_conflict_draws_as_one_by_one(tmp_path: Path) -> None:
    """The entries before a ROLLBACK conflict run twice on the applying connection, whose
    random stream per seed (the leader's fixed random(), functions.SeededStreams) a ROLLBACK
    does not undo; they must draw what they draw on a node that applied them apart."""
    batch: list[Item] = [
        (1, SETUP, None, None),
        (2, cmd(("INSERT INTO b (a_id, v) VALUES (NULL, pg_fixed_random(?))", (7,))), None, None),
        (3, cmd("INSERT INTO b (a_id, v) VALUES (1, 'boom')"), None, None),  # RAISE(ROLLBACK)
    ]
    sm, ref = fresh(tmp_path, "a"), fresh(tmp_path, "ref")
    assert sm.apply_batch(batch) == one_by_one(ref, batch)
    assert peek(sm, "SELECT v FROM b") == peek(ref, "SELECT v FROM b")
    assert sm.checksum() == ref.checksum()
    sm.close()
    ref.close()


def test_replays_return_stored_results_and_apply_nothing(tmp_path: Path) -> None:
    """Raft Figure 2: after a restart the log is fed again from some earlier index; entries
    at or below applied_index are skipped (their client sees the stored result)."""
    sm = fresh(tmp_path, "a")
    ins = cmd("INSERT INTO a (k, n) VALUES ('q', 1) RETURNING id")
    first = sm.apply_batch([(1, SETUP, None, None), (2, ins, "c", 1), (3, None, None, None)])
    digest = sm.checksum()
    again = sm.apply_batch([(1, SETUP, None, None), (2, ins, "c", 1), (3, None, None, None)])
    assert again == [[], first[1], None] and sm.checksum() == digest
    mixed = sm.apply_batch([(3, None, None, None), (4, ins, "d", 1)])  # replay, then new
    assert mixed[0] is None and mixed[1][0].error[0] == "23505" and sm.applied_index == 4


def test_a_gap_applies_nothing(tmp_path: Path) -> None:
    sm = fresh(tmp_path, "a")
    with pytest.raises(ApplyOrderError):
        sm.apply_batch([(1, SETUP, None, None), (3, None, None, None)])
    assert sm.applied_index == 0 and peek(sm, "SELECT count(*) FROM sqlite_master "
                                              "WHERE name = 'a'") == [(0,)]


def test_a_node_local_error_rolls_the_whole_batch_back(tmp_path: Path) -> None:
    """An I/O-class error is this node's problem, not the entry's (classify() is None): nothing
    of the batch is recorded and the error is raised, so the same batch can be applied later."""
    sm = fresh(tmp_path, "a")
    sm.apply(1, SETUP)
    digest = sm.checksum()
    broken = {"on": True}

    def disk(x: object) -> object:
        if broken["on"]:
            raise apsw.IOError("simulated disk failure")
        return x

    sm._conn.create_scalar_function("disk", disk)
    batch: list[Item] = [
        (2, cmd("INSERT INTO a (k, n) VALUES ('x', 1)"), "c", 1),
        (3, cmd("INSERT INTO b (a_id, v) VALUES (1, disk(1))"), None, None),
    ]
    with pytest.raises(apsw.IOError):
        sm.apply_batch(batch)
    assert sm.applied_index == 1 and sm.checksum() == digest
    assert peek(sm, "SELECT count(*) FROM _raftsql_sessions") == [(0,)]
    broken["on"] = False
    res = sm.apply_batch(batch)
    assert res[0][0].error is None and res[1][0].error is None and sm.applied_index == 3


# ---- crash atomicity -----------------------------------------------------------------------

CHILD = """
import os, sys
sys.path.insert(0, {tests!r})
from raftsql.sql.apply import StateMachine
from test_apply_batch import SETUP, cmd
sm = StateMachine({path!r})
sm.apply(1, SETUP)
sm.apply_batch([(2, cmd("INSERT INTO a (k, n) VALUES ('before', 1)"), "c", 1)])
sm._conn.create_scalar_function("die", lambda: os._exit(9))
sm.apply_batch([
    (3, cmd("INSERT INTO a (k, n) VALUES ('lost', 2)"), "c", 2),
    (4, cmd("INSERT INTO b (a_id, v) VALUES (1, 'lost')"), None, None),
    (5, None, None, None),
    (6, cmd("SELECT die()"), "d", 1),
])
"""


def test_killed_in_the_middle_of_a_batch_leaves_none_of_it(tmp_path: Path) -> None:
    """The process dies inside entry 6 of the batch 3..6 (os._exit: no cleanup, no rollback);
    reopened, the database is exactly entries 1..2 and the batch applies again once."""
    path = str(tmp_path / "node.db")
    code = CHILD.format(tests=str(Path(__file__).parent), path=path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.run([sys.executable, "-c", code], env=env, timeout=60)
    assert child.returncode == 9, "the child did not die inside the batch"

    sm = StateMachine(path)
    assert sm.applied_index == 2
    assert peek(sm, "SELECT k FROM a") == [("before",)]
    assert peek(sm, "SELECT count(*) FROM b") == [(0,)]
    assert peek(sm, "SELECT client_id, seq FROM _raftsql_sessions") == [("c", 1)]
    res = sm.apply_batch([
        (2, cmd("INSERT INTO a (k, n) VALUES ('before', 1)"), "c", 1),  # replay
        (3, cmd("INSERT INTO a (k, n) VALUES ('lost', 2)"), "c", 2),
        (4, cmd("INSERT INTO b (a_id, v) VALUES (1, 'lost')"), None, None),
    ])
    assert res[0][0].rowcount == 1 and res[1][0].error is None and res[2][0].error is None
    assert peek(sm, "SELECT k FROM a ORDER BY id") == [("before",), ("lost",)]


# ---- checkpoints -----------------------------------------------------------------------------


def _checkpointed_both_ways(tmp_path: Path, items: list[Item]) -> StateMachine:
    """Apply `items` in one batch and one at a time (checkpoints every 5 entries); both must
    record the same checkpoints. Returns the batched state machine."""
    batched, single = fresh(tmp_path, "a", every=5), fresh(tmp_path, "b", every=5)
    batched.apply_batch(items)
    one_by_one(single, items)
    assert batched.wait_for_checkpoints(10) and single.wait_for_checkpoints(10)
    assert batched.checkpoints() == single.checkpoints()
    return batched


def test_batches_are_cut_at_checkpoint_indexes(tmp_path: Path) -> None:
    """The checksum at a checkpoint index is of the state right after that index, however the
    batch around it was cut: equal to a node that applied one entry at a time."""
    items: list[Item] = [(1, SETUP, None, None)] + [
        (i, cmd(("INSERT INTO b (a_id, v) VALUES (NULL, ?)", (i,))), None, None)
        for i in range(2, 24)
    ]
    batched = _checkpointed_both_ways(tmp_path, items)
    assert [i for i, _ in batched.checkpoints()] == [5, 10, 15, 20]
    at_20 = fresh(tmp_path, "c", every=5)
    at_20.apply_batch(items[:20])
    assert dict(batched.checkpoints())[20] == at_20.checksum()


def test_checkpoint_stride_keeps_hashing_within_budget() -> None:
    from raftsql.sql.apply import checkpoint_stride

    assert [checkpoint_stride(n, 100) for n in (0, 100, 101, 200, 201, 1000)] == [
        1, 1, 2, 2, 4, 16]


def test_a_big_database_is_hashed_at_every_strideth_checkpoint_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the hash budget only the checkpoints at multiples of the stride are hashed, the
    same ones on a node that applied one entry at a time (the size at an index is replicated
    state)."""
    import raftsql.sql.apply as apply

    items: list[Item] = [(1, SETUP, None, None)] + [
        (i, cmd(("INSERT INTO b (a_id, v) VALUES (NULL, zeroblob(20000))", ())), None, None)
        for i in range(2, 42)
    ]
    monkeypatch.setattr(apply, "CHECKPOINT_HASH_BUDGET", 150_000)
    batched = _checkpointed_both_ways(tmp_path, items)
    # ~100 KB at 5 (stride 1), ~200 KB at 10 (2), ~300 KB at 15 (2), ~400-800 KB from 20 on (4)
    assert [i for i, _ in batched.checkpoints()] == [5, 10, 20, 40]


def _gated_checksums(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the checksum worker's hashes wait until the returned event is set."""
    import raftsql.sql.snapshot as snapshot

    gate = threading.Event()
    real = snapshot.content_checksum

    def slow(conn: apsw.Connection) -> str:
        assert gate.wait(10)
        return real(conn)

    monkeypatch.setattr(snapshot, "content_checksum", slow)  # what the worker thread calls
    return gate


def test_checkpoint_is_of_the_pinned_state_while_apply_moves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background hash reads the WAL snapshot pinned right after the checkpoint batch
    committed (sqlite.org/wal.html "Concurrency"), not the state apply reaches meanwhile; the
    recorded pair survives a restart."""
    sm = fresh(tmp_path, "a", every=3)
    gate = _gated_checksums(monkeypatch)
    sm.apply_batch([(1, SETUP, None, None), (2, None, None, None),
                    (3, cmd("INSERT INTO a (k, n) VALUES ('x', 1)"), None, None)])
    at_3 = sm.checksum()
    sm.apply_batch([(4, cmd("UPDATE a SET n = 5"), None, None), (5, None, None, None)])
    assert sm.checkpoints() == []  # still hashing
    gate.set()
    assert sm.wait_for_checkpoints(10)
    assert sm.checkpoints() == [(3, at_3)] and sm.checksum() != at_3
    sm.close()
    assert fresh(tmp_path, "a", every=3).checkpoints() == [(3, at_3)]


def test_a_checkpoint_is_skipped_not_waited_for_while_the_previous_hash_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """raftsql/sql/snapshot.py ChecksumWorker: a checkpoint that comes while the previous
    state is still being hashed is skipped within PIN_WAIT_SECONDS instead of stalling apply
    (the Raft loop) until the hash ends; the next one after it is taken again. Memory bench,
    4 M writes: hashing a 155 MB database outlasted the checkpoint interval, apply stalled at
    each checkpoint and, with a reader pinned at every moment, the WAL grew past 1.2 GB."""
    import time

    sm = fresh(tmp_path, "a", every=3)
    gate = _gated_checksums(monkeypatch)
    sm.apply_batch([(1, SETUP, None, None), (2, None, None, None), (3, None, None, None)])
    t0 = time.monotonic()
    sm.apply_batch([(i, cmd(("INSERT INTO a (k, n) VALUES (?, 1)", (f"k{i}",))), None, None)
                    for i in range(4, 7)])
    assert time.monotonic() - t0 < 2.0  # did not wait for the hash of 3
    gate.set()
    assert sm.wait_for_checkpoints(10)
    sm.apply_batch([(i, None, None, None) for i in range(7, 10)])
    assert sm.wait_for_checkpoints(10)
    assert [i for i, _ in sm.checkpoints()] == [3, 9]


def test_only_the_newest_checkpoints_are_kept(tmp_path: Path) -> None:
    """The divergence detector reads the last 20 checkpoints every few seconds, on this node
    and for each peer; a table that kept one row per interval for the cluster's whole life made
    every such read longer. The newest CHECKPOINTS_KEPT stay, the older are deleted."""
    from raftsql.sql.apply import CHECKPOINTS_KEPT

    sm = fresh(tmp_path, "a", every=1)
    sm.apply_batch([(1, SETUP, None, None)])
    last = CHECKPOINTS_KEPT + 10
    for i in range(2, last + 1):
        assert sm.wait_for_checkpoints(10)  # so that none is skipped
        sm.apply_noop(i)
    assert sm.wait_for_checkpoints(10)
    sm.close()  # records the last one
    sm = fresh(tmp_path, "a", every=1)
    recorded = [i for (i,) in peek(sm, "SELECT idx FROM _raftsql_checkpoints ORDER BY idx")]
    assert recorded == list(range(last - CHECKPOINTS_KEPT + 1, last + 1))
    assert [i for i, _ in sm.checkpoints()] == recorded
    sm.close()


def test_checkpoint_every_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fresh(tmp_path, "x").checkpoint_every == 1000
    assert StateMachine(str(tmp_path / "d")).checkpoint_every == 10_000
    monkeypatch.setenv("RAFTSQL_CHECKPOINT_EVERY", "250")
    assert StateMachine(str(tmp_path / "e")).checkpoint_every == 250


def test_session_cache_follows_a_restore(tmp_path: Path) -> None:
    """The committed seqs cached across batches are the snapshot's after restore_from: a node
    that had seen seq 5 of a client, restored to a state where the latest is seq 2, applies
    seq 3 (as every node restored from that snapshot does) instead of refusing it as stale."""
    ins = cmd("INSERT INTO a (k, n) VALUES (NULL, 1)")
    src = fresh(tmp_path, "src")
    src.apply_batch([(1, SETUP, None, None), (2, ins, "c", 2)])
    src.snapshot_to(str(tmp_path / "snap.db"))
    sm = fresh(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None), (2, ins, "c", 5), (3, ins, "c", 6)])
    assert sm.restore_from(str(tmp_path / "snap.db")) == 2
    res = sm.apply_batch([(3, ins, "c", 3)])
    assert res[0][0].error is None, res
    assert src.apply_batch([(3, ins, "c", 3)]) == res and sm.checksum() == src.checksum()


def test_content_checksum_is_unchanged_from_the_previous_release() -> None:
    """Nodes of two releases compare checkpoints during a rolling upgrade, so the faster
    per-row encoding (snapshot._encode) must hash the very bytes the per-value one did. The
    golden value was computed by content_checksum at commit 81b239c on this database."""
    from raftsql.sql.snapshot import content_checksum

    conn = apsw.Connection(":memory:")
    conn.execute(
        "CREATE TABLE t (a, b TEXT, c REAL);"
        "CREATE TABLE w (k TEXT, j INTEGER, v, PRIMARY KEY (j, k)) WITHOUT ROWID;"
        "CREATE INDEX t_b ON t (b);"
        "CREATE TABLE _raftsql_meta (x); INSERT INTO _raftsql_meta VALUES (42);"
        "INSERT INTO t VALUES (NULL, 'héllo', 1.5), (-9223372036854775808, '', -0.0), "
        "(9223372036854775807, x'00ff', 1e300), ('1', 1, '1.0');"
        "INSERT INTO w VALUES ('b', 2, x''), ('a', 2, 3.25), ('z', -1, 'ü');"
    )
    assert content_checksum(conn) == (
        "1064329140d9d730876059efc04dfcebbd688ab7e82f47fe5c01a5599cd3e770"
    )
