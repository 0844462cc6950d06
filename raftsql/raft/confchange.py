"""Membership changes: apply a ConfChange to a configuration (etcd ``confchange/``).

- one change of a voter is applied directly (Raft thesis 4.1, one server at a time);
- several changes enter a joint configuration C_old,new (thesis 4.3) with auto_leave set, and an
  empty ConfChange leaves it again;
- learners receive the log but never vote; demoting a voter of the outgoing half to learner waits
  in ``learners_next`` until the joint config is left.

Also the entry payload codec for CONF_CHANGE entries (stdlib json: the core stays stdlib only).
"""

from __future__ import annotations

import json

from .progress import Inflights, Progress
from .quorum import JointConfig
from .tracker import TrackerConfig
from .types import ConfChange, ConfChangeSingle, ConfChangeType, ConfState, NodeId


class ConfChangeError(ValueError):
    """The change cannot be applied to the current configuration."""


def encode_conf_change(cc: ConfChange) -> bytes:
    """The ``data`` of a CONF_CHANGE entry."""
    doc = {
        "v": 1,
        "changes": [[int(c.type), c.node_id] for c in cc.changes],
        "context": cc.context.hex(),
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def decode_conf_change(data: bytes) -> ConfChange:
    doc = json.loads(data)
    if doc.get("v") != 1:
        raise ConfChangeError(f"unknown conf change version {doc.get('v')!r}")
    changes = tuple(ConfChangeSingle(ConfChangeType(t), int(n)) for t, n in doc["changes"])
    return ConfChange(changes=changes, context=bytes.fromhex(doc["context"]))


def leaves_joint(cc: ConfChange) -> bool:
    return not cc.changes


def enters_joint(cc: ConfChange) -> bool:
    return len(cc.changes) > 1


class Changer:
    """Computes the configuration and progress map that result from a change, without mutating.

    ``last_index`` is the leader's last index: a new member's Progress starts probing there.
    """

    def __init__(
        self,
        config: TrackerConfig,
        progress: dict[NodeId, Progress],
        last_index: int,
        max_inflight: int,
    ) -> None:
        self.config = config
        self.progress = progress
        self.last_index = last_index
        self.max_inflight = max_inflight

    def apply(self, cc: ConfChange) -> tuple[TrackerConfig, dict[NodeId, Progress]]:
        if leaves_joint(cc):
            return self.leave_joint()
        if enters_joint(cc):
            return self.enter_joint(True, cc.changes)
        return self.simple(cc.changes)

    def simple(
        self, changes: tuple[ConfChangeSingle, ...]
    ) -> tuple[TrackerConfig, dict[NodeId, Progress]]:
        if self.config.voters.joint:
            raise ConfChangeError("can't apply a simple change in a joint config")
        cfg, prs = self._apply(self.config, changes)
        diff = len(self.config.voters.incoming ^ cfg.voters.incoming)
        if diff > 1:
            raise ConfChangeError("more than one voter changed without entering joint config")
        return cfg, prs

    def enter_joint(
        self, auto_leave: bool, changes: tuple[ConfChangeSingle, ...]
    ) -> tuple[TrackerConfig, dict[NodeId, Progress]]:
        if self.config.voters.joint:
            raise ConfChangeError("config is already joint")
        if not self.config.voters.incoming:
            raise ConfChangeError("can't make a zero-voter config joint")
        start = TrackerConfig(
            voters=JointConfig(self.config.voters.incoming, self.config.voters.incoming),
            learners=self.config.learners,
            learners_next=self.config.learners_next,
            auto_leave=auto_leave,
        )
        return self._apply(start, changes)

    def leave_joint(self) -> tuple[TrackerConfig, dict[NodeId, Progress]]:
        if not self.config.voters.joint:
            raise ConfChangeError("can't leave a non-joint config")
        prs = dict(self.progress)
        learners = set(self.config.learners)
        for nid in self.config.learners_next:
            learners.add(nid)
            prs[nid] = _copy(prs[nid], is_learner=True)
        incoming = self.config.voters.incoming
        for nid in self.config.voters.outgoing:
            if nid not in incoming and nid not in learners:
                prs.pop(nid, None)
        cfg = TrackerConfig(voters=JointConfig(incoming), learners=frozenset(learners))
        cfg.check()
        return cfg, prs

    # --- the per-change rules ---------------------------------------------------------------
    def _apply(
        self, cfg: TrackerConfig, changes: tuple[ConfChangeSingle, ...]
    ) -> tuple[TrackerConfig, dict[NodeId, Progress]]:
        prs = dict(self.progress)
        incoming = set(cfg.voters.incoming)
        outgoing = cfg.voters.outgoing
        learners = set(cfg.learners)
        learners_next = set(cfg.learners_next)
        for c in changes:
            nid = c.node_id
            if nid == 0:
                continue  # etcd: a zero id is a no-op, used to leave a change empty
            match c.type:
                case ConfChangeType.ADD_VOTER:
                    learners.discard(nid)
                    learners_next.discard(nid)
                    incoming.add(nid)
                    if nid not in prs:
                        prs[nid] = self._new_progress(False)
                    else:
                        prs[nid] = _copy(prs[nid], is_learner=False)
                case ConfChangeType.ADD_LEARNER:
                    if nid in learners:
                        continue
                    if nid not in prs:
                        prs[nid] = self._new_progress(True)
                    incoming.discard(nid)
                    learners_next.discard(nid)
                    if nid in outgoing:
                        # Still a voter of C_old: it becomes a learner only on leaving joint.
                        learners_next.add(nid)
                        prs[nid] = _copy(prs[nid], is_learner=False)
                    else:
                        learners.add(nid)
                        prs[nid] = _copy(prs[nid], is_learner=True)
                case ConfChangeType.REMOVE_NODE:
                    incoming.discard(nid)
                    learners.discard(nid)
                    learners_next.discard(nid)
                    if nid not in outgoing:
                        prs.pop(nid, None)
        new = TrackerConfig(
            voters=JointConfig(frozenset(incoming), outgoing),
            learners=frozenset(learners),
            learners_next=frozenset(learners_next),
            auto_leave=cfg.auto_leave,
        )
        new.check()
        if not new.voters.incoming and not new.voters.outgoing:
            raise ConfChangeError("removed all voters")
        if new.voters.joint and not new.voters.incoming:
            raise ConfChangeError("removed all voters of the incoming config")
        return new, prs

    def _new_progress(self, is_learner: bool) -> Progress:
        # A new member is presumed active, so CheckQuorum does not depose the leader at once.
        return Progress(
            match=0,
            next=max(self.last_index, 1),
            inflights=Inflights(self.max_inflight),
            is_learner=is_learner,
            recent_active=True,
        )


def _copy(pr: Progress, *, is_learner: bool) -> Progress:
    """Progress objects are shared with the old map; change the flag on a copy."""
    if pr.is_learner == is_learner:
        return pr
    return Progress(
        match=pr.match,
        next=pr.next,
        state=pr.state,
        pending_snapshot=pr.pending_snapshot,
        recent_active=pr.recent_active,
        msg_app_flow_paused=pr.msg_app_flow_paused,
        inflights=pr.inflights,
        is_learner=is_learner,
        snapshot_age=pr.snapshot_age,
    )


def restore(cs: ConfState, last_index: int, max_inflight: int) -> tuple[TrackerConfig, dict[NodeId, Progress]]:
    """Build the configuration described by ``cs`` from scratch (restart or snapshot restore).

    Like etcd's confchange.Restore: replay the outgoing half as simple additions, then enter
    the joint config with the incoming half, so the same rules (and checks) apply.
    """
    ch = Changer(TrackerConfig(), {}, last_index, max_inflight)
    outgoing = [ConfChangeSingle(ConfChangeType.ADD_VOTER, n) for n in cs.voters_outgoing]
    incoming = [ConfChangeSingle(ConfChangeType.ADD_VOTER, n) for n in cs.voters]
    incoming += [ConfChangeSingle(ConfChangeType.ADD_LEARNER, n) for n in cs.learners]
    incoming += [ConfChangeSingle(ConfChangeType.ADD_LEARNER, n) for n in cs.learners_next]
    if not outgoing:
        if not incoming:
            return TrackerConfig(), {}
        cfg, prs = ch._apply(TrackerConfig(), tuple(incoming))
        return cfg, prs
    cfg, prs = ch._apply(TrackerConfig(), tuple(outgoing))
    ch2 = Changer(cfg, prs, last_index, max_inflight)
    # Enter joint: the outgoing half is the config just built; start the incoming half empty.
    start = TrackerConfig(
        voters=JointConfig(frozenset(), cfg.voters.incoming),
        learners=cfg.learners,
        auto_leave=cs.auto_leave,
    )
    return ch2._apply(start, tuple(incoming))
