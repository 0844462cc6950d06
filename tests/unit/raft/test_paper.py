"""One test per rule of the Raft paper, section 5 (etcd raft_paper_test.go style).

Each test: init, act through step/tick/propose, check the emitted messages and the state.
PreVote and CheckQuorum are off here unless a test says otherwise: section 5 describes the
basic algorithm; the thesis extensions are tested in test_thesis.py.
"""

from __future__ import annotations

import dataclasses

import pytest
from raft_network import Network, drain, log_with, of_type, solo

from raftsql.raft.types import (
    Entry,
    HardState,
    Message,
    MessageType,
    Role,
)

MT = MessageType
BASIC = {"pre_vote": False, "check_quorum": False}


def role(n, nid):
    return n.node(nid).status().role


# ------------------------------------------------------------------ 5.1 terms and roles
def test_servers_start_as_followers() -> None:
    """Reference: Raft paper 5.1: when servers start up, they begin as followers."""
    node, _ = solo(1, [1, 2, 3], **BASIC)
    st = node.status()
    assert (st.role, st.term, st.leader_id) == (Role.FOLLOWER, 0, 0)


@pytest.mark.parametrize("start", ["follower", "candidate", "leader"])
def test_higher_term_makes_any_server_a_follower(start: str) -> None:
    """Reference: Raft paper 5.1: a server seeing a larger term updates its term and, if
    candidate or leader, reverts to follower."""
    node, log = solo(1, [1, 2, 3], **BASIC)
    if start != "follower":
        node.campaign()
        drain(node, log)
    if start == "leader":
        node.step(Message(MT.VOTE_RESP, to=1, frm=2, term=1))
        drain(node, log)
        assert node.status().role is Role.LEADER
    node.step(Message(MT.APP, to=1, frm=2, term=5))
    st = node.status()
    assert (st.role, st.term, st.leader_id) == (Role.FOLLOWER, 5, 2)


def test_stale_term_requests_are_rejected() -> None:
    """Reference: Raft paper 5.1: a request with a stale term number is rejected."""
    node, log = solo(1, [1, 2, 3], log=log_with(1), **BASIC)
    node.step(Message(MT.APP, to=1, frm=2, term=3, index=1, log_term=1))
    drain(node, log)
    node.step(Message(MT.APP, to=1, frm=3, term=2, index=1, log_term=1,
                      entries=(Entry(term=2, index=2),)))
    assert drain(node, log) == []  # ignored: no append, no response
    assert node.raft.raft_log.last_index() == 1 and node.status().leader_id == 2
    node.step(Message(MT.VOTE, to=1, frm=3, term=2, index=5, log_term=2))
    assert drain(node, log) == [] and node.status().vote == 0


# ------------------------------------------------------------------ 5.2 leader election
def test_leader_sends_heartbeats_every_heartbeat_tick() -> None:
    """Reference: Raft paper 5.2: leaders send periodic heartbeats to maintain authority."""
    n = Network([1, 2, 3], heartbeat_tick=2, **BASIC)
    n.campaign(1)
    n.delivered.clear()
    n.tick(1, 1)
    assert of_type(n.delivered, MT.HEARTBEAT) == []
    n.tick(1, 1)
    assert sorted(m.to for m in of_type(n.delivered, MT.HEARTBEAT)) == [2, 3]


def test_follower_starts_election_after_randomized_timeout() -> None:
    """Reference: Raft paper 5.2: with no communication over the election timeout, a follower
    increments its term, votes for itself and requests votes from every other server."""
    node, log = solo(1, [1, 2, 3], **BASIC)
    timeout = node.raft.randomized_election_timeout
    assert 10 <= timeout < 20
    for _ in range(timeout - 1):
        node.tick()
    assert node.status().role is Role.FOLLOWER
    node.tick()
    msgs = drain(node, log)
    st = node.status()
    assert (st.role, st.term, st.vote) == (Role.CANDIDATE, 1, 1)
    assert sorted((m.to, m.term) for m in of_type(msgs, MT.VOTE)) == [(2, 1), (3, 1)]
    assert log.initial_state()[0] == HardState(term=1, vote=1, commit=0)


def test_election_timeouts_are_randomized_from_config_rng() -> None:
    """Reference: Raft paper 5.2: timeouts are chosen randomly from a fixed interval, here
    [election_tick, 2*election_tick) drawn from Config.rng, so a seed replays."""
    seen = set()
    for seed in range(40):
        import random

        node, _ = solo(1, [1, 2, 3], rng=random.Random(seed), **BASIC)
        t = node.raft.randomized_election_timeout
        node2, _ = solo(1, [1, 2, 3], rng=random.Random(seed), **BASIC)
        assert node2.raft.randomized_election_timeout == t
        assert 10 <= t < 20
        seen.add(t)
    assert len(seen) > 5


