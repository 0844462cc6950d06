"""Leadership transfer (Raft thesis 3.10).

Source of truth: thesis 3.10 (the leader stops accepting requests, brings the target up to
date, sends TimeoutNow; the target starts an election at once; the transfer is aborted if it
does not complete within an election timeout); etcd raft.go MsgTransferLeader.
"""

from __future__ import annotations

import pytest
from raft_network import Network

from raftsql.raft.errors import ProposalDroppedError
from raftsql.raft.types import MessageType, Role

MT = MessageType


def test_transfer_to_up_to_date_follower() -> None:
    """Reference: Raft thesis 3.10: TimeoutNow makes the target campaign without waiting, and
    its vote requests are honoured despite the followers' leader lease."""
    n = Network([1, 2, 3], check_quorum=True, pre_vote=True)
    n.campaign(1)
    n.propose(1, b"a")
    n.node(1).transfer_leader(2)
    n.send()
    assert n.node(2).status().role is Role.LEADER
    assert n.node(1).status().leader_id == 2
    assert any(m.type is MT.TIMEOUT_NOW for m in n.delivered)


def test_transfer_catches_up_lagging_target_first() -> None:
    """Reference: Raft thesis 3.10 step 2: the leader first replicates missing entries."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.isolate(3)
    n.propose(1, b"a")
    n.recover()
    n.delivered.clear()
    n.node(1).transfer_leader(3)
    n.send()
    kinds = [m.type for m in n.delivered if m.to == 3]
    assert kinds.index(MT.APP) < kinds.index(MT.TIMEOUT_NOW)
    assert n.node(3).status().role is Role.LEADER
    assert n.data(3) == [b"a"]


def test_proposals_dropped_during_transfer_and_transfer_aborts_after_timeout() -> None:
    """Reference: Raft thesis 3.10: the leader stops accepting client requests during the
    transfer and resumes them if the transfer does not finish within an election timeout."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.isolate(3)
    n.node(1).transfer_leader(3)
    n.send()
    with pytest.raises(ProposalDroppedError):
        n.node(1).propose(b"x")
    n.tick(1, 10)
    assert n.node(1).status().lead_transferee == 0
    n.propose(1, b"x")
    assert n.data(1)[-1:] == [b"x"]


def test_transfer_forwarded_from_follower() -> None:
    """Reference: etcd raft.go stepFollower MsgTransferLeader: a follower forwards the request
    to the leader, keeping the transferee."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.node(3).transfer_leader(3)
    n.send()
    assert n.node(3).status().role is Role.LEADER
