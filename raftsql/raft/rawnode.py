"""RawNode: the synchronous public API around the Raft state machine (etcd ``rawnode.go``).

The runtime feeds inputs (tick, step, propose, read_index, ...), asks for a ``Ready``, handles it
(persist, send, apply; see docs/raft-api.md) and calls ``advance``. One Ready at a time: ``ready``
may not be called again before ``advance``.

Durability rule (etcd msgsAfterAppend): messages that vouch for state not yet durable travel in
``Ready.persisted_messages``; the node's own acknowledgements of its appends and votes are
stepped on ``advance``, so a leader counts its own copy of an entry toward commit only after the
runtime has persisted it, and a candidate counts its own vote only once that vote is durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .confchange import encode_conf_change
from .config import Config
from .core import READ_QUORUM, Raft
from .errors import ProposalDroppedError
from .progress import ProgressState
from .storage import LogReader, RaftError
from .types import (
    LOCAL_MESSAGES,
    RESPONSE_MESSAGES,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    NodeId,
    Ready,
    Role,
    SoftState,
)

__all__ = ["ProgressStatus", "ProposalDroppedError", "RawNode", "Status"]


@dataclass(slots=True, frozen=True)
class ProgressStatus:
    """A copy of the leader's view of one member."""

    match: int
    next: int
    state: ProgressState
    recent_active: bool
    is_learner: bool
    paused: bool
    inflight: int


@dataclass(slots=True, frozen=True)
class Status:
    id: NodeId
    term: int
    vote: NodeId
    commit: int
    applied: int
    leader_id: NodeId
    role: Role
    conf_state: ConfState
    progress: dict[NodeId, ProgressStatus] = field(default_factory=dict)
    """Leader only; empty otherwise."""
    lease_remaining_ticks: int = 0
    """Leader with LEASE_BASED reads only: ticks its lease has left (0 = no valid lease)."""
    lead_transferee: NodeId = 0


