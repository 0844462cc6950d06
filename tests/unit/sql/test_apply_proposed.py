"""A command this node proposed is applied as it was encoded, not decoded again
(StateMachine.note_proposed): the leader's own entries come back to it as the same bytes
object.

Source of truth: every node applies the same command for an entry (Raft paper section 5.3:
the state machines apply the same log). So what the leader applies from its memo must be what
a follower decodes from the entry's bytes: the same results and the same state, and only for
the very bytes object it encoded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raftsql.sql import apply as apply_module
from raftsql.sql.apply import MAX_PROPOSED_KEPT, StateMachine
from raftsql.sql.command import Command, Stmt, decode, encode

SETUP = Command((Stmt("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT, n INTEGER)"),))
UPSERT = ("INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE "
          "SET v = excluded.v, n = n + excluded.n RETURNING k, v, n")


def _machine(path: Path) -> StateMachine:
    sm = StateMachine(str(path))
    sm.apply(1, encode(SETUP))
    return sm


def _upsert(k: int, v: str, n: int, proposed_at: int = 1) -> Command:
    return Command((Stmt(UPSERT, (k, v, n)),), proposed_at=proposed_at)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every decode the state machine makes."""
    seen: list[bytes] = []

    def counting(data: bytes) -> Command:
        seen.append(data)
        return decode(data)

    monkeypatch.setattr(apply_module, "decode", counting)
    return seen


def test_the_noted_bytes_are_applied_without_decoding_and_as_a_follower_applies_them(
    tmp_path: Path, decodes: list[bytes]
) -> None:
    leader, follower = _machine(tmp_path / "l.sqlite"), _machine(tmp_path / "f.sqlite")
    decodes.clear()
    items = []
    for index, (k, v, n) in enumerate([(1, "a", 1), (2, "b", 2), (1, "c", 3)], start=2):
        cmd = _upsert(k, v, n)
        data = encode(cmd)
        leader.note_proposed(data, cmd)
        items.append((index, data, "client-1", index))
    leader_results = leader.apply_batch(items)
    assert decodes == []
    # the follower got the same bytes over the network: other objects, decoded
    follower_results = follower.apply_batch([(i, bytes(bytearray(d)), c, s)
                                             for i, d, c, s in items])
    assert len(decodes) == 3
    assert leader_results == follower_results
    assert leader_results[2] is not None and leader_results[2][0].rows == ((1, "c", 4),)
    assert leader.checksum() == follower.checksum()
    leader.close()
    follower.close()


def test_equal_bytes_that_are_another_object_are_decoded(
    tmp_path: Path, decodes: list[bytes]
) -> None:
    """An entry read back from the log (after a restart, or from RocksDB instead of the tail
    cache) is another object with the same bytes: decoded, and the memo does not answer for
    it."""
    sm = _machine(tmp_path / "s.sqlite")
    cmd = _upsert(1, "a", 1)
    data = encode(cmd)
    sm.note_proposed(data, cmd)
    copy = bytes(bytearray(data))
    assert copy == data and copy is not data
    decodes.clear()
    sm.apply(2, copy, "client-1", 1)
    assert decodes == [copy]
    sm.close()


def test_a_command_changed_after_it_was_noted_is_applied_as_it_was_encoded(
    tmp_path: Path, decodes: list[bytes]
) -> None:
    """A proposer that retries sets a new `proposed_at` on the same Command object and encodes
    it again; the first bytes, should they commit after all, must apply what they hold."""
    sm = StateMachine(str(tmp_path / "s.sqlite"), session_window=4)
    sm.apply(1, encode(SETUP))
    for index in range(2, 9):
        sm.apply_noop(index)
    cmd = _upsert(1, "a", 1, proposed_at=5)  # at index 9: 4 entries later, within the window
    first = encode(cmd)
    sm.note_proposed(first, cmd)
    cmd.proposed_at = 1  # 8 entries before index 9: this command would be refused
    decodes.clear()
    results = sm.apply(9, first, "client-1", 1)
    assert decodes == []
    assert results[0].error is None and results[0].rows == ((1, "a", 1),)
    sm.close()


def test_the_memo_is_bounded(tmp_path: Path) -> None:
    """Proposals that are never applied here (dropped, or replaced in a new leader's log) are
    forgotten once the memo is full."""
    sm = _machine(tmp_path / "s.sqlite")
    kept = []
    for i in range(MAX_PROPOSED_KEPT + 10):
        cmd = _upsert(i, "x", 1)
        data = encode(cmd)
        kept.append(data)  # alive, so no id is reused
        sm.note_proposed(data, cmd)
    assert len(sm._proposed) <= MAX_PROPOSED_KEPT
    sm.close()
