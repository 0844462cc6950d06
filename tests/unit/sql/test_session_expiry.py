"""Client sessions are forgotten after a window of entries, and no request is applied twice.

Sources of truth:
  * Raft thesis section 6.3: the state machine keeps each client's latest serial number and
    response to answer duplicates, and "sessions cannot be kept forever"; expiring them must be
    deterministic, the same on every server, and a duplicate must never be applied twice.
  * docs/transactions.md "Session expiry": a request carries its proposer's applied index
    (`proposed_at`); an entry more than the window after that is refused; a session whose
    latest request is more than the window old is deleted at every window/16-th index.
  * ARCHITECTURE.md "Determinism": any cut of the log into batches reaches the same state
    (content checksum) as applying it one entry at a time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import apsw
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftsql.sql.apply import Item, NewerFormatError, StateMachine
from raftsql.sql.command import Command, NewerCommandError, Stmt, encode

SETUP = encode(Command((Stmt("CREATE TABLE t (client TEXT, seq INTEGER)"),)))
FILLER = encode(Command((Stmt("SELECT 1"),)))
WINDOW = 16  # expiry every entry (16 // 16)


def insert(client: str, seq: int, proposed_at: int) -> bytes:
    return encode(Command((Stmt("INSERT INTO t VALUES (?, ?)", (client, seq)),),
                          proposed_at=proposed_at))


def machine(tmp: Path | str, name: str, window: int = WINDOW) -> StateMachine:
    return StateMachine(str(Path(tmp) / name), checkpoint_every=1000, session_window=window)


def peek(sm: StateMachine, sql: str) -> list[tuple]:
    with sm._auth.internal():  # test-only look at the state
        return [tuple(r) for r in sm._conn.execute(sql)]


def fillers(first: int, count: int) -> list[Item]:
    return [(i, FILLER, None, None) for i in range(first, first + count)]


def test_an_idle_session_is_forgotten_after_the_window(tmp_path: Path) -> None:
    sm = machine(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None), (2, insert("a", 1, 1), "a", 1)])
    assert peek(sm, "SELECT client_id, seq, last_index FROM _raftsql_sessions") == [("a", 1, 2)]
    sm.apply_batch(fillers(3, WINDOW))  # up to index 18: last_index 2 < 18 - 16 at 19
    assert peek(sm, "SELECT count(*) FROM _raftsql_sessions") == [(1,)]
    sm.apply_batch(fillers(3 + WINDOW, 1))
    assert peek(sm, "SELECT count(*) FROM _raftsql_sessions") == [(0,)]
    # the client's next request is new: applied, and the session starts again
    index = 4 + WINDOW
    [result] = sm.apply(index, insert("a", 2, index - 1), "a", 2)
    assert result.error is None and result.rowcount == 1
    assert peek(sm, "SELECT seq, last_index FROM _raftsql_sessions") == [(2, index)]


def test_a_session_that_keeps_writing_is_kept(tmp_path: Path) -> None:
    sm = machine(tmp_path, "a")
    sm.apply_noop(1)
    sm.apply(2, SETUP)
    for seq, index in enumerate(range(3, 3 + 3 * WINDOW), 1):
        sm.apply(index, insert("a", seq, index - 1), "a", seq)
    assert peek(sm, "SELECT seq FROM _raftsql_sessions") == [(3 * WINDOW,)]


def test_a_named_session_is_never_forgotten(tmp_path: Path) -> None:
    """proposed_at 0: a client that names itself may retry at any time (docs/consistency.md)."""
    sm = machine(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None), (2, insert("named", 7, 0), "named", 7)])
    sm.apply_batch(fillers(3, 4 * WINDOW))
    assert peek(sm, "SELECT client_id, seq, last_index FROM _raftsql_sessions") == [
        ("named", 7, None)
    ]
    [again] = sm.apply(3 + 4 * WINDOW, insert("named", 7, 0), "named", 7)
    assert again.rowcount == 1 and peek(sm, "SELECT count(*) FROM t") == [(1,)]


def test_a_late_copy_within_the_window_gets_the_first_result(tmp_path: Path) -> None:
    """The latest index a copy proposed at 1 may reach the log at and still apply: its
    session, written at index 2 or later, is still kept there."""
    sm = machine(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None), (2, insert("a", 1, 1), "a", 1)])
    sm.apply_batch(fillers(3, WINDOW - 2))
    [copy] = sm.apply(1 + WINDOW, insert("a", 1, 1), "a", 1)
    assert copy.error is None and copy.rowcount == 1
    assert peek(sm, "SELECT count(*) FROM t") == [(1,)]


def test_a_copy_later_than_the_window_is_refused_and_not_applied(tmp_path: Path) -> None:
    sm = machine(tmp_path, "a")
    sm.apply_batch([(1, SETUP, None, None), (2, insert("a", 1, 1), "a", 1)])
    sm.apply_batch(fillers(3, WINDOW + 4))
    assert peek(sm, "SELECT count(*) FROM _raftsql_sessions") == [(0,)]
    [copy] = sm.apply(7 + WINDOW, insert("a", 1, 1), "a", 1)
    assert copy.error is not None and copy.error[0] == "40001", copy
    assert "was not applied" in copy.error[1]
    assert peek(sm, "SELECT count(*) FROM t") == [(1,)]
    assert peek(sm, "SELECT count(*) FROM _raftsql_sessions") == [(0,)]


# ---- exactly once, whatever the delays (hypothesis) ----------------------------------------

# Each step: a new request of one of three clients, or a copy of an earlier request that
# reaches the log `delay` entries after it was made (a re-proposal, a forwarded proposal
# held up in transit), or a filler entry.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.sampled_from(["a", "b", "c"]), st.just(0)),
        st.tuples(st.just("copy"), st.integers(0, 20), st.integers(0, 3 * WINDOW)),
        st.tuples(st.just("fill"), st.just(""), st.integers(1, WINDOW)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.lists(st.integers(min_value=1, max_value=9), max_size=20))
def test_no_request_applies_twice_and_batches_equal_one_by_one(
    plan: list[tuple[str, str, int]], cuts: list[int]
) -> None:
    """Requests carry the applied index they were made at; copies arrive later by any delay.
    Every (client, seq) inserts its row at most once; a copy either gets the first result or
    is refused; batching changes nothing."""
    items: list[Item] = [(1, SETUP, None, None)]
    made: list[tuple[str, int, int]] = []  # (client, seq, proposed_at)
    seqs = {"a": 0, "b": 0, "c": 0}
    late: list[tuple[int, Item]] = []  # (due index, copy)
    for kind, who, amount in plan:
        index = len(items) + 1
        if kind == "new":
            seqs[who] += 1
            made.append((who, seqs[who], index - 1))  # applied index when made
            items.append((index, insert(who, seqs[who], index - 1), who, seqs[who]))
        elif kind == "copy" and made:
            client, seq, at = made[who % len(made)]
            late.append((at + 1 + amount, (0, insert(client, seq, at), client, seq)))
        else:
            items.extend(fillers(index, amount))
        for due, copy in sorted(late, key=lambda d: d[0]):  # copies due by now join the log
            if due <= len(items) + 1:
                items.append((len(items) + 1, *copy[1:]))
                late.remove((due, copy))
    with tempfile.TemporaryDirectory() as tmp:
        batched, single = machine(tmp, "batched"), machine(tmp, "single")
        got, want = [], []
        start, k = 0, 0
        while start < len(items):
            size = cuts[k] if k < len(cuts) else len(items)
            got.extend(batched.apply_batch(items[start : start + size]))
            want.extend(single.apply(*item) if item[1] is not None else None
                        for item in items[start : start + size])
            start += size
            k += 1
        assert got == want
        assert batched.checksum() == single.checksum()
        rows = peek(single, "SELECT client, seq FROM t")
        assert len(rows) == len(set(rows)), "a request was applied twice"
        first: dict[tuple[str, int], object] = {}
        for (_, data, client, seq), result in zip(items, got, strict=True):
            if client is None or data is None:
                continue
            assert result is not None
            if result[0].error is not None:
                assert result[0].error[0] == "40001", result
            elif (client, seq) in first:
                assert result == first[(client, seq)]  # a copy: the first result
            else:
                first[(client, seq)] = result
        batched.close()
        single.close()


# ---- format 1 files --------------------------------------------------------------------------

FORMAT_1_SESSIONS = """CREATE TABLE _raftsql_sessions (
        client_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        result BLOB NOT NULL)"""


def _as_format_1(path: str) -> None:
    """Rewrite a file to what the previous release wrote for the same log of format 1
    commands: the sessions table without last_index (its rows keep their rowids)."""
    conn = apsw.Connection(path)
    conn.execute(
        "BEGIN; DROP INDEX _raftsql_sessions_expiry;"
        "ALTER TABLE _raftsql_sessions RENAME TO old_sessions;"
        f"{FORMAT_1_SESSIONS};"
        "INSERT INTO _raftsql_sessions (rowid, client_id, seq, result) "
        "SELECT rowid, client_id, seq, result FROM old_sessions ORDER BY rowid;"
        "DROP TABLE old_sessions; UPDATE _raftsql_meta SET format = 1; COMMIT"
    )
    conn.close()


def format_1_insert(client: str, seq: int) -> bytes:
    """A command as the previous release encoded it: version 1, four fields."""
    body = [[["INSERT INTO t VALUES (?, ?)", [client, seq]]], 0, [], []]
    return b"\x01" + msgpack.packb(body, use_bin_type=True)


def test_a_format_1_file_is_upgraded_to_the_state_a_fresh_node_reaches(tmp_path: Path) -> None:
    """A node upgraded in place and one that applies the same log afresh must hold the same
    state (the divergence detector compares them): the same schema text, NULL last_index for
    the sessions of format 1 requests, and the same checksum after more entries."""
    log: list[Item] = [(1, SETUP, None, None)] + [
        (i, format_1_insert(c, i), c, i) for i, c in zip(range(2, 8), "abcabc", strict=True)
    ]
    old, fresh = machine(tmp_path, "old"), machine(tmp_path, "fresh")
    old.apply_batch(log)
    old.close()
    _as_format_1(old.path)
    upgraded = machine(tmp_path, "old")
    fresh.apply_batch(log)
    assert peek(upgraded, "SELECT format FROM _raftsql_meta") == [(2,)]
    assert peek(upgraded, "SELECT last_index FROM _raftsql_sessions") == [(None,)] * 3
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    assert peek(upgraded, schema) == peek(fresh, schema)
    assert upgraded.checksum() == fresh.checksum()
    more: list[Item] = [(8, insert("a", 8, 7), "a", 8)] + fillers(9, 2 * WINDOW)
    assert upgraded.apply_batch(more) == fresh.apply_batch(more)
    assert upgraded.checksum() == fresh.checksum()
    assert peek(upgraded, "SELECT client_id FROM _raftsql_sessions ORDER BY 1") == [("b",), ("c",)]
    upgraded.close()
    fresh.close()


def test_a_format_1_snapshot_is_upgraded_when_restored(tmp_path: Path) -> None:
    src = machine(tmp_path, "src")
    src.apply_batch([(1, SETUP, None, None), (2, format_1_insert("a", 1), "a", 1)])
    src.close()
    _as_format_1(src.path)
    sm = machine(tmp_path, "dst")
    assert sm.restore_from(src.path) == 2
    assert peek(sm, "SELECT format FROM _raftsql_meta") == [(2,)]
    [again] = sm.apply(3, format_1_insert("a", 1), "a", 1)  # still deduplicated
    assert again.rowcount == 1 and peek(sm, "SELECT count(*) FROM t") == [(1,)]
    sm.close()


def test_a_command_of_a_later_format_stops_the_node_instead_of_failing_the_entry(
    tmp_path: Path,
) -> None:
    """docs/operations.md "Upgrades": a node older than the log must not record a newer
    command as a failed entry (its state would part from its upgraded peers'); it raises, as
    for a node-local error, and applies nothing of the batch."""
    sm = machine(tmp_path, "a", window=1 << 20)  # one batch, not cut at every index
    sm.apply_batch([(1, SETUP, None, None)])
    newer = b"\x03" + msgpack.packb([[["INSERT INTO t VALUES (1, 1)", []]], 0, [], [], 1, "x"])
    with pytest.raises(NewerCommandError):
        sm.apply_batch([(2, insert("a", 1, 1), "a", 1), (3, newer, "a", 2)])
    assert sm.applied_index == 1 and peek(sm, "SELECT count(*) FROM t") == [(0,)]
    [garbage] = sm.apply(2, b"\x7fgarbage", "a", 1)  # not a format: failed, deterministically
    assert garbage.error is not None and garbage.error[0] == "XX001"
    sm.close()


def test_a_file_of_a_later_format_is_refused_at_open(tmp_path: Path) -> None:
    sm = machine(tmp_path, "a")
    sm.close()
    conn = apsw.Connection(sm.path)
    conn.execute("UPDATE _raftsql_meta SET format = 3")
    conn.close()
    with pytest.raises(NewerFormatError, match="format 3"):
        machine(tmp_path, "a")
    reopened = apsw.Connection(sm.path)  # refused, and left as it was
    assert list(reopened.execute("SELECT format FROM _raftsql_meta")) == [(3,)]
    reopened.close()
