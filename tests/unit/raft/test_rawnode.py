"""The Ready/advance handshake, proposals and the stable one-line descriptions.

Source of truth: docs/raft-api.md "The Ready loop"; etcd rawnode.go / node.go Ready docs
(persist before send for msgsAfterAppend, MustSync); Raft thesis 6.3 (client ids for
exactly-once); etcd Config.MaxUncommittedEntriesSize; etcd util.go Describe*.
"""

from __future__ import annotations

import pytest
from raft_network import Network, drain, of_type, solo

from raftsql.raft.config import ReadOnlyOption
from raftsql.raft.describe import (
    describe_entry,
    describe_hard_state,
    describe_message,
    describe_ready,
)
from raftsql.raft.errors import ProposalDroppedError
from raftsql.raft.types import (
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Role,
)

MT = MessageType


def leader_alone():
    node, log = solo(1, [1, 2, 3], pre_vote=False)
    node.campaign()
    drain(node, log)
    node.step(Message(MT.VOTE_RESP, to=1, frm=2, term=1))
    drain(node, log)
    assert node.status().role is Role.LEADER
    return node, log


def test_leader_own_append_counts_only_after_persist() -> None:
    """Reference: etcd raft.go appendEntry / msgsAfterAppend: the leader's copy of an entry
    counts toward commit only once it is durable (after advance of the Ready holding it)."""
    node, log = leader_alone()
    node.propose(b"x")
    rd = node.ready()
    assert [e.data for e in rd.entries] == [b"x"] and rd.must_sync
    # Follower 2 acks before the leader persisted its own copy: 1 of 3 durable copies + 2 = 2
    # would be a majority only if the leader's own copy counted already.
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    assert node.status().commit == 1
    log.append(rd.entries)
    node.advance(rd)
    assert node.status().commit == 2


def test_responses_wait_for_persistence() -> None:
    """Reference: etcd node.go Ready: append and vote responses depend on durable state and
    travel in persisted_messages, never in messages."""
    node, log = solo(1, [1, 2, 3])
    node.step(Message(MT.APP, to=1, frm=2, term=1, index=0, log_term=0,
                      entries=(Entry(term=1, index=1, data=b"a"),), commit=1))
    rd = node.ready()
    assert rd.messages == []
    assert [(m.type, m.index) for m in rd.persisted_messages] == [(MT.APP_RESP, 1)]
    assert rd.hard_state == HardState(term=1, vote=0, commit=1)
    assert [e.data for e in rd.committed_entries] == [b"a"]  # applied after the persist
    log.append(rd.entries)
    log.set_hard_state(rd.hard_state)
    node.advance(rd)
    assert node.status().applied == 1 and not node.has_ready()


def test_ready_must_be_advanced_before_the_next() -> None:
    """Reference: docs/raft-api.md: one Ready at a time."""
    node, _ = solo(1, [1])
    node.campaign()
    node.ready()
    with pytest.raises(AssertionError):
        node.ready()


