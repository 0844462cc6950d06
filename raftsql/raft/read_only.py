"""ReadIndex confirmation and leader-lease arithmetic, counted in the leader's own ticks.

Raft thesis 6.4. The leader numbers its heartbeat rounds within a term; every HEARTBEAT and APP
carries the current round in ``context`` and the follower echoes it. A round acknowledged by a
quorum (``quorum.committed_index`` over the highest round each voter acked) proves that the
leader was still the leader when that round started, so:

- ReadIndex (SAFE): a read that arrived before round r started, with read index = the commit
  index at arrival, is released once a quorum acked round >= r;
- lease (LEASE_BASED): followers that acked a message of round r (started at tick t) refuse
  votes until an election timeout after they received it (CheckQuorum), so no other leader can
  exist before t + election_tick; minus ``lease_drift_margin_ticks`` for clock drift, that is the
  lease expiry.

The map of round start ticks is bounded: a round older than the bound simply cannot renew the
lease (the conservative answer) but still confirms reads.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from . import quorum
from .types import NodeId

MAX_TRACKED_ROUNDS = 1024
MAX_PENDING_READS = 10_000
"""Read requests a leader queues (per queue); beyond it new requests are dropped."""


def round_context(rnd: int) -> bytes:
    return rnd.to_bytes(8, "big")


def parse_round(ctx: bytes) -> int | None:
    return int.from_bytes(ctx, "big") if len(ctx) == 8 else None


@dataclass(slots=True, frozen=True)
class ReadRequest:
    ctx: bytes
    frm: NodeId
    """Who asked: NONE or the leader itself for local reads, else the forwarding follower."""
    index: int
    """The commit index when the request arrived: the read index (thesis 6.4 step 1)."""
    round: int
    """The first heartbeat round started after the request arrived."""


class ReadOnly:
    def __init__(self, election_tick: int, lease_margin: int) -> None:
        self.lease_span = election_tick - lease_margin
        """Ticks a quorum ack keeps the lease valid, counted from the round's start tick."""
        self.round = 0
        self.round_ticks: dict[int, int] = {}
        self.acks: dict[NodeId, int] = {}
        self.pending: deque[ReadRequest] = deque()
        self.lease_expiry = 0
        """The lease is valid while the leader's tick count is below this. Invariant: only grows."""
        self.acked_round = 0
        self.lease_revoked = False
        """Set once TIMEOUT_NOW was sent: no lease for the rest of this leader term."""

    def new_round(self, now: int) -> int:
        self.round += 1
        self.round_ticks[self.round] = now
        if len(self.round_ticks) > MAX_TRACKED_ROUNDS:
            del self.round_ticks[min(self.round_ticks)]
        return self.round

    def context(self) -> bytes:
        return round_context(self.round)

    def add_request(self, req: ReadRequest) -> None:
        assert req.round <= self.round
        self.pending.append(req)

    def recv_ack(self, frm: NodeId, ctx: bytes) -> bool:
        """Record that ``frm`` echoed ``ctx``; True if that is news."""
        rnd = parse_round(ctx)
        if rnd is None or rnd > self.round or rnd <= self.acks.get(frm, 0):
            return False
        self.acks[frm] = rnd
        return True

    def advance(self, voters: quorum.JointConfig, self_id: NodeId) -> list[ReadRequest]:
        """Recompute the quorum-acked round; renew the lease; return the reads now confirmed."""
        acks = dict(self.acks)
        acks[self_id] = self.round  # the leader trivially acknowledges its own rounds
        q = quorum.committed_index(voters, acks)
        if q == quorum.INFINITE_INDEX or q <= self.acked_round:
            return []
        self.acked_round = q
        start = self.round_ticks.get(q)
        if start is not None:
            self.lease_expiry = max(self.lease_expiry, start + self.lease_span)
        for r in [r for r in self.round_ticks if r < q]:
            del self.round_ticks[r]
        out: list[ReadRequest] = []
        while self.pending and self.pending[0].round <= q:
            out.append(self.pending.popleft())
        return out

    def revoke_lease(self) -> None:
        self.lease_revoked = True

    def lease_remaining(self, now: int) -> int:
        if self.lease_revoked:
            return 0
        return max(0, self.lease_expiry - now)
