"""ProgressTracker: the configuration, every member's Progress and the votes of an election.

As in etcd ``tracker/tracker.go``; the majority maths is delegated to ``quorum``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from . import quorum
from .progress import Progress
from .types import ConfState, NodeId


@dataclass(slots=True, frozen=True)
class TrackerConfig:
    """A membership configuration (etcd tracker.Config). Learners and voters never overlap."""

    voters: quorum.JointConfig = field(default_factory=quorum.JointConfig)
    learners: frozenset[NodeId] = frozenset()
    learners_next: frozenset[NodeId] = frozenset()
    """Voters of the outgoing config that become learners when the joint config is left."""
    auto_leave: bool = False

    def check(self) -> None:
        assert not (self.learners & self.voters.ids()), "a learner is also a voter"
        assert not (self.learners_next & self.voters.incoming), "learner_next in incoming"
        assert self.learners_next <= self.voters.outgoing, "learner_next not outgoing"
        assert not self.auto_leave or self.voters.joint, "auto_leave outside joint config"

    def conf_state(self) -> ConfState:
        return ConfState(
            voters=tuple(sorted(self.voters.incoming)),
            learners=tuple(sorted(self.learners)),
            voters_outgoing=tuple(sorted(self.voters.outgoing)),
            learners_next=tuple(sorted(self.learners_next)),
            auto_leave=self.auto_leave,
        )


class ProgressTracker:
    def __init__(self, max_inflight: int) -> None:
        self.config = TrackerConfig()
        self.progress: dict[NodeId, Progress] = {}
        self.votes: dict[NodeId, bool] = {}
        self.max_inflight = max_inflight

    def conf_state(self) -> ConfState:
        return self.config.conf_state()

    def is_singleton(self) -> bool:
        """Only one voter and not joint: the leader alone is a quorum."""
        return len(self.config.voters.incoming) == 1 and not self.config.voters.joint

    def visit(self) -> Iterator[tuple[NodeId, Progress]]:
        """Members in id order, so that message order is deterministic."""
        for nid in sorted(self.progress):
            yield nid, self.progress[nid]

    def committed(self) -> int:
        """Largest index replicated on a quorum of voters (paper 5.3). 0 with no voters."""
        voters = self.config.voters
        if not voters.outgoing:  # not joint: the median of the voters' matches, inline
            if not voters.incoming:
                return 0
            prs = self.progress
            matched = sorted([prs[v].match if v in prs and not prs[v].is_learner else 0
                              for v in voters.incoming], reverse=True)
            return matched[len(matched) // 2]
        acked = {nid: pr.match for nid, pr in self.progress.items() if not pr.is_learner}
        return quorum.committed_index(voters, acked)

    def quorum_active(self) -> bool:
        """Did a quorum of voters talk to us during the last election timeout (thesis 6.2)?"""
        votes = {nid: pr.recent_active for nid, pr in self.progress.items() if not pr.is_learner}
        return quorum.vote_result(self.config.voters, votes) is quorum.VoteResult.WON

    def voter_ids(self) -> list[NodeId]:
        return sorted(self.config.voters.ids())

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, nid: NodeId, granted: bool) -> None:
        self.votes.setdefault(nid, granted)

    def tally_votes(self) -> tuple[int, int, quorum.VoteResult]:
        granted = rejected = 0
        for nid, pr in self.progress.items():
            if pr.is_learner or nid not in self.votes:
                continue
            if self.votes[nid]:
                granted += 1
            else:
                rejected += 1
        return granted, rejected, quorum.vote_result(self.config.voters, self.votes)