def test_proposal_forwarded_with_client_ids() -> None:
    """Reference: Raft thesis 6.3: every entry carries the client id and sequence number so
    that the state machine can discard duplicates; forwarding keeps them."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.propose(3, b"w", client_id=b"c1", seq=7)
    e = [e for e in n.peers[2].applied if e.data == b"w"][0]
    assert (e.client_id, e.seq, e.term) == (b"c1", 7, 1)
    assert any(m.type is MT.PROP and m.frm == 3 for m in n.delivered)


def test_proposal_dropped_without_leader_or_forwarding() -> None:
    """Reference: etcd ErrProposalDropped: no leader known, or forwarding disabled."""
    node, _ = solo(1, [1, 2, 3])
    with pytest.raises(ProposalDroppedError):
        node.propose(b"x")
    n = Network([1, 2, 3], disable_proposal_forwarding=True)
    n.campaign(1)
    with pytest.raises(ProposalDroppedError):
        n.node(2).propose(b"x")


def test_uncommitted_size_limit() -> None:
    """Reference: etcd Config.MaxUncommittedEntriesSize: a leader whose uncommitted tail is
    too large drops proposals (but always admits one into an empty pipeline)."""
    node, log = solo(1, [1, 2, 3], pre_vote=False, max_uncommitted_entries_size=10)
    node.campaign()
    drain(node, log)
    node.step(Message(MT.VOTE_RESP, to=1, frm=2, term=1))
    drain(node, log)
    node.propose(b"x" * 50)  # larger than the limit, but the pipeline is empty
    with pytest.raises(ProposalDroppedError):
        node.propose(b"y")
    drain(node, log)
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    drain(node, log)  # committed and applied: the budget is free again
    node.propose(b"y")


def test_pipelining_is_bounded_by_inflight_window() -> None:
    """Reference: etcd Config.MaxInflightMsgs (thesis 10.2.1 pipelining): at most N appends in
    flight to a follower in replicate state."""
    n = Network([1, 2, 3], max_inflight_msgs=2)
    n.campaign(1)
    n.ignore(MT.APP_RESP)
    n.delivered.clear()
    for i in range(5):
        n.node(1).propose(b"%d" % i)
    n.send()
    to2 = [m for m in of_type(n.delivered, MT.APP) if m.to == 2]
    assert len(to2) == 2
    pr = n.node(1).status().progress[2]
    assert pr.paused and pr.inflight == 2


def test_batches_are_size_bounded() -> None:
    """Reference: etcd Config.MaxSizePerMsg: an append carries at most max_size_per_msg bytes
    (but at least one entry)."""
    n = Network([1, 2, 3])
    n.campaign(1)
    n.isolate(2)
    for i in range(10):
        n.propose(1, b"x" * 100 + b"%d" % i)
    n.recover()
    r = n.node(1).raft
    r.cfg.max_size_per_msg = 300
    n.delivered.clear()
    n.tick(1)
    apps = [m for m in of_type(n.delivered, MT.APP) if m.to == 2 and m.entries]
    assert apps and all(sum(e.size() for e in m.entries) <= 300 for m in apps)
    assert n.data(2) == n.data(1)


def test_describe_lines_are_stable() -> None:
    """Reference: etcd util.go DescribeMessage/DescribeEntry: one stable line each."""
    e = Entry(term=2, index=5, type=EntryType.NORMAL, data=b"x", client_id=b"\x01", seq=3)
    assert describe_entry(e) == "2/5 Normal b'x' client=01#3"
    assert describe_hard_state(HardState(3, 1, 9)) == "Term:3 Vote:1 Commit:9"
    m = Message(MT.APP_RESP, to=1, frm=2, term=3, index=4, reject=True, reject_hint=2)
    assert describe_message(m) == "2->1 APP_RESP Term:3 Log:0/4 Rejected (Hint: 2)"
    node, _ = solo(1, [1], pre_vote=False)
    node.campaign()
    assert describe_ready(node.ready()).splitlines() == [
        "Lead:None State:candidate",
        "HardState Term:1 Vote:1 Commit:0",
        "MustSync",
    ]


def test_restart_with_applied_skips_applied_entries() -> None:
    """Reference: etcd Config.Applied: on restart, entries up to ``applied`` are not handed out
    again; later committed entries are (paper 5.5: state survives in storage)."""
    n = Network([1, 2, 3])
    n.campaign(1)
    for d in (b"a", b"b", b"c"):
        n.propose(1, d)
    log = n.peers[2].log
    assert log.initial_state()[0].commit == 4
    node, _ = solo(2, [1, 2, 3], log=log, applied=2)
    rd = node.ready()
    assert [e.index for e in rd.committed_entries] == [3, 4]
    assert node.status().applied == 2


def test_committed_entries_per_ready_are_size_bounded() -> None:
    """Reference: etcd Config.MaxCommittedSizePerReady: a Ready carries a bounded batch of
    committed entries (at least one); the rest follow in the next Readys."""
    n = Network([1, 2, 3])
    n.campaign(1)
    for i in range(6):
        n.propose(1, b"x" * 100 + bytes([i]))
    node, log = solo(3, [1, 2, 3], log=n.peers[3].log, max_committed_size_per_ready=250)
    sizes = []
    while node.has_ready():
        rd = node.ready()
        sizes.append(len(rd.committed_entries))
        node.advance(rd)
    assert sum(sizes) == 7 and max(sizes) <= 2 and len(sizes) >= 4


def _leader_with_acked_followers():
    """Node 1 leads a 3-voter group; both followers acked its no-op (index 1), so they are in
    REPLICATE and caught up."""
    node, log = leader_alone()
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=1))
    node.step(Message(MT.APP_RESP, to=1, frm=3, term=1, index=1))
    drain(node, log)
    return node, log


def test_new_commit_index_reaches_every_follower() -> None:
    """Reference: Raft paper 5.3 (followers learn the commit index from later AppendEntries);
    etcd raft.go stepLeader MsgAppResp (bcastAppend once maybeCommit succeeds): with nothing
    else to send, an ack that commits an entry sends each follower an append carrying the new
    commit index."""
    node, log = _leader_with_acked_followers()
    node.propose(b"x")
    sent = drain(node, log)
    assert {m.to for m in of_type(sent, MT.APP)} == {2, 3}
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    apps = of_type(drain(node, log), MT.APP)
    assert sorted((m.to, m.commit, len(m.entries)) for m in apps) == [(2, 2, 0), (3, 2, 0)]


def test_commit_index_rides_on_appends_of_the_same_ready() -> None:
    """docs/design.md (commit broadcast): an ack that advances the commit and a proposal
    stepped before the next Ready give ONE append per follower, carrying both the new entry
    and the new commit index (etcd would send two: the commit-only append and the new one)."""
    node, log = _leader_with_acked_followers()
    node.propose(b"x")
    drain(node, log)
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    node.step(Message(MT.APP_RESP, to=1, frm=3, term=1, index=2))
    node.propose(b"y")
    rd = node.ready()
    apps = of_type(rd.messages, MT.APP)
    assert sorted((m.to, m.commit, [e.data for e in m.entries]) for m in apps) == [
        (2, 2, [b"y"]), (3, 2, [b"y"])]


def test_commit_learnt_as_leader_is_sent_after_stepping_down() -> None:
    """etcd sends the commit broadcast at once, so a leader deposed (higher term) right after
    the committing ack has already told its followers; the deferred broadcast keeps that: the
    appends go out, with the term the commit was learnt in."""
    node, log = _leader_with_acked_followers()
    node.propose(b"x")
    drain(node, log)
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    node.step(Message(MT.HEARTBEAT, to=1, frm=3, term=5, commit=1))
    assert node.status().role is Role.FOLLOWER
    apps = of_type(drain(node, log), MT.APP)
    assert sorted((m.to, m.term, m.commit) for m in apps) == [(2, 1, 2), (3, 1, 2)]


def _lazy_leader_with_acked_followers(**cfg: object):
    node, log = solo(1, [1, 2, 3], pre_vote=False, lazy_commit=True, **cfg)
    node.campaign()
    drain(node, log)
    node.step(Message(MT.VOTE_RESP, to=1, frm=2, term=1))
    drain(node, log)
    for follower in (2, 3):
        node.step(Message(MT.APP_RESP, to=1, frm=follower, term=1, index=1))
    drain(node, log)
    return node, log


def _commit_x(node, log, frm: int = 1) -> list[Message]:
    """Propose x (from ``frm``: 1 is the leader itself) and have both followers ack it."""
    node.step(Message(MT.PROP, to=1, frm=frm, term=1 if frm != 1 else 0,
                      entries=(Entry(0, 0, data=b"x"),)))
    drain(node, log)
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    node.step(Message(MT.APP_RESP, to=1, frm=3, term=1, index=2))
    return drain(node, log)


def test_lazy_commit_rides_on_the_next_append_or_heartbeat() -> None:
    """Config.lazy_commit: the advance of the commit index sends nothing by itself; the next
    proposal's appends carry it, and so does the next heartbeat (up to each follower's match)."""
    node, log = _lazy_leader_with_acked_followers()
    sent = _commit_x(node, log)
    assert node.status().commit == 2
    assert of_type(sent, MT.APP) == []
    node.propose(b"y")
    apps = of_type(drain(node, log), MT.APP)
    assert sorted((m.to, m.commit, [e.data for e in m.entries]) for m in apps) == [
        (2, 2, [b"y"]), (3, 2, [b"y"])]
    node.tick()  # heartbeat_tick is 1
    beats = of_type(drain(node, log), MT.HEARTBEAT)
    assert sorted((m.to, m.commit) for m in beats) == [(2, 2), (3, 2)]


def test_lazy_commit_is_sent_at_once_for_a_followers_proposal() -> None:
    """A follower answers the client of a forwarded write once it has applied it: the commit
    of that entry goes out to that follower as soon as it is known, and to no other."""
    node, log = _lazy_leader_with_acked_followers()
    sent = _commit_x(node, log, frm=2)
    apps = of_type(sent, MT.APP)
    assert sorted((m.to, m.commit, len(m.entries)) for m in apps) == [(2, 2, 0)]
    assert of_type(_commit_x(node, log), MT.APP) == []  # and only for that entry


def test_lazy_commit_goes_to_each_follower_whose_proposal_it_commits() -> None:
    """Two followers' forwarded writes, committed one after the other: each follower is told
    when its own entry is committed, not before, and not when the other's is."""
    node, log = _lazy_leader_with_acked_followers()
    for frm, data in ((2, b"a"), (3, b"b")):
        node.step(Message(MT.PROP, to=1, frm=frm, term=1, entries=(Entry(0, 0, data=data),)))
    drain(node, log)
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=2))
    assert [(m.to, m.commit) for m in of_type(drain(node, log), MT.APP)] == [(2, 2)]
    node.step(Message(MT.APP_RESP, to=1, frm=2, term=1, index=3))
    assert [(m.to, m.commit) for m in of_type(drain(node, log), MT.APP)] == [(3, 3)]


