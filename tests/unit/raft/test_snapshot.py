"""Snapshots: catching up a follower whose entries were compacted (Raft thesis 5).

Source of truth: thesis 5.2/5.3 (InstallSnapshot, sent in chunks with an offset; the follower
discards a partial snapshot that does not continue at the expected offset), etcd raft.go
restore / ReportSnapshot.
"""

from __future__ import annotations

from raft_network import Network, drain, log_with, solo

from raftsql.raft.progress import ProgressState
from raftsql.raft.storage import MemoryBuffer
from raftsql.raft.types import (
    ConfState,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)

MT = MessageType


def compacted_cluster(chunk: int = 4, buffer: type[MemoryBuffer] = MemoryBuffer) -> Network:
    n = Network([1, 2, 3], snapshot_chunk_size=chunk, snapshot_buffer=buffer)
    n.campaign(1)
    n.isolate(3)
    for i in range(5):
        n.propose(1, b"v%d" % i)
    p = n.peers[1]
    applied = p.node.status().applied
    p.log.create_snapshot(applied, ConfState(voters=(1, 2, 3)), b"0123456789")  # 10 bytes
    p.log.compact(applied)
    return n


def test_follower_behind_compaction_gets_chunked_snapshot() -> None:
    """Reference: Raft thesis 5.3: the leader sends InstallSnapshot in chunks; the follower
    reassembles them, replaces its log and replies with the snapshot's last index."""
    n = compacted_cluster(chunk=4)
    n.recover()
    n.delivered.clear()
    n.tick(1)
    snaps = [m for m in n.delivered if m.type is MT.SNAP]
    assert [(m.snapshot_offset, m.snapshot.data, m.snapshot_done) for m in snaps] == [
        (0, b"0123", False), (4, b"4567", False), (8, b"89", True),
    ]
    p3 = n.peers[3]
    assert p3.log.snapshot().data == b"0123456789"
    assert any(not rd.snapshot.empty and rd.must_sync for rd in p3.readys)
    n.propose(1, b"after")
    assert n.data(3)[-1:] == [b"after"]
    assert n.node(1).status().progress[3].state is ProgressState.REPLICATE


def lose_middle_chunk_once(n: Network) -> list[Message]:
    """Drop the first chunk at offset 4 the network carries; returns what was dropped."""
    dropped: list[Message] = []

    def lose_middle_chunk(m: Message) -> bool:
        if m.type is MT.SNAP and m.snapshot_offset == 4 and not dropped:
            dropped.append(m)
            return False
        return True

    n.hook = lose_middle_chunk
    return dropped


def test_lost_chunk_makes_the_leader_start_over() -> None:
    """Reference: Raft thesis 5.3: a chunk at an unexpected offset makes the follower discard
    the partial snapshot; the leader resends it from offset 0."""
    n = compacted_cluster(chunk=4)
    n.recover()
    dropped = lose_middle_chunk_once(n)
    n.tick(1)
    assert dropped
    rejects = [m for m in n.delivered if m.type is MT.APP_RESP and m.frm == 3 and m.reject]
    assert rejects
    assert n.peers[3].log.snapshot().data == b"0123456789"  # the retry went through


class RecordingBuffer(MemoryBuffer):
    """A snapshot buffer that notes what the core did with it."""

    made: list[RecordingBuffer] = []

    def __init__(self) -> None:
        super().__init__()
        self.discarded = self.viewed = False
        RecordingBuffer.made.append(self)

    def view(self) -> memoryview:
        self.viewed = True
        return super().view()

    def discard(self) -> None:
        self.discarded = True
        super().discard()


def test_the_buffer_of_a_partial_snapshot_is_discarded() -> None:
    """The core reassembles chunks in the buffer Config.snapshot_buffer makes (the node's
    spools to a file): one whose snapshot lost a chunk is discarded, and so is one a resend
    from offset 0 replaces; only the completed one is viewed."""
    RecordingBuffer.made = []
    n = compacted_cluster(chunk=4, buffer=RecordingBuffer)
    n.recover()
    dropped = lose_middle_chunk_once(n)
    n.tick(1)
    assert dropped and n.peers[3].log.snapshot().data == b"0123456789"
    assert [(b.discarded, b.viewed) for b in RecordingBuffer.made] == [(True, False),
                                                                       (False, True)]
    RecordingBuffer.made = []
    core = n.node(3).raft
    meta = n.peers[3].log.snapshot().metadata
    later = SnapshotMetadata(index=meta.index + 5, term=meta.term, conf_state=meta.conf_state)
    for offset in (0, 0):  # the leader starts the same snapshot over
        core.step(Message(MT.SNAP, frm=1, to=3, term=core.term, snapshot_offset=offset,
                          snapshot=Snapshot(later, b"abcd"), snapshot_done=False))
    assert [(b.discarded, b.viewed) for b in RecordingBuffer.made] == [(True, False),
                                                                       (False, False)]


def test_lost_final_chunk_times_out_into_probe() -> None:
    """Reference: etcd ReportSnapshot: a snapshot that never completes must not leave the
    follower in SNAPSHOT state forever; we also time it out after two election timeouts."""
    n = compacted_cluster(chunk=4)
    n.recover()
    n.hook = lambda m: not (m.type is MT.SNAP and m.snapshot_done)
    n.tick(1)
    assert n.node(1).status().progress[3].state is ProgressState.SNAPSHOT
    n.tick(1, 21)  # two election timeouts
    starts = [m for m in n.delivered if m.type is MT.SNAP and m.snapshot_offset == 0]
    assert len(starts) == 2  # the first attempt and one retry after the timeout
    n.hook = None
    n.tick(1, 21)
    assert n.peers[3].log.snapshot().data == b"0123456789"


def test_report_snapshot_failure_returns_to_probe() -> None:
    """Reference: etcd raft.go MsgSnapStatus: a failed snapshot sends the follower back to
    probe, to retry after the next heartbeat response."""
    n = compacted_cluster()
    n.recover()
    n.ignore(MT.SNAP)
    n.tick(1)
    assert n.node(1).status().progress[3].state is ProgressState.SNAPSHOT
    n.node(1).report_snapshot(3, failed=True)
    pr = n.node(1).status().progress[3]
    assert pr.state is ProgressState.PROBE and pr.paused


def test_snapshot_not_including_us_is_ignored_and_old_snapshot_fast_forwards() -> None:
    """Reference: etcd raft.go restore: a snapshot whose config lacks this node is dropped; one
    matching our log only moves the commit index."""
    node, log = solo(1, [1, 2, 3])
    meta = SnapshotMetadata(index=5, term=1, conf_state=ConfState(voters=(2, 3, 4)))
    node.step(Message(MT.SNAP, to=1, frm=2, term=1, snapshot=Snapshot(meta, b"x")))
    msgs = drain(node, log)
    assert [(m.type, m.index) for m in msgs] == [(MT.APP_RESP, 0)]
    assert log.snapshot().empty
    # A snapshot whose last entry we already hold: fast-forward commit, keep the log.
    node, log = solo(1, [1, 2, 3], log=log_with(1, 1, 1))
    meta = SnapshotMetadata(index=2, term=1, conf_state=ConfState(voters=(1, 2, 3)))
    node.step(Message(MT.SNAP, to=1, frm=2, term=1, snapshot=Snapshot(meta, b"x")))
    msgs = drain(node, log)
    assert [(m.type, m.index) for m in msgs] == [(MT.APP_RESP, 2)]
    assert log.snapshot().empty and log.last_index() == 3 and node.status().commit == 2
