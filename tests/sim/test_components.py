"""Unit tests of the simulator's parts: clock, network, disk, state machine, checkers.

Sources of truth are cited per test: Raft paper (Ongaro & Ousterhout 2014) sections, Raft
thesis (Ongaro 2014) sections 6.3/6.4, and TigerBeetle's VOPR design (one seed replays a run).
"""

from __future__ import annotations

import random

import pytest

from raftsql.raft.storage import MemoryLog
from raftsql.raft.types import (
    ConfState,
    Entry,
    HardState,
    Message,
    MessageType,
    Role,
    Snapshot,
    SnapshotMetadata,
)
from raftsql.testing.checkers import CommittedEntry, SafetyChecker, SafetyViolation, entry_key
from raftsql.testing.clock import SimClock, draw_drift, tick_interval
from raftsql.testing.cluster import SimCluster
from raftsql.testing.history import HistoryChecker
from raftsql.testing.kvsm import KVStateMachine, encode_cas, encode_put
from raftsql.testing.network import NetworkOptions, SimNetwork
from raftsql.testing.options import max_safe_drift, swarm
from raftsql.testing.rand import derive_rng
from raftsql.testing.simlog import DurableImage, SimLog


# -- seeds and time (VOPR: a seed replays a run exactly) ----------------------------------------
def test_derived_streams_are_stable_and_independent() -> None:
    a1, a2, b = derive_rng(7, "net"), derive_rng(7, "net"), derive_rng(7, "disk")
    xs = [a1.random() for _ in range(5)]
    assert xs == [a2.random() for _ in range(5)]
    assert xs != [b.random() for _ in range(5)]


def test_clock_orders_by_time_then_scheduling_order() -> None:
    c, seen = SimClock(), []
    c.at(5, lambda: seen.append("b"))
    c.at(3, lambda: seen.append("a"))
    c.at(5, lambda: seen.append("c"))
    while c.step():
        pass
    assert seen == ["a", "b", "c"] and c.now == 5
    with pytest.raises(AssertionError):
        c.at(4, lambda: None)


def test_drift_stays_within_the_lease_safety_bound() -> None:
    """Thesis 6.4.1: a lease of E-m leader ticks must end before E ticks of any follower."""
    e, m = 10, 2
    r = max_safe_drift(e, m)
    rng = random.Random(1)
    for _ in range(200):
        d = draw_drift(rng, r)
        assert -r <= d <= r
    slow_leader, fast_follower = tick_interval(10_000, -r), tick_interval(10_000, r)
    assert (e - m) * slow_leader <= e * fast_follower + e  # rounding slack of 1us per tick


# -- network (paper 5.1: messages may be lost, duplicated, reordered) ----------------------------
def _net(**kw: object) -> tuple[SimClock, SimNetwork, list[Message]]:
    clock, got = SimClock(), []
    net = SimNetwork(clock, random.Random(3), NetworkOptions(**kw), got.append)
    return clock, net, got


def _drain(clock: SimClock) -> None:
    while clock.step():
        pass


def test_fifo_links_keep_order_without_reordering() -> None:
    clock, net, got = _net(delay_min_us=1, delay_max_us=1000)
    for i in range(50):
        net.send(Message(MessageType.APP, to=2, frm=1, index=i))
    _drain(clock)
    assert [m.index for m in got] == list(range(50))


def test_reordering_links_do_reorder() -> None:
    clock, net, got = _net(delay_min_us=1, delay_max_us=1000, reorder=True)
    for i in range(50):
        net.send(Message(MessageType.APP, to=2, frm=1, index=i))
    _drain(clock)
    assert sorted(m.index for m in got) == list(range(50)) != [m.index for m in got]


def test_partitions_symmetric_asymmetric_and_in_flight() -> None:
    clock, net, got = _net()
    net.send(Message(MessageType.APP, to=2, frm=1, index=1))  # in flight when the cut comes
    net.partition([[1], [2, 3]])
    net.send(Message(MessageType.APP, to=1, frm=2, index=2))
    net.send(Message(MessageType.APP, to=3, frm=2, index=3))
    _drain(clock)
    assert [m.index for m in got] == [3]
    net.heal()
    net.block(1, 2)
    net.send(Message(MessageType.APP, to=2, frm=1, index=4))
    net.send(Message(MessageType.APP, to=1, frm=2, index=5))
    _drain(clock)
    assert [m.index for m in got] == [3, 5]