def _read_index_of_follower_2(node, log) -> list[Message]:
    """Follower 2 asks for a read index; both followers echo any heartbeat round it starts.
    Returns what the leader sent after that."""
    node.step(Message(MT.READ_INDEX, to=1, frm=2, term=1, entries=(Entry(0, 0, data=b"r"),)))
    for m in of_type(drain(node, log), MT.HEARTBEAT):
        node.step(Message(MT.HEARTBEAT_RESP, to=1, frm=m.to, term=1, context=m.context))
    return drain(node, log)


@pytest.mark.parametrize("read_only", [ReadOnlyOption.SAFE, ReadOnlyOption.LEASE_BASED])
def test_a_followers_read_index_answer_carries_the_commit_its_log_holds(read_only) -> None:
    """A follower serves a read once it has applied the read index, the leader's commit
    index, so it must learn that index is committed. Its log holds it (match): the answer
    says so itself, as a heartbeat would, and no append goes to anyone."""
    node, log = _lazy_leader_with_acked_followers(read_only_option=read_only)
    _commit_x(node, log)
    sent = _read_index_of_follower_2(node, log)
    assert [(m.to, m.index, m.commit) for m in of_type(sent, MT.READ_INDEX_RESP)] == [(2, 2, 2)]
    assert of_type(sent, MT.APP) == []


