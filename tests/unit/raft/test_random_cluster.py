"""Seeded random schedules against the Raft safety properties (a miniature of the simulator).

Source of truth: Raft paper 5.2 (Election Safety: at most one leader per term), 5.3 (Log
Matching), 5.4.3 (State Machine Safety: no two servers apply different entries at an index).
Messages are dropped, duplicated and reordered, nodes are partitioned and restarted, all
drawn from one seeded random.Random so a failing seed replays exactly.
"""

from __future__ import annotations

import random

import pytest
from raft_network import Network

from raftsql.raft.errors import ProposalDroppedError
from raftsql.raft.types import Entry, Role


def run(seed: int, steps: int = 400, **cfg: object) -> None:
    rng = random.Random(seed)
    ids = [1, 2, 3, 4, 5] if seed % 2 else [1, 2, 3]
    n = Network(ids, **cfg)
    leaders: dict[int, int] = {}
    inflight: list = []
    history: dict[int, list[Entry]] = {nid: [] for nid in ids}

    def observe() -> None:
        for nid, p in n.peers.items():
            st = p.node.status()
            if st.role is Role.LEADER:
                assert leaders.setdefault(st.term, nid) == nid, f"two leaders in term {st.term}"
            # State machine safety: what any node applied is a prefix of the longest history.
            hist = history[nid]
            if len(p.applied) > len(hist):
                history[nid] = list(p.applied)
        longest = max(history.values(), key=len)
        for h in history.values():
            assert [(e.index, e.term, e.data) for e in h] == [
                (e.index, e.term, e.data) for e in longest[: len(h)]
            ], f"seed {seed}: divergent applied logs"

    for step in range(steps):
        action = rng.random()
        nid = rng.choice(ids)
        if action < 0.45:
            n.node(nid).tick()
        elif action < 0.6:
            try:
                n.node(nid).propose(b"s%d-%d" % (seed, step))
            except ProposalDroppedError:
                pass
        elif action < 0.63:
            n.isolate(nid)
        elif action < 0.68:
            n.recover()
        elif action < 0.70:
            n.restart(nid, **cfg)  # keeps only what its MemoryLog persisted
            n.peers[nid].applied = []
        for x in ids:
            inflight.extend(n.handle_ready(x))
        # Deliver a random subset in random order; drop some, duplicate a few.
        rng.shuffle(inflight)
        keep = []
        for m in inflight:
            r = rng.random()
            if r < 0.1:
                continue
            if r < 0.2:
                keep.append(m)
                continue
            if r < 0.23:
                keep.append(m)  # duplicate: deliver now and again later
            if n._deliverable(m):
                n.node(m.to).step(m)
        inflight = keep
        observe()
    # Liveness after healing: everyone converges on one leader and the same applied log.
    n.recover()
    for _ in range(200):
        for x in ids:
            n.node(x).tick()
        n.queue.extend(inflight)
        inflight = []
        n.send()
        observe()
        if sum(n.node(x).status().role is Role.LEADER for x in ids) == 1:
            lead = next(x for x in ids if n.node(x).status().role is Role.LEADER)
            try:
                n.propose(lead, b"final")
            except ProposalDroppedError:
                continue
            n.tick_all(3)
            if all(n.data(x)[-1:] == [b"final"] for x in ids):
                return
    raise AssertionError(f"seed {seed}: no convergence after healing")


@pytest.mark.parametrize("seed", range(12))
def test_random_schedule_keeps_safety(seed: int) -> None:
    """Reference: Raft paper 5.2 Election Safety, 5.4.3 State Machine Safety; thesis 9.6/6.2
    with PreVote and CheckQuorum on (the production settings)."""
    run(seed)


@pytest.mark.parametrize("seed", range(100, 106))
def test_random_schedule_basic_raft(seed: int) -> None:
    """Reference: Raft paper section 5 without the thesis extensions."""
    run(seed, pre_vote=False, check_quorum=False)
