"""The simulated cluster: nodes, network, clients and nemesis on one virtual clock.

One run = one seed: ``SimCluster(swarm(seed)).run()``. The run has two phases, as in
TigerBeetle's VOPR: a safety phase with faults, checkers after every event, then a liveness
phase that heals every fault and requires a leader, every pending client operation resolved and
all members converged within a bounded virtual time ("no state convergence" otherwise).
"""

from __future__ import annotations

import collections
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from raftsql.node.ready import ReadyOutcome, handle_ready
from raftsql.raft.describe import describe_message
from raftsql.raft.types import (
    ConfState,
    HardState,
    Message,
    MessageType,
    NodeId,
    Ready,
    Role,
    Snapshot,
    SnapshotMetadata,
)
from raftsql.testing.checkers import SafetyChecker, SafetyViolation
from raftsql.testing.client import SimClient
from raftsql.testing.clock import SimClock, draw_drift
from raftsql.testing.history import HistoryChecker
from raftsql.testing.nemesis import Nemesis
from raftsql.testing.network import NetworkOptions, SimNetwork
from raftsql.testing.options import TICK_US, SimOptions
from raftsql.testing.rand import derive_rng
from raftsql.testing.simlog import Batch, DurableImage
from raftsql.testing.simnode import SimNode

BOOT_INDEX = 1
"""The bootstrap snapshot's index: every initial voter starts there."""


@dataclass
class SimResult:
    seed: int
    ok: bool
    error: str = ""
    phase: str = "safety"
    virtual_us: int = 0
    events: int = 0
    stats: dict[str, int] = field(default_factory=dict)


class LivenessFailure(AssertionError):
    """The healed cluster did not converge within the budget."""


