"""The Raft state machine: ``step`` and ``tick`` per role (etcd ``raft.go``).

Pure and synchronous: inputs are ticks and messages (local intents are messages too, STYLE.md),
outputs accumulate in ``msgs`` (send now), ``msgs_after_append`` (send only once the state they
depend on is durable: vote responses, append responses and the node's own append/vote acks),
``read_states`` and the log's unstable part; ``rawnode.RawNode`` packages them into a Ready.

Section references are to the Raft paper ("paper") and Ongaro's thesis ("thesis").
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

from . import confchange, quorum
from .config import Config, ReadOnlyOption
from .errors import ProposalDroppedError
from .log import RaftLog
from .progress import Inflights, Progress, ProgressState
from .read_only import MAX_PENDING_READS, ReadOnly, ReadRequest, round_context
from .storage import (
    CompactedError,
    LogReader,
    SnapshotBuffer,
    SnapshotTemporarilyUnavailableError,
    UnavailableError,
)
from .tracker import ProgressTracker, TrackerConfig
from .types import (
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    NodeId,
    ReadState,
    Role,
    Snapshot,
    SnapshotMetadata,
    SoftState,
)

MT = MessageType
CAMPAIGN_PRE_ELECTION = b"pre-election"
CAMPAIGN_ELECTION = b"election"
CAMPAIGN_TRANSFER = b"transfer"
SNAPSHOT_TIMEOUT_ELECTIONS = 2
READ_QUORUM = b"quorum"
"""READ_INDEX context asking the leader to confirm with a quorum round despite its lease."""
"""Election timeouts a follower may stay in SNAPSHOT before the leader presumes the snapshot lost."""


def vote_resp_type(t: MessageType) -> MessageType:
    match t:
        case MT.VOTE:
            return MT.VOTE_RESP
        case MT.PRE_VOTE:
            return MT.PRE_VOTE_RESP
    raise AssertionError(f"not a vote message: {t}")


@dataclasses.dataclass(slots=True)
class _SnapshotReceiver:
    """A chunked snapshot being reassembled on a follower."""

    frm: NodeId
    term: int
    metadata: SnapshotMetadata
    data: SnapshotBuffer


class Raft:
    def __init__(self, config: Config, storage: LogReader) -> None:
        config.validate()
        self.id = config.id
        self.cfg = config
        self.rng = config.rng
        self.raft_log = RaftLog(storage, config.max_committed_size_per_ready)
        hs, cs = storage.initial_state()
        self.trk = ProgressTracker(config.max_inflight_msgs)
        self.term = 0
        self.vote: NodeId = NONE
        self.lead: NodeId = NONE
        self.role = Role.FOLLOWER
        self.is_learner = False
        self.msgs: list[Message] = []
        self.msgs_after_append: list[Message] = []
        self.read_states: list[ReadState] = []
        self.pending_read_index_messages: list[Message] = []
        self.commit_to_send = False
        """The commit index advanced, or a follower waits for it: tell the followers that need
        it in the next Ready (flush_commit)."""
        self.commit_awaited: dict[NodeId, int] = {}
        """Followers waiting to learn that an index is committed (lazy_commit): a forwarded
        proposal's, or a read index the follower's log did not hold yet. Only they are sent
        the commit index as soon as it reaches that index (flush_commit)."""
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.quorum_check_due = False
        """A leader's election timeout passed inside a burst of ticks: check at its end."""
        self.randomized_election_timeout = config.election_tick
        self.ticks = 0
        """Ticks since this node started: the leader's clock for lease arithmetic."""
        self.lead_transferee: NodeId = NONE
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.commit_seen_in_term = -1
        """A term in which the committed entry was seen to be of that term (see below)."""
        self.read_only = ReadOnly(config.election_tick, config.lease_drift_margin_ticks)
        self.snap_rx: _SnapshotReceiver | None = None
        # A restarted node may have acked a leader's heartbeat just before it crashed: it must
        # not help elect a new leader while that leader's lease may still be running (thesis
        # 6.4.1). A fresh node (term 0) cannot have acked anything.
        self.vote_guard_until = config.election_tick if (config.check_quorum and hs.term) else 0
        self.leader_contact_tick: int | None = None
        """``ticks`` when a leader last reached us (survives term changes, unlike ``lead``)."""
        cfg, prs = confchange.restore(cs, self.raft_log.last_index(), config.max_inflight_msgs)
        self._switch_to_config(cfg, prs)
        if hs.term or hs.vote or hs.commit:
            self._load_state(hs)
        if config.applied > 0:
            self.raft_log.applied_to(config.applied)
        self.become_follower(self.term, NONE)

    # ------------------------------------------------------------------ state
    def _load_state(self, hs: HardState) -> None:
        if not self.raft_log.committed <= hs.commit <= self.raft_log.last_index():
            raise AssertionError(
                f"hard state commit {hs.commit} outside [{self.raft_log.committed}, "
                f"{self.raft_log.last_index()}]"
            )
        self.raft_log.committed = hs.commit
        self.term = hs.term
        self.vote = hs.vote

    def hard_state(self) -> HardState:
        return HardState(term=self.term, vote=self.vote, commit=self.raft_log.committed)

    def reported_role(self) -> Role:
        if self.role is Role.FOLLOWER and self.is_learner:
            return Role.LEARNER
        return self.role

    def soft_state(self) -> SoftState:
        return SoftState(leader_id=self.lead, role=self.reported_role())

    def promotable(self) -> bool:
        pr = self.trk.progress.get(self.id)
        return pr is not None and not pr.is_learner and self.raft_log.unstable.snapshot is None

    def lease_remaining(self) -> int:
        if (
            self.role is not Role.LEADER
            or self.cfg.read_only_option is not ReadOnlyOption.LEASE_BASED
            or self.lead_transferee != NONE
        ):
            return 0
        return self.read_only.lease_remaining(self.ticks)

    # ------------------------------------------------------------------ sending
    def send(self, m: Message) -> None:
        if m.frm == NONE:
            m.frm = self.id  # a forwarded TRANSFER_LEADER keeps the transferee in ``frm``
        if m.type in (MT.VOTE, MT.VOTE_RESP, MT.PRE_VOTE, MT.PRE_VOTE_RESP):
            assert m.term != 0, f"term must be set for {m.type.name}"
        else:
            assert m.term == 0, f"term must not be set for {m.type.name}"
            if m.type not in (MT.PROP, MT.READ_INDEX):
                m.term = self.term  # PROP and READ_INDEX are forwarded local intents: term 0
        if m.type in (MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP):
            self.msgs_after_append.append(m)
        else:
            assert m.to != self.id, f"{m.type.name} to self"
            self.msgs.append(m)

    def send_append(self, to: NodeId) -> None:
        self.maybe_send_append(to, True)

    def maybe_send_append(self, to: NodeId, send_if_empty: bool) -> bool:
        """Send the entries ``to`` lacks (or a snapshot); False if nothing was sent."""
        pr = self.trk.progress[to]
        if pr.is_paused():
            return False
        prev = pr.next - 1
        if not send_if_empty and prev >= self.raft_log.last_index():
            return False  # caught up: nothing to send (the common case after an ack)
        try:
            prev_term = self.raft_log.term(prev)
            ents: list[Entry] = []
            # A throttled REPLICATE follower gets only empty appends (which still get acked).
            if pr.state is not ProgressState.REPLICATE or not pr.inflights.full():
                ents = self.raft_log.entries(pr.next, self.cfg.max_size_per_msg)
        except (CompactedError, UnavailableError):
            return self.maybe_send_snapshot(to, pr)
        if not ents and not send_if_empty:
            return False
        self.send(
            Message(
                MT.APP,
                to=to,
                index=prev,
                log_term=prev_term,
                entries=tuple(ents),
                commit=self.raft_log.committed,
                context=self.read_only.context(),
            )
        )
        pr.sent_entries(len(ents), sum(len(e.data) for e in ents))
        return True

    def maybe_send_snapshot(self, to: NodeId, pr: Progress) -> bool:
        """Send the snapshot in chunks of snapshot_chunk_size bytes (thesis 5.3)."""
        if not pr.recent_active:
            return False
        try:
            snap = self.raft_log.snapshot()
        except SnapshotTemporarilyUnavailableError:
            return False
        assert not snap.empty, "need a non-empty snapshot to catch up a follower"
        pr.become_snapshot(snap.metadata.index)
        n = self.cfg.snapshot_chunk_size
        data = snap.data
        off = 0
        while True:
            chunk = data[off : off + n]
            done = off + n >= len(data)
            self.send(
                Message(
                    MT.SNAP,
                    to=to,
                    snapshot=Snapshot(snap.metadata, chunk),
                    snapshot_offset=off,
                    snapshot_done=done,
                )
            )
            if done:
                return True
            off += n

    def send_heartbeat(self, to: NodeId, ctx: bytes) -> None:
        # A follower may not yet have the leader's committed entries: never commit past match.
        commit = min(self.trk.progress[to].match, self.raft_log.committed)
        self.send(Message(MT.HEARTBEAT, to=to, commit=commit, context=ctx))

    def bcast_append(self) -> None:
        for nid, _ in self.trk.visit():
            if nid != self.id:
                self.send_append(nid)

    def flush_commit(self) -> None:
        """Send the new commit index to every follower that no append of this Ready carries it
        to. etcd broadcasts at once when the commit advances; deferring it to the Ready lets
        the appends stepped after the acks (the next proposals) carry it, so under load a
        follower gets one message per loop run instead of two, and acks once.

        With ``lazy_commit`` it is sent only to the followers that wait for it
        (``commit_awaited``), once the index each waits for is committed; the others learn it
        from the next append (the next write) or heartbeat. A follower learning
        the commit later changes no safety property, only how stale its local state is; at one
        client it saves two messages in and two out on the leader per write, and one Ready on
        each follower."""
        if not self.commit_to_send:
            return
        if self.role is not Role.LEADER:
            self.commit_to_send = False
            return
        committed = self.raft_log.committed
        self.commit_to_send = False
        if self.cfg.lazy_commit:
            # the others are re-examined when the commit index next advances
            targets = [nid for nid, index in self.commit_awaited.items() if index <= committed]
            if not targets:  # the usual case, at every commit of the leader's own writes
                return
            for nid in targets:
                del self.commit_awaited[nid]
        else:
            targets = [nid for nid, _ in self.trk.visit() if nid != self.id]
        told = {m.to for m in self.msgs if m.type is MT.APP and m.commit >= committed}
        for nid in targets:
            if nid not in told and nid in self.trk.progress:
                self.send_append(nid)

    def bcast_heartbeat(self) -> None:
        """Start a new heartbeat round (ReadIndex and lease confirmation ride on it)."""
        rnd = self.read_only.new_round(self.ticks)
        ctx = round_context(rnd)
        for nid, _ in self.trk.visit():
            if nid != self.id:
                self.send_heartbeat(nid, ctx)

    # ------------------------------------------------------------------ commit and append
    def maybe_commit(self) -> bool:
        """Paper 5.4.2 (Figure 8): only an entry of the current term is committed by counting."""
        return self.raft_log.maybe_commit(self.trk.committed(), self.term)

    def append_entry(self, ents: list[Entry]) -> bool:
        li = self.raft_log.last_index()
        term = self.term
        ents = [Entry(term, li + 1 + i, e.type, e.data, e.client_id, e.seq)
                for i, e in enumerate(ents)]
        if not self._increase_uncommitted_size(ents):
            return False
        li = self.raft_log.append(ents)
        # The leader's own copy counts toward commit only once durable: ack it after the write.
        self.send(Message(MT.APP_RESP, to=self.id, index=li))
        return True

    def _increase_uncommitted_size(self, ents: list[Entry]) -> bool:
        s = sum(len(e.data) for e in ents)
        limit = self.cfg.max_uncommitted_entries_size
        if limit and self.uncommitted_size > 0 and s > 0 and self.uncommitted_size + s > limit:
            return False  # always admit one proposal, however large, into an empty pipeline
        self.uncommitted_size += s
        return True

    def reduce_uncommitted_size(self, ents: list[Entry]) -> None:
        s = sum(len(e.data) for e in ents)
        self.uncommitted_size = max(0, self.uncommitted_size - s)

    def committed_entry_in_current_term(self) -> bool:
        """Once true in a term it stays true in that term: the commit index never goes back,
        and an entry after one of the current term has the current term too (terms do not
        decrease along a log, and none is above the current term). So it is looked up once
        per term, not at every loop run of the node (the lease cache asks each time)."""
        if self.commit_seen_in_term == self.term:
            return True
        if self.raft_log.term_or_zero(self.raft_log.committed) == self.term:
            self.commit_seen_in_term = self.term
            return True
        return False

    # ------------------------------------------------------------------ role changes
    def reset(self, term: int) -> None:
        # A commit index learnt as leader still goes out (with this term), as etcd's immediate
        # broadcast would have sent it: followers apply what was committed sooner.
        self.flush_commit()
        self.commit_awaited = {}
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.quorum_check_due = False
        self.reset_randomized_election_timeout()
        self.abort_leader_transfer()
        self.trk.reset_votes()
        last = self.raft_log.last_index()
        for nid, pr in self.trk.visit():
            pr.reset_to_probe(last + 1, last if nid == self.id else 0)
            pr.inflights = Inflights(self.cfg.max_inflight_msgs)
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only = ReadOnly(self.cfg.election_tick, self.cfg.lease_drift_margin_ticks)
        self.pending_read_index_messages = []

    def reset_randomized_election_timeout(self) -> None:
        e = self.cfg.election_tick
        self.randomized_election_timeout = e + self.rng.randrange(e)

    def become_follower(self, term: int, lead: NodeId) -> None:
        self.reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER

    def become_candidate(self) -> None:
        assert self.role is not Role.LEADER, "invalid transition leader -> candidate"
        self.reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def become_pre_candidate(self) -> None:
        """Thesis 9.6: probe for a majority without bumping our term (no vote, no term change)."""
        assert self.role is not Role.LEADER, "invalid transition leader -> pre-candidate"
        self.trk.reset_votes()
        self.lead = NONE
        self.role = Role.PRE_CANDIDATE

    def become_leader(self) -> None:
        assert self.role is not Role.FOLLOWER, "invalid transition follower -> leader"
        self.reset(self.term)
        self.lead = self.id
        self.role = Role.LEADER
        self.read_only.new_round(self.ticks)  # our first appends confirm leadership and lease
        # The log is durable up to last_index: our own vote was counted only after advance.
        pr = self.trk.progress[self.id]
        pr.become_replicate()
        pr.recent_active = True
        # Conservatively, any conf change in the log may be unapplied (thesis 4.1).
        self.pending_conf_index = self.raft_log.last_index()
        # Paper 5.4.2 / thesis 6.4: a no-op of our term lets us commit earlier entries.
        ok = self.append_entry([Entry(term=0, index=0)])
        assert ok
        self.uncommitted_size = 0

    # ------------------------------------------------------------------ elections
    def hup(self, kind: bytes) -> None:
        if self.role is Role.LEADER or not self.promotable():
            return
        if self._has_unapplied_conf_changes():
            return  # thesis 4.1: wait until pending membership changes are applied
        self.campaign(kind)

    def _has_unapplied_conf_changes(self) -> bool:
        lo, hi = self.raft_log.applied + 1, self.raft_log.committed + 1
        if lo >= hi:
            return False
        for e in self.raft_log.slice(lo, hi):
            if e.type is EntryType.CONF_CHANGE:
                return True
        return False

    def campaign(self, kind: bytes) -> None:
        assert self.promotable()
        if kind == CAMPAIGN_PRE_ELECTION:
            self.become_pre_candidate()
            vote_msg, term = MT.PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            vote_msg, term = MT.VOTE, self.term
        last = self.raft_log.last_index()
        last_term = self.raft_log.last_term()
        for nid in self.trk.voter_ids():
            if nid == self.id:
                # Our own vote counts once it is durable: it is stepped on advance.
                self.send(Message(vote_resp_type(vote_msg), to=nid, term=term))
                continue
            ctx = CAMPAIGN_TRANSFER if kind == CAMPAIGN_TRANSFER else b""
            self.send(
                Message(vote_msg, to=nid, term=term, index=last, log_term=last_term, context=ctx)
            )

    def poll(self, nid: NodeId, granted: bool) -> quorum.VoteResult:
        self.trk.record_vote(nid, granted)
        return self.trk.tally_votes()[2]

    # ------------------------------------------------------------------ ticks
    def tick(self, count: int = 1) -> None:
        """``count`` ticks at once: the time a stalled event loop could not deliver.

        A leader treats such a burst as one stretch of time: it checks its quorum and sends a
        heartbeat at most once, at the burst's end. Why: its followers could not be heard
        during the stall, so a burst crossing two election timeouts would fail the second
        check however healthy they are. Every node's loop stalls together when one disk is
        slow for everyone (a 0.7 s log fsync while three nodes write snapshots, measured in
        issue 8), and the leader stepped down each time. The lease does not depend on the
        check: it counts every tick (``ticks``) from its heartbeat rounds."""
        for remaining in range(count - 1, -1, -1):
            self.ticks += 1
            match self.role:
                case Role.LEADER:
                    self._tick_heartbeat(last=remaining == 0)
                case _:
                    self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(MT.HUP, frm=self.id))

    def _tick_heartbeat(self, last: bool) -> None:
        """One of a leader's ticks; ``last``: the last tick of a burst (``tick``)."""
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            self.quorum_check_due = self.cfg.check_quorum
            if self.lead_transferee != NONE:
                self.abort_leader_transfer()  # thesis 3.10: give up after an election timeout
            self._age_snapshots()
        if not last:
            return
        if self.quorum_check_due:
            self.quorum_check_due = False
            self.step(Message(MT.CHECK_QUORUM, frm=self.id))
        if self.role is not Role.LEADER:
            return
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self.step(Message(MT.BEAT, frm=self.id))

    def _age_snapshots(self) -> None:
        """A snapshot chunk lost in the network would leave a follower in SNAPSHOT forever."""
        for nid, pr in self.trk.visit():
            if nid != self.id and pr.state is ProgressState.SNAPSHOT:
                pr.snapshot_age += 1
                if pr.snapshot_age >= SNAPSHOT_TIMEOUT_ELECTIONS:
                    pr.pending_snapshot = 0
                    pr.become_probe()

    # ------------------------------------------------------------------ step
    def step(self, m: Message) -> None:
        """Handle one message; raises ProposalDroppedError for proposals that can't be taken."""
        term_before = self.term
        if m.term == 0:
            pass  # local message (or a forwarded PROP / READ_INDEX)
        elif m.term > self.term:
            if m.type in (MT.VOTE, MT.PRE_VOTE) and self._ignores_vote(m):
                return
            if m.type is MT.PRE_VOTE:
                pass  # never change our term in response to a PreVote (thesis 9.6)
            elif m.type is MT.PRE_VOTE_RESP and not m.reject:
                pass  # granted pre-votes carry the term we will campaign for, not a real term
            else:
                lead = m.frm if m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP) else NONE
                self.become_follower(m.term, lead)
        elif m.term < self.term:
            if (self.cfg.check_quorum or self.cfg.pre_vote) and m.type in (MT.HEARTBEAT, MT.APP):
                # A stale leader cut off from the rest: tell it our term so it steps down.
                # (Without this, a partitioned node with pre-vote could never rejoin.)
                self.send(Message(MT.APP_RESP, to=m.frm))
            elif m.type is MT.PRE_VOTE:
                self.send(Message(MT.PRE_VOTE_RESP, to=m.frm, term=self.term, reject=True))
            return

        if m.type in (MT.VOTE, MT.PRE_VOTE) and m.term == term_before and self._ignores_vote(m):
            return
        match m.type:
            case MT.HUP:
                self.hup(CAMPAIGN_PRE_ELECTION if self.cfg.pre_vote else CAMPAIGN_ELECTION)
            case MT.VOTE | MT.PRE_VOTE:
                self._handle_vote_request(m)
            case _:
                match self.role:
                    case Role.LEADER:
                        self._step_leader(m)
                    case Role.CANDIDATE | Role.PRE_CANDIDATE:
                        self._step_candidate(m)
                    case _:
                        self._step_follower(m)

    def _in_lease(self) -> bool:
        """Are we bound not to help elect a new leader right now (thesis 4.2.3 and 6.4.1)?"""
        if not self.cfg.check_quorum:
            return False
        if self.role is Role.LEADER or self.ticks < self.vote_guard_until:
            return True
        if self.lead != NONE and self.election_elapsed < self.cfg.election_tick:
            return True  # etcd's "lease is not expired" condition
        # Also when a term change (e.g. a late higher-term response) has cleared ``lead``.
        contact = self.leader_contact_tick
        return contact is not None and self.ticks - contact < self.cfg.election_tick

    def _ignores_vote(self, m: Message) -> bool:
        """Drop a (pre)vote request while a leader we heard from may still be alive, unless it
        follows a leadership transfer or repeats a request we already granted."""
        if m.context == CAMPAIGN_TRANSFER or (m.term == self.term and self.vote == m.frm):
            return False
        return self._in_lease()

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (
            self.vote == m.frm
            or (self.vote == NONE and self.lead == NONE)
            or (m.type is MT.PRE_VOTE and m.term > self.term)
        )
        if can_vote and self.raft_log.is_up_to_date(m.index, m.log_term):
            # Paper 5.2 / 5.4.1: grant; a real vote is durable before the response leaves.
            self.send(Message(vote_resp_type(m.type), to=m.frm, term=m.term))
            if m.type is MT.VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self.send(Message(vote_resp_type(m.type), to=m.frm, term=self.term, reject=True))

    # ------------------------------------------------------------------ leader
    def _step_leader(self, m: Message) -> None:
        match m.type:
            case MT.BEAT:
                self.bcast_heartbeat()
                return
            case MT.CHECK_QUORUM:
                if not self.trk.quorum_active():
                    self.become_follower(self.term, NONE)  # thesis 6.2
                for nid, other in self.trk.visit():
                    if nid != self.id:
                        other.recent_active = False
                return
            case MT.PROP:
                self._propose(m)
                return
            case MT.READ_INDEX:
                if not self.committed_entry_in_current_term():
                    # Thesis 6.4: a new leader does not know the commit index until an entry
                    # of its own term is committed.
                    if len(self.pending_read_index_messages) < MAX_PENDING_READS:
                        self.pending_read_index_messages.append(m)
                elif self.trk.is_singleton():
                    self._respond_read(m, self.raft_log.committed)
                else:
                    self._send_read_index_response(m)
                return

        pr = self.trk.progress.get(m.frm)
        if pr is None:
            return
        match m.type:
            case MT.APP_RESP:
                pr.recent_active = True
                self._on_ack(m)
                if m.reject:
                    self._handle_append_reject(m, pr)
                else:
                    self._handle_append_success(m, pr)
            case MT.HEARTBEAT_RESP:
                pr.recent_active = True
                pr.msg_app_flow_paused = False
                if m.reject and m.reject_hint < pr.match:
                    # The follower lost entries it had acknowledged: replicate to it again
                    # from where its log really ends (a snapshot if that is compacted away).
                    pr.reset_to_probe(m.reject_hint + 1, match=m.reject_hint)
                if pr.match < self.raft_log.last_index() or pr.state is ProgressState.PROBE:
                    self.send_append(m.frm)
                self._on_ack(m)
            case MT.SNAP_STATUS:
                if pr.state is not ProgressState.SNAPSHOT:
                    return
                if m.reject:
                    pr.pending_snapshot = 0
                pr.become_probe()
                # Wait for a heartbeat response before probing again (etcd).
                pr.msg_app_flow_paused = True
            case MT.UNREACHABLE:
                # The last optimistic appends were probably lost.
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
            case MT.TRANSFER_LEADER:
                self._handle_transfer_leader(m, pr)

    def _propose(self, m: Message) -> None:
        assert m.entries, "empty proposal"
        if self.id not in self.trk.progress:
            raise ProposalDroppedError("this leader was removed from the configuration")
        if self.lead_transferee != NONE:
            raise ProposalDroppedError(f"leadership transfer to {self.lead_transferee} in progress")
        pending_conf = None
        for i, e in enumerate(m.entries):
            if e.type is not EntryType.CONF_CHANGE:
                continue
            cc = confchange.decode_conf_change(e.data)
            joint = self.trk.config.voters.joint
            if self.pending_conf_index > self.raft_log.applied or pending_conf is not None:
                why = "a conf change is already pending"
            elif joint and not confchange.leaves_joint(cc):
                why = "must leave the joint config first"
            elif not joint and confchange.leaves_joint(cc):
                why = "not in a joint config"
            else:
                pending_conf = self.raft_log.last_index() + i + 1
                continue
            raise ProposalDroppedError(f"conf change refused: {why}")
        if not self.append_entry(list(m.entries)):
            raise ProposalDroppedError("max_uncommitted_entries_size reached")
        if self.cfg.lazy_commit and m.frm != self.id:
            # a follower's proposal: it answers its client once it has applied it
            self.commit_awaited[m.frm] = self.raft_log.last_index()
        if pending_conf is not None:
            self.pending_conf_index = pending_conf
        self.bcast_append()

    def _handle_append_reject(self, m: Message, pr: Progress) -> None:
        if pr.state is ProgressState.SNAPSHOT:
            if m.index == pr.pending_snapshot:
                # The follower lost a chunk of the snapshot: start over.
                pr.pending_snapshot = 0
                pr.become_probe()
                self.send_append(m.frm)
            return
        # Fast backtracking (thesis 5.3 "conflict term"; etcd findConflictByTerm): the
        # follower told us (reject_hint, log_term); skip every index of ours above the last
        # one whose term could match.
        next_probe = m.reject_hint
        if m.log_term > 0:
            next_probe, _ = self.raft_log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, next_probe):
            if pr.state is ProgressState.REPLICATE:
                pr.become_probe()
            self.send_append(m.frm)

    def _handle_append_success(self, m: Message, pr: Progress) -> None:
        old_paused = pr.is_paused()
        if not (pr.maybe_update(m.index) or (pr.match == m.index and pr.state is ProgressState.PROBE)):
            return
        match pr.state:
            case ProgressState.PROBE:
                pr.become_replicate()
            case ProgressState.SNAPSHOT if pr.match + 1 >= self.raft_log.first_index():
                pr.become_probe()
                pr.become_replicate()
            case ProgressState.REPLICATE:
                pr.inflights.free_le(m.index)
        if self.maybe_commit():
            self._release_pending_read_index_messages()
            self.commit_to_send = True
        elif old_paused and m.frm != self.id:
            self.send_append(m.frm)
        if m.frm != self.id:
            while self.maybe_send_append(m.frm, False):
                pass
            if m.frm == self.lead_transferee and pr.match == self.raft_log.last_index():
                self._send_timeout_now(m.frm)

    def _handle_transfer_leader(self, m: Message, pr: Progress) -> None:
        """Thesis 3.10: catch the transferee up, then tell it to campaign at once."""
        if pr.is_learner:
            return
        transferee = m.frm
        if self.lead_transferee != NONE:
            if self.lead_transferee == transferee:
                return
            self.abort_leader_transfer()
        if transferee == self.id:
            return
        self.election_elapsed = 0  # the transfer must finish within an election timeout
        self.lead_transferee = transferee
        if pr.match == self.raft_log.last_index():
            self._send_timeout_now(transferee)
        else:
            self.send_append(transferee)

    def _send_timeout_now(self, to: NodeId) -> None:
        """Thesis 3.10: tell the transferee to campaign now. Its election bypasses the
        followers' vote lease, so our lease is void for the rest of this term, even if the
        transfer is later aborted (followers may ack a newer round and then vote for it)."""
        self.read_only.revoke_lease()
        self.send(Message(MT.TIMEOUT_NOW, to=to))

    def abort_leader_transfer(self) -> None:
        self.lead_transferee = NONE

    # ------------------------------------------------------------------ reads (thesis 6.4)
    def _send_read_index_response(self, m: Message) -> None:
        if (
            self.cfg.read_only_option is ReadOnlyOption.LEASE_BASED
            and m.context != READ_QUORUM
            and self.lease_remaining() > 0
        ):
            self._respond_read(m, self.raft_log.committed)
            return
        ctx = m.entries[0].data if m.entries else b""
        committed = self.raft_log.committed
        if len(self.read_only.pending) >= MAX_PENDING_READS:
            return  # bounded queue: the reader times out and retries
        self.bcast_heartbeat()
        self.read_only.add_request(ReadRequest(ctx, m.frm, committed, self.read_only.round))

    def _respond_read(self, m: Message, index: int) -> None:
        ctx = m.entries[0].data if m.entries else b""
        self._respond_read_request(ReadRequest(ctx, m.frm, index, 0))

    def _respond_read_request(self, req: ReadRequest) -> None:
        if req.frm in (NONE, self.id):
            self.read_states.append(ReadState(index=req.index, request_ctx=req.ctx))
            return
        # The follower serves the read once it has applied req.index, so it must learn that
        # req.index is committed. The answer tells it, as a heartbeat does, up to what its log
        # is known to hold; only a follower whose log lacks part of it needs an append.
        pr = self.trk.progress.get(req.frm)
        commit = min(pr.match, self.raft_log.committed) if pr is not None else 0
        if self.cfg.lazy_commit and commit < req.index:
            self.commit_awaited[req.frm] = max(self.commit_awaited.get(req.frm, 0), req.index)
            self.commit_to_send = True
        self.send(Message(MT.READ_INDEX_RESP, to=req.frm, index=req.index, commit=commit,
                          entries=(Entry(term=0, index=0, data=req.ctx),)))

    def _release_pending_read_index_messages(self) -> None:
        if not self.pending_read_index_messages or not self.committed_entry_in_current_term():
            return
        msgs, self.pending_read_index_messages = self.pending_read_index_messages, []
        for m in msgs:
            if self.trk.is_singleton():
                self._respond_read(m, self.raft_log.committed)
            else:
                self._send_read_index_response(m)

    def _on_ack(self, m: Message) -> None:
        """A voter echoed a heartbeat round: maybe confirm reads and renew the lease."""
        if m.frm == self.id or not self.read_only.recv_ack(m.frm, m.context):
            return
        for req in self.read_only.advance(self.trk.config.voters, self.id):
            self._respond_read_request(req)

    # ------------------------------------------------------------------ candidate
    def _step_candidate(self, m: Message) -> None:
        my_resp = MT.PRE_VOTE_RESP if self.role is Role.PRE_CANDIDATE else MT.VOTE_RESP
        match m.type:
            case MT.PROP:
                raise ProposalDroppedError("no leader (election in progress)")
            case MT.APP | MT.HEARTBEAT | MT.SNAP:
                self.become_follower(m.term, m.frm)
                self._step_follower(m)
            case t if t is my_resp:
                res = self.poll(m.frm, not m.reject)
                if res is quorum.VoteResult.WON:
                    if self.role is Role.PRE_CANDIDATE:
                        self.campaign(CAMPAIGN_ELECTION)
                    else:
                        self.become_leader()
                        self.bcast_append()
                elif res is quorum.VoteResult.LOST:
                    self.become_follower(self.term, NONE)

    # ------------------------------------------------------------------ follower
    def _step_follower(self, m: Message) -> None:
        match m.type:
            case MT.PROP:
                if self.lead == NONE:
                    raise ProposalDroppedError("no leader known")
                if self.cfg.disable_proposal_forwarding:
                    raise ProposalDroppedError("proposal forwarding disabled")
                self.send(replace(m, to=self.lead, term=0))
            case MT.APP:
                self.election_elapsed = 0
                self.lead = m.frm
                self.leader_contact_tick = self.ticks
                self._handle_append_entries(m)
            case MT.HEARTBEAT:
                self.election_elapsed = 0
                self.lead = m.frm
                self.leader_contact_tick = self.ticks
                self._handle_heartbeat(m)
            case MT.SNAP:
                self.election_elapsed = 0
                self.lead = m.frm
                self.leader_contact_tick = self.ticks
                self._handle_snapshot_chunk(m)
            case MT.TRANSFER_LEADER:
                if self.lead != NONE:
                    self.send(replace(m, to=self.lead, term=0))
            case MT.TIMEOUT_NOW:
                # Thesis 3.10: skip pre-vote and the lease check (context "transfer").
                self.hup(CAMPAIGN_TRANSFER)
            case MT.READ_INDEX:
                if self.lead != NONE:
                    self.send(replace(m, to=self.lead, term=0))
            case MT.READ_INDEX_RESP:
                if len(m.entries) == 1:
                    # commit = min(leader's commit, our match), as in a heartbeat; one beyond
                    # our log (lost storage) is left to the heartbeat's reject
                    if m.commit <= self.raft_log.last_index():
                        self.raft_log.commit_to(m.commit)
                    self.read_states.append(ReadState(m.index, m.entries[0].data))

    def _handle_append_entries(self, m: Message) -> None:
        if m.index < self.raft_log.committed:
            self.send(Message(MT.APP_RESP, to=m.frm, index=self.raft_log.committed, context=m.context))
            return
        last_new = self.raft_log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self.send(Message(MT.APP_RESP, to=m.frm, index=last_new, context=m.context))
            return
        # Paper 5.3 consistency check failed. Hint the largest index that may match.
        hint = min(m.index, self.raft_log.last_index())
        hint, hint_term = self.raft_log.find_conflict_by_term(hint, m.log_term)
        self.send(
            Message(
                MT.APP_RESP,
                to=m.frm,
                index=m.index,
                reject=True,
                reject_hint=hint,
                log_term=hint_term,
                context=m.context,
            )
        )

    def _handle_heartbeat(self, m: Message) -> None:
        last = self.raft_log.last_index()
        if m.commit > last:
            # The leader believes we hold entries we do not: our storage was lost (a wiped
            # data dir rejoining under the same id). Tell it how far our log really goes
            # instead of committing past it (etcd panics here).
            self.send(Message(MT.HEARTBEAT_RESP, to=m.frm, context=m.context, reject=True,
                              reject_hint=last))
            return
        self.raft_log.commit_to(m.commit)
        self.send(Message(MT.HEARTBEAT_RESP, to=m.frm, context=m.context))

    def _handle_snapshot_chunk(self, m: Message) -> None:
        """Reassemble a chunked snapshot; restore it when the last chunk arrives."""
        snap = m.snapshot
        if snap is None:
            return
        rx = self.snap_rx
        same = (
            rx is not None
            and rx.frm == m.frm
            and rx.term == m.term
            and rx.metadata == snap.metadata
        )
        if m.snapshot_offset == 0:
            if rx is not None:
                rx.data.discard()
            rx = self.snap_rx = _SnapshotReceiver(m.frm, m.term, snap.metadata,
                                                  self.cfg.snapshot_buffer())
            rx.data.append(snap.data)
        elif same and rx is not None and m.snapshot_offset == len(rx.data):
            rx.data.append(snap.data)
        elif same and rx is not None and m.snapshot_offset < len(rx.data):
            return  # a duplicate chunk
        else:
            # A chunk is missing: drop what we have and make the leader start over.
            if rx is not None:
                rx.data.discard()
            self.snap_rx = None
            self.send(
                Message(
                    MT.APP_RESP,
                    to=m.frm,
                    index=snap.metadata.index,
                    reject=True,
                    reject_hint=self.raft_log.last_index(),
                )
            )
            return
        if not m.snapshot_done:
            return
        self.snap_rx = None
        self._handle_snapshot(Snapshot(rx.metadata, rx.data.view()), m.frm)

    def _handle_snapshot(self, s: Snapshot, frm: NodeId) -> None:
        if self._restore(s):
            self.send(Message(MT.APP_RESP, to=frm, index=self.raft_log.last_index()))
        else:
            self.send(Message(MT.APP_RESP, to=frm, index=self.raft_log.committed))

    def _restore(self, s: Snapshot) -> bool:
        meta = s.metadata
        if meta.index <= self.raft_log.committed:
            return False
        if self.role is not Role.FOLLOWER:
            # Defence in depth (etcd): only a follower restores; never happens via step.
            self.become_follower(self.term + 1, NONE)
            return False
        cs = meta.conf_state
        if self.id not in set(cs.voters) | set(cs.learners) | set(cs.voters_outgoing):
            return False  # not for us: we are not in its configuration
        if self.raft_log.match_term(meta.index, meta.term):
            # We already have the snapshot's last entry: just fast-forward the commit index.
            self.raft_log.commit_to(meta.index)
            return False
        self.raft_log.restore(s)
        self.trk = ProgressTracker(self.cfg.max_inflight_msgs)
        cfg, prs = confchange.restore(cs, self.raft_log.last_index(), self.cfg.max_inflight_msgs)
        self._switch_to_config(cfg, prs)
        return True

    # ------------------------------------------------------------------ membership
    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        ch = confchange.Changer(
            self.trk.config, self.trk.progress, self.raft_log.last_index(), self.cfg.max_inflight_msgs
        )
        cfg, prs = ch.apply(cc)
        return self._switch_to_config(cfg, prs)

    def _switch_to_config(self, cfg: TrackerConfig, prs: dict[NodeId, Progress]) -> ConfState:
        self.trk.config = cfg
        self.trk.progress = prs
        cs = self.trk.conf_state()
        pr = prs.get(self.id)
        self.is_learner = pr is not None and pr.is_learner
        if (pr is None or self.is_learner) and self.role is Role.LEADER:
            # Thesis 4.2.2: a leader removed from (or demoted in) the config steps down.
            self.become_follower(self.term, NONE)
            return cs
        if self.role is not Role.LEADER or not cs.voters:
            return cs
        if self.maybe_commit():
            # The quorum shrank (or changed): entries may now be committed.
            self._release_pending_read_index_messages()
            self.bcast_append()
        else:
            for nid, _ in self.trk.visit():
                if nid != self.id:
                    self.maybe_send_append(nid, False)
        if self.lead_transferee != NONE and self.lead_transferee not in cfg.voters.ids():
            self.abort_leader_transfer()
        return cs

    def applied_to(self, index: int) -> None:
        """The runtime applied up to ``index``; a leader in an auto-leave joint config leaves it."""
        self.raft_log.applied_to(max(index, self.raft_log.applied))
        if (
            self.trk.config.auto_leave
            and self.raft_log.applied >= self.pending_conf_index
            and self.role is Role.LEADER
        ):
            # Thesis 4.3: once C_old,new is in effect, the leader proposes C_new.
            leave = Entry(
                term=0,
                index=0,
                type=EntryType.CONF_CHANGE,
                data=confchange.encode_conf_change(ConfChange(changes=())),
            )
            try:
                self.step(Message(MT.PROP, frm=self.id, entries=(leave,)))
            except ProposalDroppedError:
                pass  # e.g. a transfer is in progress; retried on the next apply
