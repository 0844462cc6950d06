"""RocksLogStore answers every LogReader question exactly like MemoryLog, the reference.

Source of truth: ``raftsql.raft.storage.MemoryLog`` (shaped after etcd-io/raft's MemoryStorage,
``storage.go``) and the LogReader contract in docs/raft-api.md. Hypothesis drives both stores
with the same random sequence of appends (with conflicting overwrites), hard-state updates,
compactions, snapshot creation and installation, and RocksDB reopens; after every step the two
must give the same answers and raise the same error types. One difference is deliberate and
modelled explicitly: ``create_snapshot`` makes the snapshot's membership the restart membership
(etcd MemoryStorage semantics; see ``RocksLogStore.create_snapshot``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from raftsql.raft.storage import MemoryLog
from raftsql.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from raftsql.storage import RocksLogStore

BOOT = ConfState(voters=(1, 2, 3))


def _outcome(f: Callable[[], Any]) -> Any:
    try:
        return ("ok", f())
    except Exception as exc:  # compare the error type, not the message
        return ("error", type(exc).__name__)


class SameAnswers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.mem = MemoryLog(BOOT)
        self.rocks = RocksLogStore(self.tmp.name, conf_state=BOOT, tail_max_entries=5)
        self.term = 1
        self.hs = HardState()

    def teardown(self) -> None:
        self.rocks.close()
        self.tmp.cleanup()

    def both(self, name: str, *args: Any) -> None:
        a = _outcome(lambda: getattr(self.mem, name)(*args))
        b = _outcome(lambda: getattr(self.rocks, name)(*args))
        assert a[0] == b[0] and (a[0] == "ok" or a == b), (name, args, a, b)

    @rule(back=st.integers(0, 4), n=st.integers(1, 6), bump=st.booleans(), size=st.integers(0, 40))
    def append(self, back: int, n: int, bump: bool, size: int) -> None:
        """Append at or before the end, overwriting an uncommitted suffix like a follower (5.3)."""
        start = max(self.mem.first_index(), self.mem.last_index() + 1 - back, self.hs.commit + 1)
        if bump:
            self.term += 1
        ents = [Entry(term=self.term, index=start + i, data=bytes([i]) * size) for i in range(n)]
        self.both("append", ents)

    @rule()
    def append_with_gap(self) -> None:
        self.both("append", [Entry(term=self.term, index=self.mem.last_index() + 2)])

    @rule(commit_back=st.integers(0, 3))
    def set_hard_state(self, commit_back: int) -> None:
        commit = max(self.hs.commit, min(self.mem.last_index() - commit_back, self.mem.last_index()))
        if commit < self.hs.commit or commit > self.mem.last_index():
            return
        self.hs = HardState(term=self.term, vote=1, commit=commit)
        self.both("set_hard_state", self.hs)

    @rule(back=st.integers(0, 5))
    def compact(self, back: int) -> None:
        self.both("compact", self.mem.last_index() - back)

    @rule(back=st.integers(0, 5), data=st.binary(max_size=20))
    def create_snapshot(self, back: int, data: bytes) -> None:
        cs = ConfState(voters=(1, 2, 3, 4), learners=(len(data),))
        before = self.mem.snapshot().metadata.index
        self.both("create_snapshot", self.mem.last_index() - back, cs, data)
        if self.mem.snapshot().metadata.index != before:
            # The one documented difference (RocksLogStore.create_snapshot): the snapshot's
            # membership becomes the restart membership, as in etcd's MemoryStorage.
            self.mem.set_conf_state(cs)

    @rule(ahead=st.integers(-3, 10), data=st.binary(max_size=20))
    def apply_snapshot(self, ahead: int, data: bytes) -> None:
        """A follower installs a leader's snapshot (may be out of date: same error both)."""
        index = max(0, self.mem.last_index() + ahead)
        if index == 0 or index < self.hs.commit:  # Raft never restores below its commit
            return
        self.term += 1
        meta = SnapshotMetadata(index=index, term=self.term, conf_state=ConfState(voters=(2, 5)))
        self.both("apply_snapshot", Snapshot(meta, data))
        if self.hs.commit < index and self.mem.snapshot().metadata.index == index:
            self.hs = HardState(term=self.term, vote=0, commit=index)
            self.both("set_hard_state", self.hs)

    @rule(cs=st.sampled_from([ConfState(voters=(1,)), ConfState(voters=(1, 2), learners=(3,))]))
    def set_conf_state(self, cs: ConfState) -> None:
        self.both("set_conf_state", cs)

    @precondition(lambda self: True)
    @rule()
    def reopen(self) -> None:
        """Durability: a reopened store answers the same (the reference never forgets)."""
        self.rocks.close()
        self.rocks = RocksLogStore(self.tmp.name, tail_max_entries=5)

    @invariant()
    def same_reader_answers(self) -> None:
        m, r = self.mem, self.rocks
        assert m.initial_state() == r.initial_state()
        assert (m.first_index(), m.last_index()) == (r.first_index(), r.last_index())
        assert m.snapshot() == r.snapshot()
        lo, hi = m.first_index(), m.last_index()
        for i in range(max(0, lo - 2), hi + 3):
            assert _outcome(lambda i=i: m.term(i)) == _outcome(lambda i=i: r.term(i)), i
        for a in sorted({max(0, lo - 1), lo, lo + 1, (lo + hi) // 2, hi - 1, hi, hi + 1}):
            for b in (a, a + 1, a + 3, hi + 1, hi + 2):
                for size in (None, 0, 50):
                    x = _outcome(lambda a=a, b=b, size=size: m.entries(a, b, size))
                    y = _outcome(lambda a=a, b=b, size=size: r.entries(a, b, size))
                    assert x == y, (a, b, size, x, y)


SameAnswers.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSameAnswers = SameAnswers.TestCase
