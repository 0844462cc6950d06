"""Membership changes: single-server (thesis 4.1), joint consensus (4.3), learners (4.2.1).

Source of truth: Ongaro's thesis chapter 4; etcd confchange/ and raft.go applyConfChange
semantics (a configuration takes effect when its entry is applied).
"""

from __future__ import annotations

import pytest
from raft_network import Network

from raftsql.raft.confchange import (
    Changer,
    ConfChangeError,
    decode_conf_change,
    encode_conf_change,
    restore,
)
from raftsql.raft.errors import ProposalDroppedError
from raftsql.raft.tracker import TrackerConfig
from raftsql.raft.types import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    MessageType,
    Role,
)

ADD, LEARN, REMOVE = ConfChangeType.ADD_VOTER, ConfChangeType.ADD_LEARNER, ConfChangeType.REMOVE_NODE


JOINING = ConfState(voters=(1, 2, 3))
"""A joining node starts with an empty log and the configuration it joins (raft-api.md)."""


def cc(*changes: tuple[ConfChangeType, int]) -> ConfChange:
    return ConfChange(tuple(ConfChangeSingle(t, n) for t, n in changes), context=b"ctx")


def test_conf_change_codec_roundtrip() -> None:
    """Reference: types.py EntryType.CONF_CHANGE: data is an encoded ConfChange."""
    c = cc((ADD, 4), (REMOVE, 2))
    assert decode_conf_change(encode_conf_change(c)) == c


def test_changer_rules() -> None:
    """Reference: Raft thesis 4.1/4.3 and etcd confchange: one voter at a time directly; more
    through a joint config; learners are never voters."""
    cfg, prs = restore(ConfState(voters=(1, 2, 3)), 10, 8)
    ch = Changer(cfg, prs, 10, 8)
    with pytest.raises(ConfChangeError):
        ch.simple(cc((ADD, 4), (ADD, 5)).changes)
    joint, jprs = ch.enter_joint(True, cc((ADD, 4), (LEARN, 3)).changes)
    assert joint.conf_state() == ConfState(
        voters=(1, 2, 4), voters_outgoing=(1, 2, 3), learners_next=(3,), auto_leave=True
    )
    left, lprs = Changer(joint, jprs, 10, 8).leave_joint()
    assert left.conf_state() == ConfState(voters=(1, 2, 4), learners=(3,))
    assert lprs[3].is_learner and not lprs[4].is_learner
    with pytest.raises(ConfChangeError):
        Changer(left, lprs, 10, 8).leave_joint()
    # restore() reproduces a joint config from its ConfState
    cfg2, _ = restore(joint.conf_state(), 10, 8)
    assert cfg2.conf_state() == joint.conf_state()
    assert TrackerConfig().conf_state() == ConfState()


def apply_all(n: Network) -> None:
    n.send()
    n.tick_all(1)


def test_add_voter_one_at_a_time() -> None:
    """Reference: Raft thesis 4.1: a single-server change takes effect on each server when it
    is applied there, and then the new server counts toward the quorum."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.add(4, JOINING)
    n.node(1).propose_conf_change(cc((ADD, 4)))
    apply_all(n)
    assert n.node(1).status().conf_state.voters == (1, 2, 3, 4)
    n.propose(1, b"x")
    assert n.data(4) == [b"x"]
    # With 4 voters, a quorum is 3: cutting two followers stops commits.
    n.isolate(3)
    n.isolate(4)
    n.propose(1, b"y")
    assert b"y" not in n.data(1)


def test_only_one_conf_change_in_flight() -> None:
    """Reference: Raft thesis 4.1: a leader does not start a change before the previous one is
    applied (pending_conf_index)."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.isolate(1)
    n.node(1).propose_conf_change(cc((ADD, 4)))
    with pytest.raises(ProposalDroppedError):
        n.node(1).propose_conf_change(cc((ADD, 5)))


def test_removed_leader_steps_down() -> None:
    """Reference: Raft thesis 4.2.2: a leader removed from the configuration steps down once
    the change is committed (applied)."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.node(1).propose_conf_change(cc((REMOVE, 1)))
    apply_all(n)
    assert n.node(1).status().role is Role.FOLLOWER
    assert n.node(2).status().conf_state.voters == (2, 3)
    n.tick_all(40)
    assert {n.node(x).status().role for x in (2, 3)} == {Role.LEADER, Role.FOLLOWER}


def test_joint_consensus_enter_and_auto_leave() -> None:
    """Reference: Raft thesis 4.3: several changes go through C_old,new, which the leader
    leaves automatically (proposing C_new) once C_old,new is in effect."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.add(4, JOINING)
    n.add(5, JOINING)
    n.node(1).propose_conf_change(cc((ADD, 4), (ADD, 5), (REMOVE, 3)))
    n.send()
    for nid in (1, 2, 4, 5):
        assert n.node(nid).status().conf_state == ConfState(voters=(1, 2, 4, 5))
    entries = [e for e in n.peers[2].applied if e.type.name == "CONF_CHANGE"]
    assert [decode_conf_change(e.data).changes == () for e in entries] == [False, True]


def test_joint_config_needs_both_majorities() -> None:
    """Reference: Raft thesis 4.3: in C_old,new, agreement needs majorities of both."""
    n = Network([1, 2, 3])
    n.campaign(1)
    for x in (4, 5, 6):
        n.add(x, JOINING)
    n.ignore(MessageType.HEARTBEAT)
    # Block the joint config's auto-leave by cutting all of C_new except the leader.
    n.node(1).propose_conf_change(cc((ADD, 4), (ADD, 5), (ADD, 6), (REMOVE, 2), (REMOVE, 3)))
    n.send()
    assert n.node(1).status().conf_state.voters == (1, 4, 5, 6)
    n.recover()
    n.isolate(4)
    n.isolate(5)
    n.isolate(6)
    commit = n.node(1).status().commit
    n.propose(1, b"needs-new-majority")
    assert n.node(1).status().commit == commit


def test_learner_receives_log_but_does_not_count() -> None:
    """Reference: Raft thesis 4.2.1: learners (non-voting members) get the log but are not
    part of any quorum."""
    n = Network([1, 2, 3], voters=[1, 2], learners=[3])
    n.campaign(1)
    n.propose(1, b"x")
    assert n.data(3) == [b"x"]
    assert n.node(3).status().role is Role.LEARNER
    n.isolate(2)
    n.propose(1, b"y")
    assert b"y" not in n.data(1)  # leader + learner is no quorum of {1, 2}


def test_promote_learner() -> None:
    """Reference: Raft thesis 4.2.1: a caught-up learner is promoted to voter."""
    n = Network([1, 2, 3], voters=[1, 2], learners=[3])
    n.campaign(1)
    n.node(1).propose_conf_change(cc((ADD, 3)))
    apply_all(n)
    assert n.node(3).status().role is Role.FOLLOWER
    assert n.node(1).status().conf_state.voters == (1, 2, 3)
