"""Linearizable reads: ReadIndex (thesis 6.4) and the leader lease (thesis 6.4.1).

Source of truth: Ongaro's thesis 6.4 (steps 1-4 of ReadIndex, "a new leader must commit an
entry of its term first") and 6.4.1 (lease = election timeout minus clock drift, counted from
when the heartbeat round was sent); etcd read_only.go.
"""

from __future__ import annotations

from raft_network import Network

from raftsql.raft.config import ReadOnlyOption
from raftsql.raft.types import MessageType, ReadState, Role

MT = MessageType
LEASE = {"read_only_option": ReadOnlyOption.LEASE_BASED, "check_quorum": True}


def test_read_index_on_leader_needs_a_quorum_round() -> None:
    """Reference: Raft thesis 6.4 steps 1-3: record the commit index, confirm leadership with a
    heartbeat round acked by a majority, then serve at that index."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.propose(1, b"a")
    n.isolate(1)
    n.node(1).read_index(b"r1")
    n.send()
    assert n.peers[1].read_states == []  # no quorum: no answer
    n.recover()
    n.tick(1)  # next heartbeat round reaches the followers
    assert n.peers[1].read_states == [ReadState(index=2, request_ctx=b"r1")]


def test_read_index_forwarded_from_follower() -> None:
    """Reference: Raft thesis 6.4: a follower asks the leader for the read index."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.propose(1, b"a")
    n.node(3).read_index(b"f")
    n.send()
    assert n.peers[3].read_states == [ReadState(index=2, request_ctx=b"f")]
    types = [m.type for m in n.delivered if m.frm == 3 or m.to == 3]
    assert MT.READ_INDEX in types and MT.READ_INDEX_RESP in types


def test_new_leader_queues_reads_until_own_term_entry_commits() -> None:
    """Reference: Raft thesis 6.4 step 1: a leader knows the commit index only after it has
    committed an entry of its own term (the no-op)."""
    n = Network([1, 2, 3])
    n.ignore(MT.APP_RESP)  # the no-op cannot commit
    n.campaign(1)
    assert n.node(1).status().role is Role.LEADER
    n.node(1).read_index(b"early")
    n.send()
    assert n.peers[1].read_states == []
    n.recover()
    n.tick(1)
    assert n.peers[1].read_states == [ReadState(index=1, request_ctx=b"early")]


def test_lease_read_is_answered_without_a_round() -> None:
    """Reference: Raft thesis 6.4.1: while the lease holds, the leader serves reads without
    contacting the followers."""
    n = Network([1, 2, 3], **LEASE)
    n.campaign(1)
    n.propose(1, b"a")
    assert n.node(1).status().lease_remaining_ticks > 0
    n.delivered.clear()
    n.node(1).read_index(b"lease")
    n.send()
    assert n.delivered == []
    assert n.peers[1].read_states == [ReadState(index=2, request_ctx=b"lease")]


def test_lease_arithmetic_counts_from_round_send_tick() -> None:
    """Reference: Raft thesis 6.4.1: the lease runs election_timeout - drift from the time
    the acknowledged heartbeat was *sent* (here: the start tick of its round)."""
    n = Network([1, 2, 3], election_tick=10, lease_drift_margin_ticks=3, **LEASE)
    n.campaign(1)
    n.tick(1, 1)  # heartbeat round started at tick 1 and acked at once
    r = n.node(1).raft
    assert r.read_only.lease_expiry == 1 + 10 - 3
    assert n.node(1).status().lease_remaining_ticks == 7
    n.isolate(1)
    n.tick(1, 6)
    assert n.node(1).status().lease_remaining_ticks == 1
    n.tick(1, 1)
    assert n.node(1).status().lease_remaining_ticks == 0


def test_expired_lease_falls_back_to_read_index_round() -> None:
    """Reference: Raft thesis 6.4.1 / 6.4: without a valid lease, use the ReadIndex round."""
    n = Network([1, 2, 3], **LEASE)
    n.campaign(1)
    n.isolate(1)
    n.tick(1, 9)
    assert n.node(1).status().lease_remaining_ticks == 0
    n.node(1).read_index(b"x")
    n.send()
    assert n.peers[1].read_states == []
    n.recover()
    n.tick(1)
    assert [rs.request_ctx for rs in n.peers[1].read_states] == [b"x"]


def test_no_lease_during_leadership_transfer() -> None:
    """Reference: Raft thesis 3.10 + 6.4.1: a transfer lets another server win before the lease
    ends (its votes are not refused), so the leader holds no lease while transferring."""
    n = Network([1, 2, 3], **LEASE)
    n.campaign(1)
    n.propose(1, b"a")
    n.isolate(3)
    n.node(1).transfer_leader(3)
    n.send()
    assert n.node(1).status().lease_remaining_ticks == 0


def test_lease_void_for_rest_of_term_after_timeout_now() -> None:
    """Reference: Raft thesis 3.10 + 6.4.1: once TimeoutNow is sent, the target may win an
    election that ignores the followers' lease, so an aborted transfer must not revive the
    leader's lease in the same term."""
    n = Network([1, 2, 3], **LEASE)
    n.campaign(1)
    n.ignore(MT.TIMEOUT_NOW)  # the transferee never campaigns
    n.node(1).transfer_leader(2)
    n.send()
    n.recover()
    n.tick(1, 10)  # the transfer is aborted after an election timeout
    st = n.node(1).status()
    assert st.role is Role.LEADER and st.lead_transferee == 0
    assert st.lease_remaining_ticks == 0
    n.node(1).read_index(b"x")
    n.send()  # still served, through a quorum round
    assert [rs.request_ctx for rs in n.peers[1].read_states] == [b"x"]


def test_old_leader_lease_expires_before_new_leader_can_be_elected() -> None:
    """Reference: Raft thesis 6.4.1: followers that acked a heartbeat refuse votes for an
    election timeout, so the old leader's lease (shorter by the margin) ends first."""
    n = Network([1, 2, 3], **LEASE)
    n.campaign(1)
    n.isolate(1)
    elected_at = None
    for t in range(1, 40):
        for nid in (1, 2, 3):
            n.node(nid).tick()
        n.send()
        if elected_at is None and any(n.node(x).status().role is Role.LEADER for x in (2, 3)):
            elected_at = t
        if n.node(1).status().lease_remaining_ticks > 0:
            assert elected_at is None
    assert elected_at is not None


def test_quorum_read_ignores_a_valid_lease() -> None:
    """Reference: Raft thesis 6.4 vs 6.4.1: a reader that makes no clock assumption asks for
    the ReadIndex round even while the leader's lease holds, from the leader or a follower."""
    n = Network([1, 2, 3], **LEASE)
    n.campaign(1)
    n.propose(1, b"a")
    assert n.node(1).status().lease_remaining_ticks > 0
    n.isolate(1)
    n.node(1).read_index(b"q", use_lease=False)
    n.send()
    assert n.peers[1].read_states == []  # the lease alone does not answer it
    n.recover()
    n.tick(1)
    assert n.peers[1].read_states == [ReadState(index=2, request_ctx=b"q")]
    n.node(3).read_index(b"fq", use_lease=False)
    n.delivered.clear()
    n.send()
    assert n.peers[3].read_states == [ReadState(index=2, request_ctx=b"fq")]
    assert any(m.type is MT.HEARTBEAT for m in n.delivered)