@pytest.mark.parametrize(
    "votes,want",
    [
        ({2: True}, Role.LEADER),
        ({2: False}, Role.CANDIDATE),
        ({2: False, 3: False}, Role.FOLLOWER),
    ],
)
def test_candidate_wins_with_majority_loses_with_majority_rejects(votes, want) -> None:
    """Reference: Raft paper 5.2: a candidate wins with votes from a majority of servers."""
    node, log = solo(1, [1, 2, 3], **BASIC)
    node.campaign()
    drain(node, log)
    for frm, granted in votes.items():
        node.step(Message(MT.VOTE_RESP, to=1, frm=frm, term=1, reject=not granted))
        drain(node, log)
    assert node.status().role is want


def test_follower_votes_for_at_most_one_candidate_per_term() -> None:
    """Reference: Raft paper 5.2: each server votes for at most one candidate in a term,
    first-come-first-served; the vote is persisted before the response is sent."""
    node, log = solo(1, [1, 2, 3], **BASIC)
    node.step(Message(MT.VOTE, to=1, frm=2, term=1))
    rd = node.ready()
    assert rd.messages == [] and [m.reject for m in rd.persisted_messages] == [False]
    assert rd.hard_state.vote == 2 and rd.must_sync
    log.set_hard_state(rd.hard_state)
    node.advance(rd)
    node.step(Message(MT.VOTE, to=1, frm=3, term=1))
    assert [m.reject for m in drain(node, log)] == [True]
    node.step(Message(MT.VOTE, to=1, frm=2, term=1))  # a retransmission is granted again
    assert [m.reject for m in drain(node, log)] == [False]


def test_candidate_falls_back_when_leader_appears() -> None:
    """Reference: Raft paper 5.2: a candidate receiving AppendEntries from a leader whose term
    is at least as large returns to follower."""
    node, log = solo(1, [1, 2, 3], **BASIC)
    node.campaign()
    drain(node, log)
    node.step(Message(MT.APP, to=1, frm=2, term=1))
    st = node.status()
    assert (st.role, st.leader_id) == (Role.FOLLOWER, 2)


def test_split_vote_then_new_election() -> None:
    """Reference: Raft paper 5.2: with a split vote each candidate times out and starts a new
    election by incrementing its term."""
    node, log = solo(1, [1, 2, 3], **BASIC)
    node.campaign()
    drain(node, log)
    for _ in range(20):
        node.tick()
    drain(node, log)
    st = node.status()
    assert (st.role, st.term) == (Role.CANDIDATE, 2)


# ------------------------------------------------------------------ 5.3 log replication
def test_leader_replicates_and_commits_after_majority() -> None:
    """Reference: Raft paper 5.3: the leader appends, sends AppendEntries in parallel and
    commits once the entry is replicated on a majority; followers apply in log order."""
    n = Network([1, 2, 3], **BASIC)
    n.campaign(1)
    n.cut(1, 3)
    n.delivered.clear()
    n.propose(1, b"a")
    apps = of_type(n.delivered, MT.APP)
    assert [(m.to, m.index, m.log_term, [e.data for e in m.entries]) for m in apps][:1] == [
        (2, 1, 1, [b"a"])
    ]
    assert n.node(1).status().commit == 2  # committed with 1 and 2
    assert n.data(1) == [b"a"] and n.data(2) == [b"a"] and n.data(3) == []
    n.recover()
    n.tick(1)  # heartbeat; 3 is probed and catches up
    assert n.data(3) == [b"a"]


def test_leader_does_not_commit_without_majority() -> None:
    """Reference: Raft paper 5.3: an entry is committed only once a majority stores it."""
    n = Network([1, 2, 3, 4, 5], **BASIC)
    n.campaign(1)
    for other in (2, 3, 4):
        n.cut(1, other)
    n.propose(1, b"a")
    assert n.node(1).status().commit == 1
    n.recover()
    n.cut(1, 2)
    n.cut(1, 3)
    n.tick(1)
    assert n.node(1).status().commit == 2  # 1, 4, 5