class SimCluster:
    def __init__(self, options: SimOptions, trace_lines: int = 0) -> None:
        self.options = options
        seed = options.seed
        self.clock = SimClock()
        self._trace: collections.deque[str] | None = (
            collections.deque(maxlen=trace_lines) if trace_lines else None
        )
        self.network = SimNetwork(
            self.clock, derive_rng(seed, "network"), options.network, self._deliver, self._dropped
        )
        self.network.links = {(a, b): n for a, b, n in options.bad_links}
        self.checker = SafetyChecker()
        self.history = HistoryChecker(start_index=BOOT_INDEX)
        self.read_mode = "lease" if options.lease else "readindex"
        self._crash_rng = derive_rng(seed, "crash")
        self._drift_rng = derive_rng(seed, "drift")
        self.nodes: dict[NodeId, SimNode] = {}
        self.boots: dict[NodeId, int] = {}
        voters = tuple(range(1, options.nodes + 1))
        self.spares = list(range(options.nodes + 1, options.nodes + options.spares + 1))
        # Bootstrap as a snapshot at index 1, term 1 naming the voters: a node added later
        # cannot fetch entry 1 and so receives a snapshot that tells it the membership (a
        # conf state at index 0 would never reach it; etcd bootstraps with log entries).
        boot = Snapshot(
            SnapshotMetadata(index=BOOT_INDEX, term=1, conf_state=ConfState(voters=voters))
        )
        for nid in voters:
            self._start(
                nid, DurableImage(hard_state=HardState(term=1, commit=BOOT_INDEX), snapshot=boot)
            )
        self.clients = [
            SimClient(self, i, derive_rng(seed, f"client{i}"))
            for i in range(1, options.clients + 1)
        ]
        self.nemesis = Nemesis(self, derive_rng(seed, "nemesis"))
        self.phase = "safety"
        self.events = 0

    # -- tracing -----------------------------------------------------------------------------
    def trace(self, line: str) -> None:
        if self._trace is not None:
            self._trace.append(f"{self.clock.now / 1000:10.3f}ms {line}")

    def trace_lines(self) -> list[str]:
        return list(self._trace or [])

    # -- node lifecycle --------------------------------------------------------------------------
    def _start(self, nid: NodeId, image: DurableImage) -> SimNode:
        boot = self.boots.get(nid, 0) + 1
        self.boots[nid] = boot
        drift = draw_drift(self._drift_rng, self.options.max_drift)
        node = SimNode(
            nid,
            boot,
            image,
            self.options,
            self.network,
            drift,
            lambda img, batch: self._on_durable(nid, img, batch),
            derive_rng(self.options.seed, f"raft-n{nid}-boot{boot}"),
        )
        self.nodes[nid] = node
        self.checker.forget_commit(nid)
        self.clock.after(node.tick_us, lambda: self._tick(node))
        self.trace(f"start n{nid} boot{boot} drift={drift:+.3f} {node.describe()}")
        return node

    def _on_durable(self, nid: NodeId, image: DurableImage, batch: Batch) -> None:
        self.checker.on_durable(nid, image, batch)

    def start_spare(self, nid: NodeId) -> None:
        self.spares.remove(nid)
        self._start(nid, DurableImage())

    def unused_spares(self) -> list[NodeId]:
        return list(self.spares)

    def crash(self, node: SimNode, tear: bool) -> None:
        if not node.up:
            return
        node.up = False
        image = node.log.crash(self._crash_rng, tear)
        node.crashed_image = image
        self.trace(f"crash n{node.id} tear={int(tear)} durable_last={image.last_index()}")

    def restart(self, nid: NodeId) -> None:
        old = self.nodes[nid]
        if old.up or old.removed or old.crashed_image is None:
            return
        self._start(nid, old.crashed_image)

    def _tick(self, node: SimNode) -> None:
        if not node.up or self.nodes.get(node.id) is not node:
            return
        node.ticks += 1
        if node.stalled:
            node.missed_ticks += 1
        else:
            node.raw.tick()
            self.drain(node)
        self.clock.after(node.tick_us, lambda: self._tick(node))

    def stall(self, node: SimNode, duration_us: int) -> None:
        """Hold ``node``'s event loop for ``duration_us``, as a long fsync or statement does in
        the asyncio node: its ticks, the messages that reach it and its clients' requests
        wait. Then, as the driver does, the ticks go in first, as one burst (all of them for a
        leader, whose lease must shrink by the time that passed; one for anyone else), and
        what waited follows in arrival order."""
        if node.stalled or not node.up:
            return
        node.stalled = True
        self.trace(f"stall n{node.id} for {duration_us / 1000:.1f}ms")
        self.clock.after(duration_us, lambda: self._resume(node))

    def _resume(self, node: SimNode) -> None:
        held, node.held = node.held, []
        missed, node.missed_ticks = node.missed_ticks, 0
        node.stalled = False
        if not node.up or self.nodes.get(node.id) is not node:
            return
        if missed:
            node.raw.tick(missed if node.raw.raft.role is Role.LEADER else 1)
            self.drain(node)
        for action in held:
            action()

    # -- queries ------------------------------------------------------------------------------
    def current_leader(self) -> SimNode | None:
        best = None
        for n in self.nodes.values():
            if n.up and n.role is Role.LEADER and (best is None or n.term > best.term):
                best = n
        return best

    def live_members(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.up and not n.removed]

    def any_up_node(self) -> SimNode | None:
        live = self.live_members()
        return live[0] if live else None

    # -- message plumbing ----------------------------------------------------------------------
    def _deliver(self, msg: Message) -> None:
        node = self.nodes.get(msg.to)
        if node is None or not node.up:
            return
        if node.stalled:
            node.held.append(lambda: self._deliver(msg))
            return
        if self._trace is not None:
            self.trace(f"n{msg.to} <- {describe_message(msg)[:160]}")
        node.raw.step(msg)
        self.drain(node)
        if msg.type == MessageType.SNAP:
            self._report(msg.frm, lambda n: n.raw.report_snapshot(msg.to, False))

    def _dropped(self, msg: Message) -> None:
        if msg.type == MessageType.SNAP:
            self._report(msg.frm, lambda n: n.raw.report_snapshot(msg.to, True))
        elif msg.type == MessageType.APP and not self.network.reachable(msg.frm, msg.to):
            self._report(msg.frm, lambda n: n.raw.report_unreachable(msg.to))

    def _report(self, nid: NodeId, call: Callable[[SimNode], None]) -> None:
        node = self.nodes.get(nid)
        if node is None:
            return

        def run() -> None:
            if node.stalled:
                node.held.append(run)
            elif node.up and self.nodes.get(nid) is node:
                call(node)
                self.drain(node)

        self.clock.after(0, run)

    # -- the Ready loop ------------------------------------------------------------------------
    def drain(self, node: SimNode) -> None:
        """Handle Readies until the node has none, then run the checks they call for."""
        raw = node.raw
        while node.up and raw.has_ready():
            rd = raw.ready()
            if self._trace is not None:
                self.trace(f"n{node.id} ready {describe_ready(rd)}")
            out = handle_ready(raw, rd, node.log, node.transport, node.sm, node.reads)
            self._after_ready(node, rd, out)

    def _after_ready(self, node: SimNode, rd: Ready, out: ReadyOutcome) -> None:
        ck = self.checker
        nid = node.id
        if rd.soft_state is not None:
            became_leader = rd.soft_state.role is Role.LEADER and node.role is not Role.LEADER
            node.role, node.leader = rd.soft_state.role, rd.soft_state.leader_id
            if became_leader:
                self.nemesis.on_new_leader(node)
        if rd.hard_state is not None:
            node.term = rd.hard_state.term
            if rd.hard_state.commit > node.commit or nid not in ck.seen_commit:
                node.commit = rd.hard_state.commit
                ck.on_commit(nid, node.commit, node.log.live, node.term)
                if node.role is Role.LEADER and node.first_commit_term != node.term:
                    node.first_commit_term = node.term
                    self.nemesis.on_first_commit(node)
        if rd.soft_state is not None or rd.hard_state is not None:
            ck.on_role(nid, node.term, node.role, node.log.live)
        if out.restored is not None:
            node.conf_state = out.restored.metadata.conf_state
            ck.on_restore(nid, out.restored, node.sm.digest)
        was_member = node.member_of(node.conf_state)
        members_before = _members(node.conf_state)
        for _, cs in out.conf_states:
            node.conf_state = cs
        for entry, result in out.applied:
            ck.on_apply(nid, entry)
            if result is not None:
                client = node.write_waiters.pop((entry.client_id, entry.seq), None)
                if client is not None:
                    client.on_write_result(node, result)
        if out.applied:
            ck.on_digest(nid, node.sm.applied, node.sm.digest)
        for rs in out.released_reads:
            waiter = node.read_waiters.pop(rs.request_ctx, None)
            if waiter is not None:
                waiter[0].on_read(node, waiter[1])
        if out.conf_states and was_member and not node.member_of(node.conf_state):
            self.trace(f"n{nid} removed from the configuration: stopping it")
            node.removed = True
            node.up = False
        # A snapshot must name every member it may be sent to (the core refuses a snapshot
        # whose ConfState lacks the recipient, as etcd's raft.restore does), so a node that
        # learns of a new member snapshots at once; otherwise every ``compact_every`` entries.
        grew = out.conf_states and _members(node.conf_state) - members_before
        every = self.options.compact_every
        if node.up and (grew or every and node.sm.applied - node.log.durable.offset >= every):
            if node.log.compact(node.sm.applied, node.conf_state, node.sm.snapshot_data()):
                self.trace(f"n{nid} compacted to {node.sm.applied}")

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> SimResult:
        o = self.options
        res = SimResult(seed=o.seed, ok=True)
        for c in self.clients:
            c.start()
        self.nemesis.start()
        try:
            self.run_until(o.safety_ticks * TICK_US, lambda: False)
            self._heal()
            self.phase = "liveness"
            deadline = self.clock.now + o.liveness_ticks * TICK_US
            if not self.run_until(deadline, self._converged):
                raise LivenessFailure(
                    f"no convergence within {o.liveness_ticks} ticks: {self.status()}"
                )
            self.history.check_final(self.checker.committed)
        except (SafetyViolation, LivenessFailure) as exc:
            res.ok, res.error = False, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a crash of the code under test is a failure too
            res.ok, res.error = False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        res.phase = self.phase
        res.virtual_us = self.clock.now
        res.events = self.events
        res.stats = {
            "acked": sum(c.acked for c in self.clients),
            "reads": sum(c.completed_reads for c in self.clients),
            "committed": len(self.checker.committed),
            "msgs": self.network.stats.sent,
            "dropped": self.network.stats.dropped,
            "terms": len(self.checker.leaders),
            **{f"nemesis_{k}": v for k, v in self.nemesis.counts.items()},
        }
        return res

    def run_until(self, deadline: int, done: Callable[[], bool]) -> bool:
        """Run events up to virtual time ``deadline`` or until ``done()``; scripted scenarios
        use it to drive the cluster step by step."""
        clock = self.clock
        while True:
            nxt = clock.next_time()
            if nxt is None or nxt > deadline:
                break
            clock.step()
            self.events += 1
            if done():
                return True
        clock.now = max(clock.now, deadline)
        return done()

    def _heal(self) -> None:
        """Liveness mode: no more faults; every non-removed node up; clients finish."""
        self.nemesis.stop()
        self.network.heal()
        self.network.links = {}
        n = self.options.network
        self.network.options = NetworkOptions(
            delay_min_us=n.delay_min_us, delay_max_us=n.delay_max_us
        )
        for nid in sorted(self.nodes):
            self.restart(nid)
        for c in self.clients:
            c.stopping = True
        self.trace("heal: liveness phase")

    def _converged(self) -> bool:
        if any(not c.idle for c in self.clients):
            return False
        leader = self.current_leader()
        if leader is None:
            return False
        cs = leader.conf_state
        for nid in (*cs.voters, *cs.learners):
            node = self.nodes.get(nid)
            if node is None or not node.up or node.sm.applied != leader.commit:
                return False
        return True

    def status(self) -> str:
        pending = [c.name for c in self.clients if not c.idle]
        leader = self.current_leader()
        conf = leader.conf_state if leader is not None else None
        return f"pending clients={pending}; leader conf={conf}; " + "; ".join(
            n.describe() for _, n in sorted(self.nodes.items())
        )


def _members(cs: ConfState) -> set[NodeId]:
    return {*cs.voters, *cs.learners, *cs.voters_outgoing, *cs.learners_next}


def describe_ready(rd: Ready) -> str:
    """One line per Ready for the trace (the core's describe_ready spans several lines)."""
    parts = []
    if rd.soft_state is not None:
        parts.append(f"soft={rd.soft_state.role.value}/lead{rd.soft_state.leader_id}")
    if rd.hard_state is not None:
        hs = rd.hard_state
        parts.append(f"hs=t{hs.term}/v{hs.vote}/c{hs.commit}")
    if rd.entries:
        parts.append(f"ents={rd.entries[0].index}..{rd.entries[-1].index}")
    if not rd.snapshot.empty:
        parts.append(f"snap@{rd.snapshot.metadata.index}")
    if rd.committed_entries:
        parts.append(f"apply={rd.committed_entries[0].index}..{rd.committed_entries[-1].index}")
    for m in (*rd.messages, *rd.persisted_messages):
        parts.append(f"{m.type.name}>{m.to}")
    if rd.read_states:
        parts.append(f"reads={[rs.index for rs in rd.read_states]}")
    if rd.must_sync:
        parts.append("sync")
    return " ".join(parts)
