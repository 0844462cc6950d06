"""The leader's view of one follower: Progress with its probe/replicate/snapshot state machine.

All state transitions live in this file, declared in ``TRANSITIONS`` (STYLE.md rule 6; etcd's
``tracker/progress.go`` regrets scattering them through raft.go). An invalid transition raises.
The states follow etcd's ``design.md``:

- PROBE: the leader does not know where the follower's log matches; it sends at most one
  append per heartbeat interval and backs off on rejection.
- REPLICATE: the follower is known to match up to ``match``; appends are pipelined optimistically
  up to the Inflights window.
- SNAPSHOT: the follower needs entries the leader has compacted; one snapshot is in flight and
  nothing else is sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


TRANSITIONS: frozenset[tuple[ProgressState, ProgressState]] = frozenset(
    {
        (ProgressState.PROBE, ProgressState.REPLICATE),  # an append was acked
        (ProgressState.PROBE, ProgressState.SNAPSHOT),  # the needed entries are compacted
        (ProgressState.REPLICATE, ProgressState.PROBE),  # rejected, or reported unreachable
        (ProgressState.REPLICATE, ProgressState.SNAPSHOT),  # fell behind the compaction point
        (ProgressState.SNAPSHOT, ProgressState.PROBE),  # snapshot applied, failed or timed out
    }
)


class InvalidTransitionError(AssertionError):
    """A Progress was asked to make a transition that TRANSITIONS does not allow."""


class Inflights:
    """A bounded ring of the last index of each in-flight append, with an optional byte budget.

    The leader stops sending to a follower in REPLICATE while the ring is full (flow control,
    etcd ``tracker/inflights.go``); acks free every message up to the acked index.
    """

    __slots__ = ("size", "max_bytes", "_buf", "_start", "count", "bytes")

    def __init__(self, size: int, max_bytes: int = 0) -> None:
        assert size > 0
        self.size = size
        self.max_bytes = max_bytes
        self._buf: list[tuple[int, int]] = [(0, 0)] * size
        self._start = 0
        self.count = 0
        self.bytes = 0

    def add(self, index: int, nbytes: int = 0) -> None:
        if self.full():
            raise AssertionError("Inflights.add on a full window")
        if self.count:
            last = self._buf[(self._start + self.count - 1) % self.size][0]
            assert index > last, f"inflight {index} not above {last}"
        self._buf[(self._start + self.count) % self.size] = (index, nbytes)
        self.count += 1
        self.bytes += nbytes

    def free_le(self, to: int) -> None:
        """Free every in-flight message whose last index is <= ``to``."""
        while self.count and self._buf[self._start][0] <= to:
            self.bytes -= self._buf[self._start][1]
            self._start = (self._start + 1) % self.size
            self.count -= 1
        if self.count == 0:
            self._start = 0

    def full(self) -> bool:
        return self.count == self.size or (0 < self.max_bytes <= self.bytes)

    def reset(self) -> None:
        self._start = 0
        self.count = 0
        self.bytes = 0

    def indexes(self) -> list[int]:
        return [self._buf[(self._start + i) % self.size][0] for i in range(self.count)]


@dataclass(slots=True)
class Progress:
    match: int = 0
    """Highest index known replicated on the follower. Invariant: match < next."""
    next: int = 1
    """Next index to send. Invariant: match < next."""
    state: ProgressState = ProgressState.PROBE
    pending_snapshot: int = 0
    """Index of the snapshot in flight (SNAPSHOT state only, else 0)."""
    recent_active: bool = False
    """Heard from within the current election timeout (CheckQuorum, thesis 6.2)."""
    msg_app_flow_paused: bool = False
    """PROBE: one append is outstanding. REPLICATE: the Inflights window is full."""
    inflights: Inflights = field(default_factory=lambda: Inflights(256))
    is_learner: bool = False
    snapshot_age: int = 0
    """Election timeouts spent in SNAPSHOT; after two the snapshot is presumed lost."""

    def check(self) -> None:
        assert 0 <= self.match < self.next, (self.match, self.next)
        assert (self.pending_snapshot != 0) <= (self.state is ProgressState.SNAPSHOT)

    def _transition(self, to: ProgressState) -> None:
        if (self.state, to) not in TRANSITIONS:
            raise InvalidTransitionError(f"progress {self.state.value} -> {to.value}")
        self.state = to
        self.msg_app_flow_paused = False
        self.pending_snapshot = 0
        self.snapshot_age = 0
        self.inflights.reset()

    def become_probe(self) -> None:
        """Back off: resend from just after ``match`` (or after the snapshot just sent)."""
        if self.state is ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._transition(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._transition(ProgressState.PROBE)
            self.next = self.match + 1
        self.check()

    def become_replicate(self) -> None:
        self._transition(ProgressState.REPLICATE)
        self.next = self.match + 1
        self.check()

    def become_snapshot(self, snapshot_index: int) -> None:
        self._transition(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index
        self.next = max(snapshot_index + 1, self.match + 1)
        self.check()

    def reset_to_probe(self, next_index: int, match: int = 0) -> None:
        """A new leader's fresh view (etcd raft.reset): not a transition of the old state."""
        self.state = ProgressState.PROBE
        self.match = match
        self.next = next_index
        self.pending_snapshot = 0
        self.snapshot_age = 0
        self.msg_app_flow_paused = False
        self.recent_active = False
        self.inflights.reset()
        self.check()

    # --- events ----------------------------------------------------------------------------
    def maybe_update(self, n: int) -> bool:
        """An append up to ``n`` was acked; True if ``match`` moved."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.msg_app_flow_paused = False
        self.next = max(self.next, n + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """An append at ``rejected`` was refused; move ``next`` back. False if the reject is stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.msg_app_flow_paused = False
        self.check()
        return True

    def sent_entries(self, n_entries: int, nbytes: int) -> None:
        """Record an append of ``n_entries`` starting at ``next``."""
        match self.state:
            case ProgressState.REPLICATE:
                if n_entries > 0:
                    self.next += n_entries
                    self.inflights.add(self.next - 1, nbytes)
                self.msg_app_flow_paused = self.inflights.full()
            case ProgressState.PROBE:
                if n_entries > 0:
                    self.msg_app_flow_paused = True
            case ProgressState.SNAPSHOT:
                raise InvalidTransitionError("append sent while in SNAPSHOT state")

    def is_paused(self) -> bool:
        match self.state:
            case ProgressState.PROBE | ProgressState.REPLICATE:
                return self.msg_app_flow_paused
            case ProgressState.SNAPSHOT:
                return True
        raise AssertionError(self.state)

    def describe(self) -> str:
        s = f"{self.state.value} match={self.match} next={self.next}"
        if self.is_learner:
            s += " learner"
        if self.is_paused():
            s += " paused"
        if self.pending_snapshot:
            s += f" pendingSnap={self.pending_snapshot}"
        if not self.recent_active:
            s += " inactive"
        if self.inflights.count:
            s += f" inflight={self.inflights.count}"
            if self.inflights.full():
                s += "[full]"
        return s
