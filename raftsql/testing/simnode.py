"""One simulated node: the real RawNode and the real Ready handler on simulated I/O.

FoundationDB's rule, "same code in production and simulation": only the disk (``SimLog``), the
network (``SimTransport`` over ``SimNetwork``) and the clock (ticks scheduled by the cluster)
are simulated; consensus and the Ready ordering are the production modules.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from raftsql.node.ready import PendingReads
from raftsql.raft.config import Config
from raftsql.raft.rawnode import RawNode
from raftsql.raft.types import NONE, ConfState, Message, NodeId, Role
from raftsql.testing.clock import tick_interval
from raftsql.testing.history import ReadRecord
from raftsql.testing.kvsm import KVStateMachine
from raftsql.testing.network import SimNetwork
from raftsql.testing.options import TICK_US, SimOptions
from raftsql.testing.simlog import DurableImage, OnDurable, SimLog

if TYPE_CHECKING:
    from raftsql.testing.client import SimClient


class SimTransport:
    """``raftsql.node.ready.Transport`` onto the simulated network."""

    def __init__(self, network: SimNetwork) -> None:
        self.network = network

    def send(self, msgs: Sequence[Message]) -> None:
        for m in msgs:
            self.network.send(m)


class SimNode:
    """A node process between a (re)start and a crash. A restart builds a new SimNode from
    the durable image only, so nothing volatile can leak across a crash."""

    def __init__(
        self,
        node_id: NodeId,
        boot: int,
        image: DurableImage,
        options: SimOptions,
        network: SimNetwork,
        drift: float,
        on_durable: OnDurable,
        rng: random.Random,
    ) -> None:
        self.id = node_id
        self.boot = boot
        self.up = True
        self.removed = False
        self.crashed_image: DurableImage | None = None
        self.log = SimLog(image, on_durable)
        self.sm = KVStateMachine()
        snap = image.snapshot
        if not snap.empty:
            self.sm.restore(snap)
        self.reads = PendingReads(applied=snap.metadata.index)
        self.conf_state: ConfState = snap.metadata.conf_state
        self.config = Config(
            id=node_id,
            election_tick=options.election_tick,
            heartbeat_tick=options.heartbeat_tick,
            rng=rng,
            applied=snap.metadata.index,
            max_size_per_msg=options.max_size_per_msg,
            max_inflight_msgs=options.max_inflight_msgs,
            check_quorum=options.check_quorum,
            pre_vote=options.pre_vote,
            read_only_option=options.read_only,
            lease_drift_margin_ticks=options.lease_margin_ticks,
            lazy_commit=options.lazy_commit,
        )
        self.config.validate()
        self.raw = RawNode(self.config, self.log.live)
        self.transport = SimTransport(network)
        hs = image.hard_state
        self.term = hs.term
        self.commit = hs.commit
        self.role = Role.FOLLOWER
        self.leader: NodeId = NONE
        self.first_commit_term = 0
        """The last term in which this node, as leader, advanced its commit index."""
        self.drift = drift
        self.tick_us = tick_interval(TICK_US, drift)
        self.ticks = 0
        self.stalled = False
        """Its event loop is held (SimCluster.stall): what reaches it waits in ``held``."""
        self.missed_ticks = 0
        self.held: list[Callable[[], None]] = []
        self.write_waiters: dict[tuple[bytes, int], SimClient] = {}
        self.read_waiters: dict[bytes, tuple[SimClient, ReadRecord]] = {}

    def member_of(self, cs: ConfState) -> bool:
        return self.id in cs.voters or self.id in cs.learners or self.id in cs.voters_outgoing

    def describe(self) -> str:
        return (
            f"n{self.id}{'(removed)' if self.removed else '' if self.up else '(down)'} {self.role.value[:4]} t{self.term} "
            f"c{self.commit} a{self.sm.applied} last{self.log.live.last_index()} "
            f"durable{self.log.durable.last_index()} lead{self.leader}"
        )
