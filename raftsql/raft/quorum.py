"""Majority and joint-majority maths, in one place (etcd ``quorum/``).

Every "a quorum agreed" decision of the core is written here once: the commit index (paper 5.3),
elections (5.2), ReadIndex confirmation and lease renewal (thesis 6.4) all call
``committed_index`` or ``vote_result``. A joint configuration (thesis 4.3) needs both halves.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from .types import NodeId

INFINITE_INDEX = (1 << 63) - 1
"""What an empty majority 'agrees' on, so that min() over a joint config ignores that half."""


class VoteResult(enum.Enum):
    PENDING = "pending"
    LOST = "lost"
    WON = "won"


@dataclass(slots=True, frozen=True)
class JointConfig:
    """Voters of a configuration: ``outgoing`` is non-empty only while joint (C_old,new)."""

    incoming: frozenset[NodeId] = frozenset()
    outgoing: frozenset[NodeId] = frozenset()

    @property
    def joint(self) -> bool:
        return bool(self.outgoing)

    def ids(self) -> frozenset[NodeId]:
        return self.incoming | self.outgoing


def majority_committed_index(voters: frozenset[NodeId], acked: Mapping[NodeId, int]) -> int:
    """The largest index acknowledged by a majority of ``voters`` (missing acks count as 0)."""
    if not voters:
        return INFINITE_INDEX
    srt = sorted((acked.get(v, 0) for v in voters), reverse=True)
    return srt[len(srt) // 2]


def majority_vote_result(voters: frozenset[NodeId], votes: Mapping[NodeId, bool]) -> VoteResult:
    if not voters:
        return VoteResult.WON
    yes = sum(1 for v in voters if votes.get(v) is True)
    missing = sum(1 for v in voters if v not in votes)
    q = len(voters) // 2 + 1
    if yes >= q:
        return VoteResult.WON
    if yes + missing >= q:
        return VoteResult.PENDING
    return VoteResult.LOST


def committed_index(voters: JointConfig, acked: Mapping[NodeId, int]) -> int:
    """The largest index a quorum of ``voters`` has acked; joint configs need both majorities."""
    return min(
        majority_committed_index(voters.incoming, acked),
        majority_committed_index(voters.outgoing, acked),
    )


def vote_result(voters: JointConfig, votes: Mapping[NodeId, bool]) -> VoteResult:
    """WON only if both halves won; LOST if either lost; otherwise PENDING."""
    a = majority_vote_result(voters.incoming, votes)
    b = majority_vote_result(voters.outgoing, votes)
    if a is b:
        return a
    if VoteResult.LOST in (a, b):
        return VoteResult.LOST
    return VoteResult.PENDING