def test_loss_and_duplication() -> None:
    clock, net, got = _net(loss=0.3, duplicate=0.3)
    for i in range(300):
        net.send(Message(MessageType.APP, to=2, frm=1, index=i))
    _drain(clock)
    idx = [m.index for m in got]
    assert len(set(idx)) < 300 and len(idx) > len(set(idx))


# -- disk: durable vs volatile (paper Figure 2: persist before responding) -----------------------
def _ents(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(term=term, index=i, data=b"x") for i in range(lo, hi)]


def test_crash_keeps_synced_writes_and_drops_unsynced_ones() -> None:
    log = SimLog(DurableImage())
    log.persist(HardState(1, 1, 0), _ents(1, 3), Snapshot(), sync=True)
    log.persist(HardState(1, 1, 2), _ents(3, 5), Snapshot(), sync=False)
    assert log.live.last_index() == 4
    image = log.crash(random.Random(0), tear=False)
    assert image.last_index() == 2 and image.hard_state == HardState(1, 1, 0)
    assert image.to_memory_log().last_index() == 2


def test_torn_crash_keeps_only_a_prefix_of_unsynced_writes() -> None:
    lasts = set()
    for seed in range(40):
        log = SimLog(DurableImage())
        log.persist(None, _ents(1, 2), Snapshot(), sync=True)
        log.persist(None, _ents(2, 6), Snapshot(), sync=False)
        image = log.crash(random.Random(seed), tear=True)
        assert [e.index for e in image.entries] == list(range(1, image.last_index() + 1))
        lasts.add(image.last_index())
    assert lasts == {1, 2, 3, 4, 5}


def test_compaction_moves_the_snapshot_and_survives_a_crash() -> None:
    log = SimLog(DurableImage())
    log.persist(HardState(1, 1, 4), _ents(1, 6), Snapshot(), sync=True)
    snap = log.compact(4, ConfState(voters=(1,)), b"s")
    assert snap is not None and log.live.first_index() == 5
    image = log.crash(random.Random(0), tear=False)
    assert image.snapshot.metadata.index == 4 and [e.index for e in image.entries] == [5]


# -- the KV state machine (thesis 6.3: dedup by client and sequence number) ----------------------
def test_retried_request_gets_the_first_result_and_applies_once() -> None:
    sm = KVStateMachine()
    first = _apply1(sm, Entry(1, 1, data=encode_put("k", "a"), client_id=b"c", seq=1))
    _apply1(sm, Entry(1, 2, data=encode_put("k", "b"), client_id=b"d", seq=1))
    again = _apply1(sm, Entry(1, 3, data=encode_put("k", "a"), client_id=b"c", seq=1))
    assert again == first == ("put", True, "a", 1) and sm.get("k") == "b"
    assert _apply1(sm, Entry(1, 4, data=encode_cas("k", "zz", "q"), client_id=b"c", seq=2)) == (
        "cas",
        False,
        "b",
        4,
    )


def test_snapshot_round_trip_keeps_state_sessions_and_digest() -> None:
    sm = KVStateMachine()
    _apply1(sm, Entry(1, 1, data=encode_put("k", "a"), client_id=b"c", seq=1))
    other = KVStateMachine()
    other.restore(Snapshot(SnapshotMetadata(index=1, term=1), sm.snapshot_data()))
    assert (other.data, other.digest, other.applied) == (sm.data, sm.digest, 1)
    e = Entry(1, 2, data=encode_put("k", "a"), client_id=b"c", seq=1)
    assert other.apply_entries([e]) == sm.apply_entries([e])


