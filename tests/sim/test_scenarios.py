"""Scripted scenarios on the simulator: the Raft paper's Figure 8, step by step.

Source of truth: Raft paper (Ongaro & Ousterhout 2014) section 5.4.2 and Figure 8: a leader
may not conclude that an entry of an earlier term is committed because it is stored on a
majority; only entries of its own term commit by counting replicas. The scenario builds the
figure's log shapes with partitions on a 3-node cluster, then checks that the real core stays
safe and that the core with the ``figure8`` mutation is caught by the checkers.
"""

from __future__ import annotations

import pytest

from raftsql.raft.types import Role
from raftsql.testing.checkers import SafetyViolation
from raftsql.testing.cluster import SimCluster
from raftsql.testing.kvsm import encode_put
from raftsql.testing.mutations import mutated
from raftsql.testing.network import NetworkOptions
from raftsql.testing.options import TICK_US, SimOptions

MS = 1000


def _cluster() -> SimCluster:
    opts = SimOptions(
        seed=8,
        nodes=3,
        clients=0,
        pre_vote=True,  # lower-term heartbeats get answered, so a stale leader steps down
        check_quorum=False,
        max_size_per_msg=1,  # one entry per APP: an old-term entry is acknowledged on its own
        network=NetworkOptions(delay_min_us=1 * MS, delay_max_us=1 * MS),
    )
    return SimCluster(opts, trace_lines=2000)


def _elect(c: SimCluster, nid: int) -> None:
    c.nodes[nid].raw.campaign()
    c.drain(c.nodes[nid])
    ok = c.run_until(c.clock.now + 5 * TICK_US, lambda: c.nodes[nid].role is Role.LEADER)
    assert ok, f"n{nid} did not win: {c.status()}"


def figure8(c: SimCluster) -> None:
    n1, n2, n3 = (c.nodes[i] for i in (1, 2, 3))
    _elect(c, 1)  # (a) n1 leads term 2; its no-op commits everywhere
    assert c.run_until(c.clock.now + 5 * TICK_US, lambda: n3.commit >= 2)
    c.network.partition([[1], [2, 3]])
    n1.raw.propose(encode_put("k", "old"), client_id=b"w", seq=1)  # index 3, term 2, only on n1
    c.drain(n1)
    c.run_until(c.clock.now + 2 * MS, lambda: False)
    _elect(c, 2)  # (b) n2 leads term 3 with n3's vote; its no-op (index 3, term 3) ...
    c.network.partition([[1], [2], [3]])  # ... never leaves n2
    c.run_until(c.clock.now + 3 * MS, lambda: False)
    c.network.partition([[1, 3], [2]])
    # n3 (term 3) answers n1's heartbeats with its higher term: n1 steps down (paper 5.1).
    assert c.run_until(c.clock.now + 3 * TICK_US, lambda: n1.role is not Role.LEADER)
    _elect(c, 1)  # (c) n1 leads term 4 with n3's vote; it copies index 3 (term 2) to n3
    c.run_until(c.clock.now + 3 * TICK_US, lambda: n1.commit >= 3)
    assert n1.term == 4, c.status()
    c.network.partition([[1], [2, 3]])  # (d) n1 is cut off before its term-4 no-op counts
    c.run_until(c.clock.now + 3 * MS, lambda: False)
    if n3.log.live.last_index() >= 4:
        return  # n3 holds n1's term-4 no-op: n2 cannot win any more (paper 5.4.1)
    assert c.run_until(c.clock.now + 3 * TICK_US, lambda: n2.role is not Role.LEADER)
    _elect(c, 2)  # (e) n2 wins term 5 and overwrites index 3 on n3
    c.run_until(c.clock.now + 5 * TICK_US, lambda: n3.commit >= 3 and n2.commit >= 3)


def test_figure8_real_core_stays_safe() -> None:
    c = _cluster()
    figure8(c)  # raises SafetyViolation if anything goes wrong


def test_figure8_counting_replicas_of_an_old_term_is_caught() -> None:
    c = _cluster()
    with mutated("figure8"), pytest.raises(SafetyViolation, match="committed"):
        figure8(c)
