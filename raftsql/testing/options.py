"""Swarm options: everything about a run, drawn from its seed and printed first.

TigerBeetle's ``options_swarm`` (``src/vopr.zig``) draws cluster size, client count and every
fault probability from the seed, so each seed explores a different corner (swarm testing,
Groce et al. 2012). ``describe()`` is the one line the runner prints before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftsql.raft.config import ReadOnlyOption
from raftsql.testing.network import NetworkOptions
from raftsql.testing.rand import derive_rng

TICK_US = 10_000
"""One Raft tick is 10 ms of virtual time."""


def max_safe_drift(election_tick: int, margin_ticks: int) -> float:
    """The largest clock-rate error for which a lease of ``election_tick - margin`` leader ticks
    ends before any follower's shortest election timeout (``election_tick`` of its ticks):
    (E - m) / (1 - r) <= E / (1 + r)  <=>  r <= m / (2E - m)   (Raft thesis 6.4.1)."""
    return margin_ticks / (2 * election_tick - margin_ticks)


@dataclass
class FaultOptions:
    partitions: bool = False
    crashes: bool = False
    torn_writes: bool = False
    membership: bool = False
    transfers: bool = False
    compaction: bool = False
    leader_churn: bool = False
    stalls: bool = False
    """A node's event loop is held for a while (a slow fsync, a long statement): its ticks,
    messages and client requests wait, then its ticks go in as one burst."""
    mean_gap_ticks: int = 40
    """Mean virtual time between two nemesis actions."""

    def names(self) -> list[str]:
        return [
            n
            for n in (
                "partitions",
                "crashes",
                "torn_writes",
                "membership",
                "transfers",
                "compaction",
                "leader_churn",
                "stalls",
            )
            if getattr(self, n)
        ] or ["none"]


@dataclass
class SimOptions:
    seed: int
    nodes: int = 3
    spares: int = 0
    clients: int = 2
    keys: int = 3
    read_only: ReadOnlyOption = ReadOnlyOption.SAFE
    pre_vote: bool = True
    check_quorum: bool = True
    election_tick: int = 10
    heartbeat_tick: int = 1
    lease_margin_ticks: int = 2
    max_drift: float = 0.0
    max_size_per_msg: int = 1 << 20
    max_inflight_msgs: int = 256
    lazy_commit: bool = False
    compact_every: int = 0
    network: NetworkOptions = field(default_factory=NetworkOptions)
    bad_links: list[tuple[int, int, NetworkOptions]] = field(default_factory=list)
    """Directed links with their own, worse, options."""
    faults: FaultOptions = field(default_factory=FaultOptions)
    safety_ticks: int = 300
    liveness_ticks: int = 400

    @property
    def lease(self) -> bool:
        return self.read_only is ReadOnlyOption.LEASE_BASED

    def describe(self) -> str:
        return (
            f"SEED={self.seed} nodes={self.nodes} spares={self.spares} clients={self.clients} "
            f"faults={','.join(self.faults.names())} gap={self.faults.mean_gap_ticks} "
            f"read={'lease' if self.lease else 'safe'} prevote={int(self.pre_vote)} "
            f"checkquorum={int(self.check_quorum)} drift={self.max_drift:.3f} "
            f"msgsize={self.max_size_per_msg} inflight={self.max_inflight_msgs} "
            f"lazycommit={int(self.lazy_commit)} "
            f"compact={self.compact_every} net=[{self.network.describe()}] "
            + "".join(f"link{a}>{b}=[{n.describe()}] " for a, b, n in self.bad_links)
            + f"ticks={self.safety_ticks}+{self.liveness_ticks}"
        )


def swarm(seed: int, safety_ticks: int = 300) -> SimOptions:
    """Draw a run's options from its seed."""
    rng = derive_rng(seed, "options")
    nodes = rng.choices([3, 5, 7], weights=[6, 3, 1])[0]
    o = SimOptions(seed=seed, nodes=nodes, safety_ticks=safety_ticks)
    o.spares = rng.choice([0, 0, 1, 2])
    o.clients = rng.randint(1, 4)
    o.keys = rng.randint(1, 4)
    o.read_only = rng.choice([ReadOnlyOption.SAFE, ReadOnlyOption.LEASE_BASED])
    o.pre_vote = rng.random() < 0.8
    o.check_quorum = o.lease or rng.random() < 0.7
    bound = max_safe_drift(o.election_tick, o.lease_margin_ticks)
    o.max_drift = rng.choice([0.0, bound * 0.5, bound * 0.9])
    if rng.random() < 0.4:
        o.max_size_per_msg = 1  # one entry per APP message: old-term entries commit alone
        o.max_inflight_msgs = rng.choice([1, 4, 256])
    o.compact_every = rng.choice([0, 3, 10, 30])
    # its own stream, so the draws above and below stay those of the seeds pinned before it
    o.lazy_commit = derive_rng(seed, "lazy_commit").random() < 0.5
    quiet = rng.random() < 0.15
    o.network = NetworkOptions(
        loss=0.0 if quiet else rng.choice([0.0, 0.01, 0.05, 0.15]),
        duplicate=0.0 if quiet else rng.choice([0.0, 0.02, 0.1]),
        reorder=not quiet and rng.random() < 0.5,
        delay_min_us=rng.choice([50, 500]),
        delay_max_us=rng.choice([1_000, 5_000, 20_000]),
    )
    f = FaultOptions()
    if not quiet:
        f.partitions = rng.random() < 0.6
        f.crashes = rng.random() < 0.6
        f.torn_writes = f.crashes and rng.random() < 0.5
        f.membership = o.spares > 0 and rng.random() < 0.7 or rng.random() < 0.2
        f.transfers = rng.random() < 0.4
        f.leader_churn = rng.random() < 0.4
        f.mean_gap_ticks = rng.choice([10, 30, 60])
    f.compaction = o.compact_every > 0
    # its own stream, so that the seeds' other draws stay what they were
    f.stalls = not quiet and derive_rng(seed, "stalls").random() < 0.4
    o.faults = f
    if not quiet and rng.random() < 0.3:
        for _ in range(rng.randint(1, 3)):
            a, b = rng.sample(range(1, nodes + 1), 2)
            bad = NetworkOptions(
                loss=rng.choice([0.1, 0.3, 0.6]),
                duplicate=o.network.duplicate,
                reorder=rng.random() < 0.5,
                delay_min_us=o.network.delay_min_us,
                delay_max_us=o.network.delay_max_us * rng.choice([2, 5]),
            )
            o.bad_links.append((a, b, bad))
    return o