# -- checkers (paper Figure 3) -------------------------------------------------------------------
def test_two_leaders_in_one_term_is_a_violation() -> None:
    ck = SafetyChecker()
    ck.on_role(1, 3, Role.LEADER, MemoryLog())
    ck.on_role(1, 3, Role.LEADER, MemoryLog())
    with pytest.raises(SafetyViolation, match="election safety"):
        ck.on_role(2, 3, Role.LEADER, MemoryLog())


def test_log_matching_violation_on_durable_logs() -> None:
    ck, a, b = SafetyChecker(), SimLog(DurableImage()), SimLog(DurableImage())
    a.on_durable = lambda img, batch: ck.on_durable(1, img, batch)
    b.on_durable = lambda img, batch: ck.on_durable(2, img, batch)
    a.persist(None, [Entry(1, 1), Entry(2, 2, data=b"a")], Snapshot(), sync=True)
    b.persist(None, [Entry(1, 1), Entry(2, 2, data=b"a")], Snapshot(), sync=True)
    with pytest.raises(SafetyViolation, match="log matching"):
        b.persist(None, [Entry(2, 2, data=b"b")], Snapshot(), sync=True)


def test_leader_completeness_binds_leaders_of_higher_terms_only() -> None:
    """Paper 5.4, Leader Completeness: an entry committed in term U is in the log of every
    leader of a term above U. A leader of term 5 whose votes reached it late (its loop was
    held) may be elected after term 6 committed an entry it lacks: no violation. A leader of
    term 7 without it is one."""
    ck, committed_log, stale_log = SafetyChecker(), MemoryLog(), MemoryLog()
    committed_log.append([Entry(4, 1, data=b"a")])
    ck.on_commit(2, 1, committed_log, 6)
    stale_log.append([Entry(5, 1)])
    ck.on_role(1, 5, Role.LEADER, stale_log)
    with pytest.raises(SafetyViolation, match="leader completeness"):
        ck.on_role(3, 7, Role.LEADER, stale_log)


def test_conflicting_commit_and_uncommitted_apply_are_violations() -> None:
    ck, log = SafetyChecker(), MemoryLog()
    log.append([Entry(1, 1, data=b"a"), Entry(1, 2, data=b"b")])
    ck.on_commit(1, 1, log, 1)
    ck.on_apply(1, Entry(1, 1, data=b"a"))
    with pytest.raises(SafetyViolation, match="not the committed entry"):
        ck.on_apply(1, Entry(1, 2, data=b"b"))
    other = MemoryLog()
    other.append([Entry(2, 1, data=b"z")])
    with pytest.raises(SafetyViolation, match="state machine safety"):
        ck.on_commit(2, 1, other, 2)


def test_stale_read_and_misplaced_ack_are_caught() -> None:
    """Thesis 6.4: a read must reflect every write completed before it was invoked."""
    h = HistoryChecker()
    put = Entry(1, 1, data=encode_put("k", "v"), client_id=b"c", seq=1)
    committed = {1: CommittedEntry(1, 1, entry_key(put))}
    h.on_write_ack(b"c", 1, ("put", True, "v", 1), committed)
    rec = h.invoke_read("r", "k", "lease", now=10)
    with pytest.raises(SafetyViolation, match="stale lease read"):
        h.complete_read(rec, 2, 0, None, 11, committed)
    with pytest.raises(SafetyViolation, match="claims index"):
        h.on_write_ack(b"c", 1, ("put", True, "v", 2), committed)


# -- whole runs ----------------------------------------------------------------------------------
def test_a_seed_replays_exactly() -> None:
    """TigerBeetle VOPR: a seed (and a commit) reproduce a run bit for bit."""
    a, b = SimCluster(swarm(11)).run(), SimCluster(swarm(11)).run()
    assert a.ok and (a.events, a.virtual_us, a.stats) == (b.events, b.virtual_us, b.stats)


def test_runs_make_progress() -> None:
    """A run that acknowledges nothing proves nothing: fault-free seeds must commit writes."""
    res = SimCluster(swarm(5)).run()
    assert res.ok and res.stats["acked"] > 10 and res.stats["reads"] > 10


def _apply1(sm: KVStateMachine, entry: Entry) -> object:
    """Apply one entry (the state machine takes batches) and return its result."""
    return sm.apply_entries([entry])[0]