class RawNode:
    def __init__(self, config: Config, storage: LogReader) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft: SoftState = self.raft.soft_state()
        self._prev_hard: HardState = self.raft.hard_state()
        self._steps_on_advance: list[Message] = []
        self._outstanding = False

    # ------------------------------------------------------------------ inputs
    def tick(self, count: int = 1) -> None:
        """``count`` ticks at once (``Raft.tick``)."""
        self.raft.tick(count)

    def campaign(self) -> None:
        self.raft.step(Message(MessageType.HUP, frm=self.raft.id))

    def propose(self, data: bytes, client_id: bytes = b"", seq: int = 0) -> None:
        """Propose a command; raises ProposalDroppedError if it cannot be accepted now."""
        self.propose_many([(data, client_id, seq)])

    def propose_many(self, commands: Sequence[tuple[bytes, bytes, int]]) -> None:
        """Propose several commands (data, client_id, seq) as ONE proposal message: appended
        together and sent to each follower in one append (etcd batches a MsgProp's entries
        the same way). All are accepted or, with ProposalDroppedError, none."""
        ents = tuple(Entry(term=0, index=0, data=d, client_id=c, seq=q) for d, c, q in commands)
        self.raft.step(Message(MessageType.PROP, frm=self.raft.id, entries=ents))

    def propose_conf_change(self, cc: ConfChange) -> None:
        e = Entry(term=0, index=0, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc))
        self.raft.step(Message(MessageType.PROP, frm=self.raft.id, entries=(e,)))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Make ``cc`` take effect; call when its CONF_CHANGE entry is applied (etcd semantics)."""
        return self.raft.apply_conf_change(cc)

    def step(self, msg: Message) -> None:
        """Handle a network message. Local-only types and responses from strangers are ignored,
        and so are proposals the leader refuses (the forwarding follower's client retries)."""
        if msg.type in LOCAL_MESSAGES:
            return
        if msg.type in RESPONSE_MESSAGES and msg.frm not in self.raft.trk.progress:
            return
        try:
            self.raft.step(msg)
        except ProposalDroppedError:
            pass

    def read_index(self, ctx: bytes, use_lease: bool = True) -> None:
        """Ask for a read index; answered by a ReadState carrying ``ctx`` in a later Ready.

        With ``use_lease=False`` the leader confirms with a quorum round even while its lease
        holds (a ``linearizable`` read that makes no clock assumption). Silently dropped when
        no leader is known (as in etcd): the runtime times the read out.
        """
        self.raft.step(
            Message(
                MessageType.READ_INDEX,
                entries=(Entry(term=0, index=0, data=ctx),),
                context=b"" if use_lease else READ_QUORUM,
            )
        )

    def transfer_leader(self, transferee: NodeId) -> None:
        self.raft.step(Message(MessageType.TRANSFER_LEADER, frm=transferee))

    def report_unreachable(self, node_id: NodeId) -> None:
        self.raft.step(Message(MessageType.UNREACHABLE, frm=node_id))

    def report_snapshot(self, node_id: NodeId, failed: bool) -> None:
        self.raft.step(Message(MessageType.SNAP_STATUS, frm=node_id, reject=failed))

    # ------------------------------------------------------------------ outputs
    def has_ready(self) -> bool:
        """Called at least twice per loop run: compares fields rather than building the soft
        and hard state values (the cheap checks first)."""
        r = self.raft
        r.flush_commit()
        if r.msgs or r.msgs_after_append or r.read_states:
            return True
        log = r.raft_log
        unstable = log.unstable
        if unstable.next_snapshot() is not None or unstable.next_entries():
            return True
        if log.has_next_committed_ents():
            return True
        soft, hard = self._prev_soft, self._prev_hard
        return (
            r.lead != soft.leader_id
            or r.reported_role() is not soft.role
            or r.term != hard.term
            or r.vote != hard.vote
            or log.committed != hard.commit
        )

    def ready(self) -> Ready:
        assert not self._outstanding, "advance() the previous Ready before asking for another"
        r = self.raft
        r.flush_commit()
        rd = Ready(
            entries=list(r.raft_log.unstable.next_entries()),
            committed_entries=r.raft_log.next_committed_ents(),
            messages=r.msgs,
        )
        # the states are compared field by field and built only when they changed (as in
        # has_ready): most Readies change neither, or only the commit index
        prev_soft, prev_hard = self._prev_soft, self._prev_hard
        if r.lead != prev_soft.leader_id or r.reported_role() is not prev_soft.role:
            rd.soft_state = self._prev_soft = r.soft_state()
        hard = prev_hard
        if (r.term != prev_hard.term or r.vote != prev_hard.vote
                or r.raft_log.committed != prev_hard.commit):
            hard = rd.hard_state = r.hard_state()
        snap = r.raft_log.unstable.next_snapshot()
        if snap is not None:
            rd.snapshot = snap
        if r.read_states:
            rd.read_states = r.read_states
            r.read_states = []
        rd.must_sync = bool(rd.entries) or (
            hard.term != prev_hard.term or hard.vote != prev_hard.vote
        ) or not rd.snapshot.empty
        self._prev_hard = hard
        rd.persisted_messages = [m for m in r.msgs_after_append if m.to != r.id]
        self._steps_on_advance = [m for m in r.msgs_after_append if m.to == r.id]
        r.msgs = []
        r.msgs_after_append = []
        r.raft_log.unstable.accept_in_progress()
        if rd.committed_entries:
            r.raft_log.accept_applying(rd.committed_entries[-1].index)
        self._outstanding = True
        return rd

    def advance(self, rd: Ready) -> None:
        """The runtime has persisted, sent and applied ``rd``."""
        assert self._outstanding, "advance() without an outstanding Ready"
        self._outstanding = False
        r = self.raft
        if not rd.snapshot.empty:
            r.raft_log.stable_snap_to(rd.snapshot.metadata.index)
            r.raft_log.applied_to(rd.snapshot.metadata.index)
        if rd.entries:
            last = rd.entries[-1]
            r.raft_log.stable_to(last.index, last.term)
        if rd.committed_entries:
            r.reduce_uncommitted_size(rd.committed_entries)
            r.applied_to(rd.committed_entries[-1].index)
        steps, self._steps_on_advance = self._steps_on_advance, []
        for m in steps:
            try:
                r.step(m)
            except RaftError:
                pass

    # ------------------------------------------------------------------ observation
    def status(self) -> Status:
        r = self.raft
        prs: dict[NodeId, ProgressStatus] = {}
        if r.role is Role.LEADER:
            for nid, pr in r.trk.visit():
                prs[nid] = ProgressStatus(
                    pr.match,
                    pr.next,
                    pr.state,
                    pr.recent_active,
                    pr.is_learner,
                    pr.is_paused(),
                    pr.inflights.count,
                )
        return Status(
            id=r.id,
            term=r.term,
            vote=r.vote,
            commit=r.raft_log.committed,
            applied=r.raft_log.applied,
            leader_id=r.lead,
            role=r.reported_role(),
            conf_state=r.trk.conf_state(),
            progress=prs,
            lease_remaining_ticks=r.lease_remaining(),
            lead_transferee=r.lead_transferee,
        )
