"""Raft configuration and its validation.

``Config.validate`` refuses combinations that are unsafe rather than merely unusual, following
etcd-io/raft's ``Config.validate`` and raft-rs's ``Config::validate``: lease reads without
CheckQuorum (a deposed leader could keep serving reads), a lease margin that leaves no lease, and
a heartbeat interval that does not fit inside the election timeout.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .storage import MemoryBuffer, SnapshotBuffer
from .types import NONE, NodeId


class ReadOnlyOption(enum.Enum):
    SAFE = "safe"
    """Every read-index request is confirmed by a quorum heartbeat round (Raft thesis 6.4)."""
    LEASE_BASED = "lease_based"
    """Reads are answered from the leader lease while it is valid (thesis 6.4.1), else SAFE."""


class ConfigError(ValueError):
    """A Config that would make the core unsafe or unable to work."""


@dataclass(slots=True)
class Config:
    """Everything the core needs to know that is not in storage. See docs/raft-api.md."""

    id: NodeId
    election_tick: int = 10
    heartbeat_tick: int = 1
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    applied: int = 0
    max_size_per_msg: int = 1 << 20
    max_inflight_msgs: int = 256
    max_uncommitted_entries_size: int = 0
    max_committed_size_per_ready: int = 1 << 24
    check_quorum: bool = True
    pre_vote: bool = True
    read_only_option: ReadOnlyOption = ReadOnlyOption.SAFE
    lease_drift_margin_ticks: int = 2
    disable_proposal_forwarding: bool = False
    snapshot_chunk_size: int = 1 << 20
    snapshot_buffer: Callable[[], SnapshotBuffer] = MemoryBuffer
    """Makes the buffer a follower reassembles a chunked snapshot in (storage.SnapshotBuffer)."""
    lazy_commit: bool = False
    """The leader does not send a message just to say the commit index advanced: the next
    append or heartbeat carries it, unless a follower waits for it (its forwarded proposal, its
    read index). See Raft.flush_commit."""

    def validate(self) -> None:
        """Raise ConfigError naming the first unsafe or impossible setting."""
        if self.id == NONE:
            raise ConfigError("id must not be 0 (0 means 'none')")
        if self.heartbeat_tick <= 0:
            raise ConfigError("heartbeat_tick must be > 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ConfigError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise ConfigError("max_inflight_msgs must be > 0")
        if self.max_size_per_msg <= 0:
            raise ConfigError("max_size_per_msg must be > 0")
        if self.max_uncommitted_entries_size < 0:
            raise ConfigError("max_uncommitted_entries_size must be >= 0 (0 = unlimited)")
        if self.max_committed_size_per_ready <= 0:
            raise ConfigError("max_committed_size_per_ready must be > 0")
        if self.snapshot_chunk_size <= 0:
            raise ConfigError("snapshot_chunk_size must be > 0")
        if self.applied < 0:
            raise ConfigError("applied must be >= 0")
        if self.read_only_option is ReadOnlyOption.LEASE_BASED:
            if not self.check_quorum:
                raise ConfigError("LEASE_BASED reads require check_quorum")
            if not 0 <= self.lease_drift_margin_ticks < self.election_tick:
                raise ConfigError("lease_drift_margin_ticks must be in [0, election_tick)")