def test_follower_consistency_check_rejects_with_hint() -> None:
    """Reference: Raft paper 5.3: the follower refuses entries when it has no entry at
    prevLogIndex with prevLogTerm, and hints where the logs may match (conflict term)."""
    node, log = solo(1, [1, 2, 3], log=log_with(1, 1, 2, 2), **BASIC)
    node.step(Message(MT.APP, to=1, frm=2, term=3, index=4, log_term=3))
    resp = drain(node, log)
    # Our entry 4 has term 2 <= 3: index 4 may still match an older leader entry.
    assert [(m.type, m.reject, m.index, m.reject_hint, m.log_term) for m in resp] == [
        (MT.APP_RESP, True, 4, 4, 2)
    ]
    node.step(Message(MT.APP, to=1, frm=2, term=3, index=6, log_term=3))
    resp = drain(node, log)
    assert [(m.reject, m.reject_hint, m.log_term) for m in resp] == [(True, 4, 2)]
    # The leader's entry 4 has term 1: none of our term-2 entries can match; skip them all.
    node.step(Message(MT.APP, to=1, frm=2, term=3, index=4, log_term=1))
    resp = drain(node, log)
    assert [(m.reject, m.reject_hint, m.log_term) for m in resp] == [(True, 2, 1)]


def test_follower_truncates_conflicting_suffix() -> None:
    """Reference: Raft paper 5.3: conflicting entries in the follower are overwritten by the
    leader's; entries not in conflict are kept."""
    node, log = solo(1, [1, 2, 3], log=log_with(1, 1, 2, 2), **BASIC)
    node.step(Message(MT.APP, to=1, frm=2, term=3, index=2, log_term=1,
                      entries=(Entry(term=3, index=3), Entry(term=3, index=4))))
    resp = drain(node, log)
    assert [(m.reject, m.index) for m in resp] == [(False, 4)]
    assert [log.term(i) for i in (1, 2, 3, 4)] == [1, 1, 3, 3]


def test_leader_brings_divergent_followers_in_sync() -> None:
    """Reference: Raft paper 5.3 Figure 7: followers missing entries or holding extra
    uncommitted ones end up with the leader's log, using few round trips (fast backtracking)."""
    n = Network([1, 2, 3, 4, 5], **BASIC)
    leader_terms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    follower_terms = {
        2: [1, 1, 1, 4, 4, 5, 5, 6, 6],                  # (a) missing one
        3: [1, 1, 1, 4],                                 # (b) missing many
        4: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],            # (f) extra from old terms
        5: [1, 1, 1, 4, 4, 4, 4],                        # (e) extra from term 4
    }
    for nid, terms in [(1, leader_terms), *follower_terms.items()]:
        p = n.peers[nid]
        p.log.append([Entry(term=t, index=i + 1) for i, t in enumerate(terms)])
        p.log.set_hard_state(HardState(term=6))
        n.restart(nid, **BASIC)
    n.campaign(1)
    n.propose(1, b"x")
    assert n.node(1).status().term == 7
    want = [n.peers[1].log.term(i) for i in range(1, 13)]
    assert want[:10] == leader_terms
    for nid in (2, 3, 4, 5):
        assert [n.peers[nid].log.term(i) for i in range(1, 13)] == want
        assert n.peers[nid].log.last_index() == 12
    rejects = [m for m in of_type(n.delivered, MT.APP_RESP) if m.reject and m.frm == 4]
    assert len(rejects) <= 2  # the hint skips term 2 and 3 in one step


# ------------------------------------------------------------------ 5.4 safety
@pytest.mark.parametrize(
    "cand_index,cand_term,granted",
    [(3, 2, True), (2, 2, False), (9, 1, False), (1, 3, True), (4, 2, True)],
)
def test_election_restriction(cand_index, cand_term, granted) -> None:
    """Reference: Raft paper 5.4.1: a vote is denied if the voter's log is more up-to-date
    (compare last terms, then lengths)."""
    node, log = solo(1, [1, 2, 3], log=log_with(1, 2, 2), **BASIC)
    node.step(Message(MT.VOTE, to=1, frm=2, term=5, index=cand_index, log_term=cand_term))
    assert [m.reject for m in drain(node, log)] == [not granted]


def test_stale_log_cannot_win_election() -> None:
    """Reference: Raft paper 5.4.1: a candidate must have all committed entries to win."""
    n = Network([1, 2, 3], **BASIC)
    n.campaign(1)
    n.cut(1, 3)
    n.propose(1, b"committed")
    n.recover()
    n.isolate(1)
    n.campaign(3)
    assert role(n, 3) is not Role.LEADER
    n.campaign(2)
    assert role(n, 2) is Role.LEADER
    n.propose(2, b"next")
    assert n.data(3) == [b"committed", b"next"]


