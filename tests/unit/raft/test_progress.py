"""Progress states and the Inflights window (etcd tracker/ and design.md).

Source of truth: etcd-io/raft design.md "Progress" (probe / replicate / snapshot) and
tracker/inflights.go (bounded pipelining, thesis 10.2.1).
"""

from __future__ import annotations

import pytest
from raft_network import Network

from raftsql.raft.progress import (
    TRANSITIONS,
    Inflights,
    InvalidTransitionError,
    Progress,
    ProgressState,
)

P, R, S = ProgressState.PROBE, ProgressState.REPLICATE, ProgressState.SNAPSHOT


def test_inflights_ring_wraps_and_frees() -> None:
    """Reference: etcd tracker/inflights.go: the window holds at most `size` messages."""
    inf = Inflights(3)
    for i in (1, 2, 3):
        inf.add(i)
    assert inf.full()
    with pytest.raises(AssertionError):
        inf.add(4)
    inf.free_le(2)
    assert inf.indexes() == [3] and not inf.full()
    inf.add(4)
    inf.add(5)  # wraps around the ring
    assert inf.indexes() == [3, 4, 5] and inf.full()
    inf.free_le(10)
    assert inf.count == 0


def test_inflights_byte_budget() -> None:
    """Reference: etcd Config.MaxInflightBytes: the window is also bounded in bytes."""
    inf = Inflights(10, max_bytes=100)
    inf.add(1, 60)
    assert not inf.full()
    inf.add(2, 50)
    assert inf.full()
    inf.free_le(1)
    assert not inf.full() and inf.bytes == 50


@pytest.mark.parametrize("frm", [P, R, S])
@pytest.mark.parametrize("to", [P, R, S])
def test_transition_table_is_enforced(frm: ProgressState, to: ProgressState) -> None:
    """Reference: etcd design.md Progress diagram; invalid transitions raise (STYLE.md rule 6)."""
    pr = Progress(match=5, next=6)
    if frm is R:
        pr.become_replicate()
    elif frm is S:
        pr.become_snapshot(10)
    move = {P: pr.become_probe, R: pr.become_replicate, S: lambda: pr.become_snapshot(12)}[to]
    if (frm, to) in TRANSITIONS:
        move()
        assert pr.state is to
    else:
        with pytest.raises(InvalidTransitionError):
            move()


def test_probe_pauses_after_one_append_and_backs_off() -> None:
    """Reference: etcd design.md: in probe state at most one append is in flight."""
    pr = Progress(match=0, next=10)
    pr.sent_entries(2, 20)
    assert pr.is_paused()
    # A reject of a different index is stale.
    assert not pr.maybe_decr_to(5, 3)
    assert pr.maybe_decr_to(9, 3)
    assert pr.next == 4 and not pr.is_paused()


def test_replicate_pipelines_until_window_full() -> None:
    """Reference: etcd design.md: replicate state sends optimistically, bounded by Inflights."""
    pr = Progress(match=3, next=4, inflights=Inflights(2))
    pr.become_replicate()
    pr.sent_entries(2, 0)
    assert pr.next == 6 and not pr.is_paused()
    pr.sent_entries(1, 0)
    assert pr.next == 7 and pr.is_paused()
    assert pr.maybe_update(5)
    pr.inflights.free_le(5)
    assert pr.inflights.indexes() == [6]
    # A reject in replicate falls back to match + 1.
    assert pr.maybe_decr_to(6, 0)
    assert pr.next == 6


def test_snapshot_to_probe_resumes_after_snapshot() -> None:
    """Reference: etcd tracker/progress.go BecomeProbe: after a snapshot, probe from it."""
    pr = Progress(match=2, next=3)
    pr.become_snapshot(20)
    assert pr.is_paused() and pr.next == 21
    pr.become_probe()
    assert pr.state is P and pr.next == 21 and pr.pending_snapshot == 0


def test_unreachable_sends_replicating_follower_back_to_probe() -> None:
    """Reference: etcd raft.go MsgUnreachable: optimistic appends to an unreachable follower
    were probably lost; fall back to probing."""
    n = Network([1, 2, 3])
    n.campaign(1)
    assert n.node(1).status().progress[2].state is R
    n.node(1).report_unreachable(2)
    assert n.node(1).status().progress[2].state is P
