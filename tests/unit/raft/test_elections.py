"""Thesis election extensions: PreVote (9.6), CheckQuorum (6.2), disruptive servers (4.2.3).

Source of truth: Ongaro's thesis sections named in each test; etcd raft.go Step's "lease is not
expired" branch.
"""

from __future__ import annotations

from raft_network import Network, drain, of_type, solo

from raftsql.raft.types import HardState, Message, MessageType, Role

MT = MessageType


def test_prevote_partitioned_node_does_not_inflate_term() -> None:
    """Reference: Raft thesis 9.6: a node that cannot win a pre-election keeps its term, so
    rejoining does not depose a healthy leader."""
    n = Network([1, 2, 3], pre_vote=True, check_quorum=True)
    n.campaign(1)
    n.isolate(3)
    n.tick(3, 100)  # many election timeouts alone
    st3 = n.node(3).status()
    assert st3.term == 1 and st3.role is Role.PRE_CANDIDATE
    n.recover()
    n.tick_all(3)
    assert n.node(1).status().role is Role.LEADER and n.node(1).status().term == 1
    assert n.node(3).status().leader_id == 1


def test_without_prevote_rejoining_node_disrupts() -> None:
    """Reference: Raft thesis 9.6 (motivation): without PreVote the isolated node's term grows
    and its return forces the leader to step down. Pins that PreVote is what prevents it."""
    n = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    n.campaign(1)
    n.isolate(3)
    n.tick(3, 100)
    assert n.node(3).status().term > 1
    n.recover()
    n.tick(3, 40)
    assert n.node(1).status().term > 1


def test_prevote_does_not_change_voter_term_or_vote() -> None:
    """Reference: Raft thesis 9.6: granting a pre-vote changes neither term nor vote."""
    node, log = solo(1, [1, 2, 3], pre_vote=True, check_quorum=False)
    node.step(Message(MT.PRE_VOTE, to=1, frm=2, term=1))
    msgs = drain(node, log)
    assert [(m.type, m.reject, m.term) for m in msgs] == [(MT.PRE_VOTE_RESP, False, 1)]
    st = node.status()
    assert (st.term, st.vote) == (0, 0)


def test_check_quorum_leader_steps_down_when_isolated() -> None:
    """Reference: Raft thesis 6.2: a leader that has not heard from a majority within an
    election timeout steps down."""
    n = Network([1, 2, 3], check_quorum=True)
    n.campaign(1)
    n.isolate(1)
    n.tick(1, 10)  # first check: followers were active in this window
    assert n.node(1).status().role is Role.LEADER
    n.tick(1, 10)
    assert n.node(1).status().role is Role.FOLLOWER


def test_follower_in_lease_ignores_vote_requests_except_transfer() -> None:
    """Reference: Raft thesis 4.2.3: a server that heard from a current leader within the
    minimum election timeout neither grants a vote nor updates its term; etcd exempts
    elections that follow a leadership transfer (context b"transfer")."""
    node, log = solo(1, [1, 2, 3], check_quorum=True, pre_vote=False)
    node.step(Message(MT.HEARTBEAT, to=1, frm=2, term=1))
    drain(node, log)
    node.step(Message(MT.VOTE, to=1, frm=3, term=2, index=5, log_term=1))
    assert drain(node, log) == [] and node.status().term == 1
    node.step(Message(MT.PRE_VOTE, to=1, frm=3, term=2, index=5, log_term=1))
    assert drain(node, log) == []
    node.step(Message(MT.VOTE, to=1, frm=3, term=2, index=5, log_term=1, context=b"transfer"))
    msgs = drain(node, log)
    assert [(m.type, m.reject) for m in msgs] == [(MT.VOTE_RESP, False)]
    assert node.status().term == 2


def test_follower_past_lease_grants_votes() -> None:
    """Reference: Raft thesis 4.2.3: after an election timeout without a leader, votes are
    granted normally."""
    node, log = solo(1, [1, 2, 3], check_quorum=True, pre_vote=False)
    node.step(Message(MT.HEARTBEAT, to=1, frm=2, term=1))
    drain(node, log)
    node.raft.randomized_election_timeout = 100  # pin the timer (etcd setRandomizedElectionTimeout)
    for _ in range(10):
        node.tick()
    node.step(Message(MT.VOTE, to=1, frm=3, term=2, index=5, log_term=1))
    assert [m.reject for m in drain(node, log)] == [False]