def test_a_followers_read_index_beyond_its_log_sends_it_an_append() -> None:
    """A follower whose log lacks part of the read index is told the commit only up to what
    it holds, and gets an append carrying the rest and the commit; the other follower gets
    nothing."""
    node, log = _lazy_leader_with_acked_followers()
    node.propose(b"x")
    drain(node, log)
    node.step(Message(MT.APP_RESP, to=1, frm=3, term=1, index=2))  # 2 still at match 1
    drain(node, log)
    sent = _read_index_of_follower_2(node, log)
    assert [(m.to, m.index, m.commit) for m in of_type(sent, MT.READ_INDEX_RESP)] == [(2, 2, 1)]
    assert [(m.to, m.commit) for m in of_type(sent, MT.APP)] == [(2, 2)]


def test_a_follower_commits_what_a_read_index_answer_carries() -> None:
    """The follower's side: the answer's commit advances its commit index (its entries become
    ready to apply), but never past its own log."""
    node, log = solo(2, [1, 2, 3], pre_vote=False)
    node.step(Message(MT.APP, to=2, frm=1, term=1, index=0, log_term=0, commit=0,
                      entries=(Entry(1, 1, data=b"a"), Entry(1, 2, data=b"b"))))
    drain(node, log)
    node.step(Message(MT.READ_INDEX_RESP, to=2, frm=1, term=1, index=2, commit=5,
                      entries=(Entry(0, 0, data=b"r1"),)))
    assert node.status().commit == 0
    node.step(Message(MT.READ_INDEX_RESP, to=2, frm=1, term=1, index=2, commit=2,
                      entries=(Entry(0, 0, data=b"r2"),)))
    rd = node.ready()
    assert node.status().commit == 2
    assert [(r.index, r.request_ctx) for r in rd.read_states] == [(2, b"r1"), (2, b"r2")]
    assert [e.data for e in rd.committed_entries] == [b"a", b"b"]
