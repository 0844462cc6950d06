"""MemoryLog, Unstable and RaftLog: the consistency check, truncation and the handshake.

Source of truth: Raft paper 5.3 (Figure 2 AppendEntries receiver rules 2-4), etcd log.go /
log_unstable.go / storage.go semantics.
"""

from __future__ import annotations

import pytest

from raftsql.raft.log import RaftLog
from raftsql.raft.storage import CompactedError, MemoryLog, UnavailableError
from raftsql.raft.types import ConfState, Entry, Snapshot, SnapshotMetadata


def ents(*terms: int, start: int = 1) -> list[Entry]:
    return [Entry(term=t, index=start + i) for i, t in enumerate(terms)]


def test_memory_log_append_truncates_conflicts_and_compacts() -> None:
    """Reference: etcd storage.go MemoryStorage.Append/Compact."""
    m = MemoryLog()
    m.append(ents(1, 1, 2))
    m.append(ents(3, 3, start=2))
    assert [e.term for e in m.entries(1, 4)] == [1, 3, 3]
    m.compact(2)
    assert m.first_index() == 3 and m.term(2) == 3
    with pytest.raises(CompactedError):
        m.entries(2, 4)
    with pytest.raises(UnavailableError):
        m.term(9)
    snap = m.create_snapshot(3, ConfState(voters=(1,)), b"s")
    assert snap.metadata.term == 3


def test_memory_log_entries_respects_max_size_but_returns_one() -> None:
    """Reference: etcd storage.go Entries(lo, hi, maxSize): at least one entry is returned."""
    m = MemoryLog()
    m.append([Entry(term=1, index=i, data=b"x" * 100) for i in (1, 2, 3)])
    assert len(m.entries(1, 4, max_size=1)) == 1
    assert len(m.entries(1, 4, max_size=300)) == 2


def test_maybe_append_consistency_check_and_conflict_truncation() -> None:
    """Reference: Raft paper 5.3, Figure 2 AppendEntries rules 2 and 3."""
    store = MemoryLog()
    store.append(ents(1, 1, 2))
    log = RaftLog(store)
    # Rule 2: reject when the log has no entry at prevLogIndex with prevLogTerm.
    assert log.maybe_append(3, 1, 0, tuple(ents(3, start=4))) is None
    assert log.maybe_append(5, 2, 0, ()) is None
    # Rule 3: a conflicting entry and everything after it are deleted.
    assert log.maybe_append(1, 1, 0, tuple(ents(3, 3, start=2))) == 3
    assert [log.term(i) for i in (1, 2, 3)] == [1, 3, 3]
    # Rule 5: commit = min(leaderCommit, index of last new entry).
    assert log.maybe_append(1, 1, 9, tuple(ents(3, start=2))) == 2
    assert log.committed == 2


def test_maybe_append_is_idempotent() -> None:
    """Reference: Raft paper 5.5: a repeated AppendEntries has no further effect."""
    store = MemoryLog()
    log = RaftLog(store)
    msg = tuple(ents(1, 1, 1))
    assert log.maybe_append(0, 0, 0, msg) == 3
    assert log.maybe_append(0, 0, 0, msg[:1]) == 1  # an old, shorter message
    assert log.last_index() == 3  # nothing was truncated


def test_find_conflict_by_term() -> None:
    """Reference: etcd log.go findConflictByTerm (fast backtracking, thesis 5.3)."""
    store = MemoryLog()
    store.append(ents(1, 1, 2, 2, 4, 4))
    log = RaftLog(store)
    assert log.find_conflict_by_term(6, 3) == (4, 2)
    assert log.find_conflict_by_term(6, 5) == (6, 4)
    assert log.find_conflict_by_term(6, 0) == (0, 0)
    assert log.find_conflict_by_term(9, 2) == (9, 0)  # beyond our log: unknown term


def test_unstable_handshake_and_invariants() -> None:
    """Reference: etcd log_unstable.go: entries handed out once, dropped once stable."""
    log = RaftLog(MemoryLog())
    log.append(ents(1, 1))
    assert [e.index for e in log.unstable.next_entries()] == [1, 2]
    log.unstable.accept_in_progress()
    assert log.unstable.next_entries() == []
    log.append(ents(2, start=3))
    assert [e.index for e in log.unstable.next_entries()] == [3]
    log.stable_to(2, 1)
    assert log.unstable.offset == 3
    # A stale stable_to (the term changed meanwhile) is ignored.
    log.stable_to(3, 9)
    assert log.unstable.offset == 3
    log.commit_to(3)
    with pytest.raises(AssertionError):
        log.commit_to(4)  # beyond the last index
    with pytest.raises(AssertionError):
        log.applied_to(4)  # applied must not pass committed
    log.accept_applying(3)
    log.applied_to(3)
    assert log.applied == log.applying == log.committed == 3


def test_restore_snapshot() -> None:
    """Reference: Raft thesis 5 / etcd log.go restore: the snapshot replaces the log."""
    log = RaftLog(MemoryLog())
    log.append(ents(1, 1))
    snap = Snapshot(SnapshotMetadata(index=10, term=3, conf_state=ConfState(voters=(1,))))
    log.restore(snap)
    assert log.first_index() == 11 and log.last_index() == 10 and log.term(10) == 3
    assert log.committed == 10 and not log.has_next_committed_ents()