def test_late_higher_term_message_does_not_end_the_lease() -> None:
    """Reference: Raft thesis 4.2.3 / 6.4.1: a term change that clears the known leader (here a
    late rejected vote response) must not let this follower vote while the leader's lease may
    still run: the guard counts ticks since the last leader contact."""
    node, log = solo(1, [1, 2, 3], check_quorum=True, pre_vote=False)
    node.step(Message(MT.HEARTBEAT, to=1, frm=2, term=1))
    drain(node, log)
    node.step(Message(MT.VOTE_RESP, to=1, frm=3, term=2, reject=True))
    assert node.status().term == 2 and node.status().leader_id == 0
    node.step(Message(MT.VOTE, to=1, frm=3, term=2, index=5, log_term=1))
    assert drain(node, log) == [] and node.status().vote == 0


def test_restarted_node_waits_an_election_timeout_before_voting() -> None:
    """Reference: Raft thesis 6.4.1: a server that acked the old leader just before it crashed
    must not help elect a new leader while the old leader's lease may still run. Our rule:
    with CheckQuorum a restarted node (term > 0) refuses votes for election_tick ticks."""
    node, log = solo(1, [1, 2, 3], check_quorum=True, pre_vote=False)
    log.set_hard_state(HardState(term=3))
    node, log = solo(1, [1, 2, 3], log=log, check_quorum=True, pre_vote=False)
    node.step(Message(MT.VOTE, to=1, frm=3, term=4))
    assert drain(node, log) == []
    for _ in range(10):
        node.tick()
    drain(node, log)
    node.step(Message(MT.VOTE, to=1, frm=3, term=4))
    assert [m.reject for m in drain(node, log)] == [False]


def test_candidate_counts_own_vote_only_after_persisting() -> None:
    """Reference: Raft paper 5.2 / etcd msgsAfterAppend: a vote must be durable before it is
    counted, including the candidate's vote for itself."""
    node, log = solo(1, [1], pre_vote=False)
    node.campaign()
    assert node.status().role is Role.CANDIDATE
    rd = node.ready()
    assert rd.hard_state == HardState(term=1, vote=1, commit=0) and rd.must_sync
    assert node.status().role is Role.CANDIDATE  # not yet persisted
    log.set_hard_state(rd.hard_state)
    node.advance(rd)
    assert node.status().role is Role.LEADER


def test_learner_never_campaigns() -> None:
    """Reference: Raft thesis 4.2.1: non-voting members (learners) do not start elections."""
    n = Network([1, 2, 3], voters=[1, 2], learners=[3])
    n.tick(3, 100)
    st = n.node(3).status()
    assert st.role is Role.LEARNER and st.term == 0


def test_check_quorum_counts_a_burst_of_ticks_as_one_stretch() -> None:
    """Reference: Raft thesis 6.2 (a leader steps down when it has not heard from a majority
    for an election timeout) applied to a stalled event loop: the ticks it could not deliver
    arrive at once, and the followers could not be heard meanwhile. A burst crossing two
    election timeouts checks the quorum once, with what was heard before the stall, so a
    healthy cluster whose nodes all stalled together (one slow disk) keeps its leader; a leader
    that really hears no one still steps down at the next check."""
    n = Network([1, 2, 3], check_quorum=True)
    n.campaign(1)
    n.tick(1, 9)  # the followers answer these heartbeats: active in this window
    n.node(1).tick(25)  # one burst across three election timeouts
    assert n.node(1).status().role is Role.LEADER
    sent = n.handle_ready(1)
    beats = of_type(sent, MT.HEARTBEAT)
    assert sorted(m.to for m in beats) == [2, 3]  # one heartbeat each, not one per tick
    n.isolate(1)
    n.send(sent)  # lost
    n.tick(1, 10)
    assert n.node(1).status().role is Role.FOLLOWER


def test_check_quorum_ticked_one_by_one_steps_down_after_two_silent_timeouts() -> None:
    """The same 25 ticks delivered one at a time with no one heard: the second check fails
    (what the burst above must not be mistaken for)."""
    n = Network([1, 2, 3], check_quorum=True)
    n.campaign(1)
    n.tick(1, 9)
    n.isolate(1)
    for _ in range(25):
        n.node(1).tick()
    assert n.node(1).status().role is not Role.LEADER
