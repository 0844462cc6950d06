"""A simulated network: per-link loss, duplication, delay, reordering and partitions.

Modelled on TigerBeetle's ``packet_simulator.zig``: every message is an event on the virtual
clock, delivered after a drawn delay unless the link drops it. Partitions are sets of blocked
directed links, so symmetric partitions (groups that cannot talk) and asymmetric ones (a hears b
but b does not hear a) are the same mechanism. A link is checked when the message is sent and
again when it arrives, so a partition also cuts messages already in flight.

Raft must stay safe under all of this (paper section 5.1: "messages may be lost, duplicated or
reordered"); only liveness needs the network to heal.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from raftsql.raft.types import Message, NodeId
from raftsql.testing.clock import SimClock


@dataclass
class NetworkOptions:
    """Fault rates of every link. Delays are virtual microseconds."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: bool = False
    delay_min_us: int = 100
    delay_max_us: int = 2_000

    def describe(self) -> str:
        return (
            f"loss={self.loss:.3f} dup={self.duplicate:.3f} reorder={int(self.reorder)} "
            f"delay={self.delay_min_us}-{self.delay_max_us}us"
        )


@dataclass
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0


Deliver = Callable[[Message], None]
OnDrop = Callable[[Message], None]


class SimNetwork:
    """Moves messages between node ids on the virtual clock."""

    def __init__(
        self,
        clock: SimClock,
        rng: random.Random,
        options: NetworkOptions,
        deliver: Deliver,
        on_drop: OnDrop | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.options = options
        self._deliver = deliver
        self._on_drop = on_drop
        self.blocked: set[tuple[NodeId, NodeId]] = set()
        self.links: dict[tuple[NodeId, NodeId], NetworkOptions] = {}
        """Per-link overrides of ``options`` (a slow or lossy path, packet_simulator's
        "path clogging"); links not listed use ``options``."""
        self._last_arrival: dict[tuple[NodeId, NodeId], int] = {}
        self.stats = NetworkStats()

    # -- faults ---------------------------------------------------------------------------
    def partition(self, groups: Iterable[Iterable[NodeId]]) -> None:
        """Symmetric partition: nodes talk only inside their group (replaces earlier blocks)."""
        groups = [set(g) for g in groups]
        self.blocked = set()
        for g in groups:
            for h in groups:
                if g is not h:
                    self.blocked.update((a, b) for a in g for b in h)

    def block(self, frm: NodeId, to: NodeId) -> None:
        """Asymmetric partition: messages from ``frm`` to ``to`` are lost; the reverse flows."""
        self.blocked.add((frm, to))

    def heal(self) -> None:
        self.blocked = set()

    def reachable(self, frm: NodeId, to: NodeId) -> bool:
        return (frm, to) not in self.blocked

    # -- traffic --------------------------------------------------------------------------
    def send(self, msg: Message) -> None:
        self.stats.sent += 1
        opts = self.links.get((msg.frm, msg.to), self.options)
        if not self.reachable(msg.frm, msg.to) or (opts.loss and self.rng.random() < opts.loss):
            self._drop(msg)
            return
        self._schedule(msg)
        if opts.duplicate and self.rng.random() < opts.duplicate:
            self.stats.duplicated += 1
            self._schedule(dataclasses.replace(msg))

    def _schedule(self, msg: Message) -> None:
        opts = self.links.get((msg.frm, msg.to), self.options)
        arrival = self.clock.now + self.rng.randint(opts.delay_min_us, opts.delay_max_us)
        link = (msg.frm, msg.to)
        if not opts.reorder:
            # FIFO link (TCP-like): never overtake the previous message on this link; the
            # clock's sequence number orders equal arrival times.
            arrival = max(arrival, self._last_arrival.get(link, 0))
            self._last_arrival[link] = arrival
        self.clock.at(arrival, lambda: self._arrive(msg))

    def _arrive(self, msg: Message) -> None:
        if not self.reachable(msg.frm, msg.to):
            self._drop(msg)
            return
        self.stats.delivered += 1
        self._deliver(msg)

    def _drop(self, msg: Message) -> None:
        self.stats.dropped += 1
        if self._on_drop is not None:
            self._on_drop(msg)
