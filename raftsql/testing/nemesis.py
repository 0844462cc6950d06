"""The fault scheduler: partitions, crashes, membership changes, leadership transfers, stalls.

Jepsen calls it the nemesis; TigerBeetle's VOPR draws the same kinds of faults from its seed.
Each action is drawn from the seed at a random virtual time while the run is in its safety
phase; ``stop`` ends it before the liveness phase. Partitions last a random time and then heal
(packet_simulator.zig's "minimum stability duration"); crashed nodes restart from their
durable image after a random downtime. A stall holds one node's event loop for up to three
election timeouts (SimCluster.stall), as a slow disk or a long statement does.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from raftsql.raft.storage import RaftError
from raftsql.raft.types import ConfChange, ConfChangeSingle, ConfChangeType
from raftsql.testing.options import TICK_US
from raftsql.testing.rand import derive_rng

if TYPE_CHECKING:
    from raftsql.testing.cluster import SimCluster
    from raftsql.testing.simnode import SimNode


class Nemesis:
    def __init__(self, cluster: SimCluster, rng: random.Random) -> None:
        self.cluster = cluster
        self.rng = rng
        self.active = True
        f = cluster.options.faults
        self.actions = [
            a
            for a, on in (
                (self.partition, f.partitions),
                (self.crash, f.crashes),
                (self.membership, f.membership),
                (self.transfer, f.transfers),
            )
            if on
        ]
        self.counts: dict[str, int] = {}
        self.stall_rng = derive_rng(cluster.options.seed, "nemesis-stalls")

    def start(self) -> None:
        if self.actions:
            self._schedule()
        if self.cluster.options.faults.stalls:
            self._schedule_stall()

    def stop(self) -> None:
        self.active = False

    def _schedule(self) -> None:
        gap = self.cluster.options.faults.mean_gap_ticks * TICK_US
        self.cluster.clock.after(int(self.rng.expovariate(1.0 / gap)), self._act)

    def _act(self) -> None:
        if not self.active:
            return
        action = self.rng.choice(self.actions)
        action()
        self.counts[action.__name__] = self.counts.get(action.__name__, 0) + 1
        self._schedule()

    def _duration(self) -> int:
        return self.rng.randint(1, 80) * TICK_US

    # -- stalls ----------------------------------------------------------------------------------
    def _schedule_stall(self) -> None:
        """Stalls come on a schedule and a random stream of their own, so that turning them on
        leaves the other faults of a seed where they were."""
        gap = 2 * self.cluster.options.faults.mean_gap_ticks * TICK_US
        self.cluster.clock.after(int(self.stall_rng.expovariate(1.0 / gap)), self.stall)

    def stall(self) -> None:
        """Hold a node's event loop (the leader's half the time) for up to three election
        timeouts: a slow disk under a big snapshot, a long statement (issue 8: a 0.7 s log
        fsync on every node at once)."""
        if not self.active:
            return
        c = self.cluster
        leader = c.current_leader()
        live = [n for n in c.nodes.values() if n.up]
        if live:
            rng = self.stall_rng
            node = leader if leader is not None and rng.random() < 0.5 else rng.choice(live)
            ticks = rng.randint(1, 3 * c.options.election_tick)
            c.stall(node, ticks * TICK_US)
            self.counts["stall"] = self.counts.get("stall", 0) + 1
        self._schedule_stall()

    # -- partitions ------------------------------------------------------------------------------
    def partition(self) -> None:
        c = self.cluster
        ids = sorted(c.nodes)
        mode = self.rng.choices(
            ["isolate_leader", "isolate_one", "split", "asymmetric"], weights=[4, 2, 2, 2]
        )[0]
        leader = c.current_leader()
        if mode == "isolate_leader" and leader is not None:
            c.network.partition([[leader.id], [i for i in ids if i != leader.id]])
        elif mode in ("isolate_one", "isolate_leader"):
            one = self.rng.choice(ids)
            c.network.partition([[one], [i for i in ids if i != one]])
        elif mode == "split":
            shuffled = ids[:]
            self.rng.shuffle(shuffled)
            cut = self.rng.randint(1, len(ids) - 1)
            c.network.partition([shuffled[:cut], shuffled[cut:]])
        else:
            for _ in range(self.rng.randint(1, len(ids))):
                a, b = self.rng.sample(ids, 2)
                c.network.block(a, b)
        c.trace(f"nemesis partition {mode}: blocked {sorted(c.network.blocked)}")
        c.clock.after(self._duration(), self._heal)

    def _heal(self) -> None:
        self.cluster.network.heal()
        self.cluster.trace("nemesis heal network")

    # -- crashes ---------------------------------------------------------------------------------
    def crash(self) -> None:
        c = self.cluster
        up = [n for n in c.nodes.values() if n.up and not n.removed]
        if not up:
            return
        node = self.rng.choice(up)
        c.crash(node, tear=c.options.faults.torn_writes and self.rng.random() < 0.5)
        c.clock.after(self._duration(), lambda: c.restart(node.id))

    def on_new_leader(self, node: SimNode) -> None:
        """Leader churn (Jepsen's "kill the leader"): a fresh leader is often crashed or cut
        off within a few message delays, before its no-op reaches a quorum. Short-lived
        leaders with diverging uncommitted suffixes are the setting of the paper's Figure 8
        (section 5.4.2), which random crashes alone almost never reach."""
        if self.rng.random() < 0.5:
            delay = 0  # the no-op is lost on the wire
        else:
            delay = self.rng.randint(0, 4 * self.cluster.options.network.delay_max_us)
        self._strike(node, 0.6, delay)

    def on_first_commit(self, node: SimNode) -> None:
        """Cut a new leader off the moment its commit index first moves in its term: what it
        just declared committed must survive without it (paper 5.4.2: only entries of the
        current term commit by counting; anything else committed here is Figure 8)."""
        self._strike(node, 0.4, 0)

    def _strike(self, node: SimNode, chance: float, delay: int) -> None:
        c = self.cluster
        if not (self.active and c.options.faults.leader_churn and self.rng.random() < chance):
            return
        isolate = self.rng.random() < 0.6
        boot = node.boot
        down_for = self.rng.randint(1, 30) * TICK_US

        def strike() -> None:
            if not (node.up and node.boot == boot and self.active):
                return
            if isolate:
                others = [i for i in c.nodes if i != node.id]
                c.network.partition([[node.id], others])
                c.trace(f"nemesis churn: isolate leader n{node.id}")
                c.clock.after(down_for, self._heal)
            else:
                c.crash(node, tear=c.options.faults.torn_writes and self.rng.random() < 0.5)
                c.clock.after(down_for, lambda: c.restart(node.id))

        c.clock.after(delay, strike)
        self.counts["leader_churn"] = self.counts.get("leader_churn", 0) + 1

    # -- membership ------------------------------------------------------------------------------
    def membership(self) -> None:
        c = self.cluster
        leader = c.current_leader()
        if leader is None:
            return
        cs = leader.conf_state
        if cs.joint:
            return
        voters, learners = list(cs.voters), list(cs.learners)
        spares = c.unused_spares()
        choices = []
        if spares:
            choices.append("add_learner")
        if learners:
            choices += ["promote", "joint_swap"]
        if len(voters) > 3:
            choices.append("remove")
        if len(voters) >= 3 and spares:
            choices.append("joint_add")
        if not choices:
            return
        kind = self.rng.choice(choices)
        S, T = ConfChangeSingle, ConfChangeType
        if kind == "add_learner":
            new = spares[0]
            c.start_spare(new)
            changes: tuple[ConfChangeSingle, ...] = (S(T.ADD_LEARNER, new),)
        elif kind == "promote":
            changes = (S(T.ADD_VOTER, self.rng.choice(learners)),)
        elif kind == "remove":
            changes = (S(T.REMOVE_NODE, self.rng.choice(voters)),)
        elif kind == "joint_swap":
            changes = (
                S(T.ADD_VOTER, self.rng.choice(learners)),
                S(T.REMOVE_NODE, self.rng.choice(voters)),
            )
        else:
            new = spares[0]
            c.start_spare(new)
            changes = (S(T.ADD_VOTER, new), S(T.ADD_LEARNER, self.rng.choice(voters)))
        try:
            leader.raw.propose_conf_change(ConfChange(changes))
        except RaftError as exc:
            c.trace(f"nemesis {kind} on n{leader.id} dropped: {exc}")
            return
        c.trace(f"nemesis {kind} {[(x.type.name, x.node_id) for x in changes]} via n{leader.id}")
        c.drain(leader)

    # -- leadership transfer ---------------------------------------------------------------------
    def transfer(self) -> None:
        c = self.cluster
        leader = c.current_leader()
        if leader is None:
            return
        others = [v for v in leader.conf_state.voters if v != leader.id]
        if not others:
            return
        target = self.rng.choice(others)
        c.trace(f"nemesis transfer leadership n{leader.id} -> n{target}")
        try:
            leader.raw.transfer_leader(target)
        except RaftError:
            return
        c.drain(leader)
