"""The shared Ready handler keeps Raft's durability ordering.

Source of truth: etcd-io/raft README "Usage" (the four-step Ready loop), the Ready docstring in
raftsql/raft/types.py and docs/raft-api.md "The Ready loop"; Raft paper section 5 (Figure 2,
"Rules for Servers": respond only after persisting currentTerm, votedFor and log[]).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from raftsql.node.ready import PendingReads, handle_ready
from raftsql.raft.confchange import encode_conf_change
from raftsql.raft.types import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Snapshot,
    SnapshotMetadata,
)


@dataclass
class Recorder:
    """Plays LogStore, Transport, StateMachine and the node at once, writing one shared
    journal so the test can assert the order of effects."""

    journal: list[tuple] = field(default_factory=list)

    def persist(
        self, hard_state: HardState | None, entries: Sequence[Entry], snapshot: Snapshot, sync: bool
    ) -> None:
        self.journal.append(("persist", hard_state, tuple(e.index for e in entries), sync))

    def send(self, msgs: Sequence[Message]) -> None:
        self.journal.append(("send", tuple(m.type for m in msgs)))

    def apply_entries(self, entries: Sequence[Entry]) -> list[str]:
        self.journal.extend(("apply", e.index) for e in entries)
        return [f"r{e.index}" for e in entries]

    def restore(self, snapshot: Snapshot) -> None:
        self.journal.append(("restore", snapshot.metadata.index))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        self.journal.append(("conf", cc.changes[0].node_id))
        return ConfState(voters=(1, 2, 3, cc.changes[0].node_id))

    def advance(self, rd: Ready) -> None:
        self.journal.append(("advance",))

    def kinds(self) -> list[str]:
        return [j[0] for j in self.journal]


def _ready(**kw: object) -> Ready:
    return Ready(**kw)


def test_persist_before_persisted_messages_and_advance_last() -> None:
    """A vote or append ack (persisted_messages) must not leave before the write it promises
    is durable (paper Figure 2); advance comes after everything (etcd README step 4)."""
    r = Recorder()
    rd = _ready(
        hard_state=HardState(term=2, vote=3, commit=0),
        entries=[Entry(term=2, index=1)],
        messages=[Message(MessageType.APP, to=2, frm=1)],
        persisted_messages=[Message(MessageType.VOTE_RESP, to=3, frm=1)],
        must_sync=True,
    )
    handle_ready(r, rd, r, r, r, PendingReads())
    assert r.kinds() == ["send", "persist", "send", "advance"]
    assert r.journal[1] == ("persist", HardState(2, 3, 0), (1,), True)
    assert r.journal[2] == ("send", (MessageType.VOTE_RESP,))


def test_snapshot_restored_before_entries_and_conf_changes_go_to_the_node() -> None:
    """Apply the snapshot first, then committed entries in order as one batch; CONF_CHANGE
    entries then reach the node's configuration in log order, before advance (docs/raft-api.md,
    Ready loop step 3; the core is not touched in between, so the order is the same to it)."""
    r = Recorder()
    cc = ConfChange((ConfChangeSingle(ConfChangeType.ADD_LEARNER, 4),))
    snap = Snapshot(SnapshotMetadata(index=5, term=2, conf_state=ConfState(voters=(1, 2, 3))))
    rd = _ready(
        snapshot=snap,
        committed_entries=[
            Entry(term=2, index=6, data=b"x"),
            Entry(term=2, index=7, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc)),
        ],
    )
    out = handle_ready(r, rd, r, r, r, PendingReads())
    assert r.kinds() == ["persist", "restore", "apply", "apply", "conf", "advance"]
    assert out.restored == snap
    assert [(e.index, res) for e, res in out.applied] == [(6, "r6"), (7, "r7")]
    assert out.conf_states == [(7, ConfState(voters=(1, 2, 3, 4)))]


def test_reads_wait_until_their_index_is_applied() -> None:
    """Thesis 6.4 step 4: serve a read once applied >= its read index, not earlier."""
    r = Recorder()
    reads = PendingReads(applied=3)
    rd = _ready(read_states=[ReadState(4, b"a"), ReadState(3, b"b")])
    out = handle_ready(r, rd, r, r, r, reads)
    assert [rs.request_ctx for rs in out.released_reads] == [b"b"]
    out = handle_ready(r, _ready(committed_entries=[Entry(term=1, index=4)]), r, r, r, reads)
    assert [rs.request_ctx for rs in out.released_reads] == [b"a"]
    assert reads.waiting == []


def test_apply_gap_is_refused() -> None:
    """Entries apply exactly once, in order (STYLE.md rule 9): a gap is a bug, not a skip."""
    r = Recorder()
    with pytest.raises(AssertionError):
        handle_ready(r, _ready(committed_entries=[Entry(term=1, index=3)]), r, r, r, PendingReads())


def test_single_real_node_commits_through_the_handler() -> None:
    """End to end with the real RawNode and MemoryLog: a one-voter cluster elects itself,
    commits a proposal and applies it through handle_ready (paper 5.2, 5.3)."""
    from raftsql.raft.config import Config
    from raftsql.raft.rawnode import RawNode
    from raftsql.raft.storage import MemoryLog
    from raftsql.testing.kvsm import KVStateMachine, encode_put

    class Store:
        def __init__(self, log: MemoryLog) -> None:
            self.log = log

        def persist(
            self,
            hard_state: HardState | None,
            entries: Sequence[Entry],
            snapshot: Snapshot,
            sync: bool,
        ) -> None:
            if not snapshot.empty:
                self.log.apply_snapshot(snapshot)
            self.log.append(list(entries))
            if hard_state is not None:
                self.log.set_hard_state(hard_state)

    class NoNet:
        def send(self, msgs: Sequence[Message]) -> None:
            assert not msgs, "a single node sends nothing"

    log = MemoryLog(ConfState(voters=(1,)))
    node = RawNode(Config(id=1, rng=random.Random(1)), log)
    sm = KVStateMachine()
    reads = PendingReads()
    store = Store(log)
    node.campaign()
    applied = []
    for _ in range(10):
        while node.has_ready():
            out = handle_ready(node, node.ready(), store, NoNet(), sm, reads)
            applied += out.applied
        if sm.applied >= 1 and not any(e.data for e, _ in applied):
            node.propose(encode_put("k", "v"), client_id=b"c", seq=1)
    assert sm.get("k") == "v"
    assert log.initial_state()[0].commit == sm.applied
    results = [res for e, res in applied if e.data]
    assert results == [("put", True, "v", sm.applied)]