def test_figure8_old_term_entries_not_committed_by_counting() -> None:
    """Reference: Raft paper 5.4.2 Figure 8: a leader never commits an entry from a previous
    term by counting replicas; it commits it only together with an entry of its own term."""
    n = Network([1, 2, 3, 4, 5], max_size_per_msg=1, **BASIC)  # one entry per APP
    for nid, terms in {1: [1, 2], 2: [1, 2], 3: [1], 4: [1], 5: [1, 3]}.items():
        p = n.peers[nid]
        p.log.append([Entry(term=t, index=i + 1) for i, t in enumerate(terms)])
        p.log.set_hard_state(HardState(term=3, commit=1))
        n.restart(nid, max_size_per_msg=1, **BASIC)
    # Figure 8 (c): S1 leads term 4; its own no-op (index 3) reaches nobody, while the term-2
    # entry at index 2 reaches everybody.
    def strip_term4(m: Message) -> bool:
        if m.type is MT.APP and any(e.term == 4 for e in m.entries):
            kept = tuple(e for e in m.entries if e.term != 4)
            n.queue.append(dataclasses.replace(m, entries=kept))  # a prefix is a valid APP
            return False
        return True

    n.hook = strip_term4
    n.campaign(1)
    r = n.node(1).raft
    assert r.role is Role.LEADER and r.term == 4
    assert sorted(pr.match for pr in r.trk.progress.values()) == [2, 2, 2, 2, 3]
    assert r.raft_log.committed == 1  # index 2 is on a majority, but of an old term
    # Figure 8 (e): once the term-4 entry is on a majority, both commit.
    n.hook = None
    n.tick(1)
    assert n.node(1).status().commit == 3
    assert [e.term for e in n.peers[1].applied] == [1, 2, 4]
    assert [e.term for e in n.peers[5].applied] == [1, 2, 4]  # S5's term-3 entry is gone


def test_figure8_leader_commit_rule_directly() -> None:
    """Reference: Raft paper 5.4.2: maybe_commit refuses an index whose term is not current."""
    node, log = solo(1, [1, 2, 3], log=log_with(1, 2), **BASIC)
    log.set_hard_state(HardState(term=3))
    node, log = solo(1, [1, 2, 3], log=log, **BASIC)
    node.campaign()
    drain(node, log)
    node.step(Message(MT.VOTE_RESP, to=1, frm=2, term=4))
    drain(node, log)
    r = node.raft
    assert r.role is Role.LEADER
    r.trk.progress[2].match = 2  # a majority (1, 2) stores index 2 of term 2
    assert not r.maybe_commit() and r.raft_log.committed == 0
    r.trk.progress[2].match = 3  # ... and now the leader's own term-4 no-op
    assert r.maybe_commit() and r.raft_log.committed == 3


# ------------------------------------------------------------------ 5.5 crashes
def test_duplicate_append_entries_are_harmless() -> None:
    """Reference: Raft paper 5.5: RPCs are idempotent; a follower receiving an AppendEntries
    with entries already present ignores those entries."""
    n = Network([1, 2, 3], **BASIC)
    n.campaign(1)
    dup: list[Message] = []

    def hook(m: Message) -> bool:
        if m.type is MT.APP and m.entries:
            dup.append(m)
        return True

    n.hook = hook
    n.propose(1, b"a")
    n.propose(1, b"b")
    n.hook = None
    n.send(dup)  # every append delivered a second time, out of order
    for nid in (1, 2, 3):
        assert n.data(nid) == [b"a", b"b"]
        assert n.peers[nid].log.last_index() == 3


def test_follower_crash_and_restart_keeps_durable_state_and_catches_up() -> None:
    """Reference: Raft paper 5.5: a crashed follower is retried indefinitely and, restarted
    from its durable state (term, vote, log), catches up."""
    n = Network([1, 2, 3], **BASIC)
    n.campaign(1)
    n.propose(1, b"a")
    n.isolate(3)
    n.propose(1, b"b")
    hs = n.peers[3].log.initial_state()[0]
    n.restart(3, **BASIC)
    assert n.node(3).status().term == hs.term == 1
    n.recover()
    n.tick(1)
    assert n.data(3) == [b"a", b"b"]


def test_follower_that_lost_its_log_is_replicated_again() -> None:
    """Reference: Raft paper 5.3 (the leader brings a follower's log into consistency); a
    follower whose storage was wiped must not commit past its log (etcd would panic) but tell
    the leader, which resets its progress and sends the entries (or a snapshot) again."""
    from raft_network import Network

    from raftsql.raft.types import ConfState

    n = Network([1, 2, 3])
    n.campaign(1)
    for i in range(5):
        n.propose(1, f"e{i}".encode())
    assert n.node(2).status().commit == n.node(1).status().commit
    leader_commit = n.node(1).status().commit
    n.add(2, ConfState(voters=(1, 2, 3)))  # restarted with its storage gone
    assert n.peers[2].log.last_index() == 0
    n.tick(1)
    n.send()
    assert n.node(2).status().commit == leader_commit
    assert n.peers[2].log.last_index() == n.peers[1].log.last_index()
