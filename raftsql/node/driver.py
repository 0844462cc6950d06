"""The asyncio shell around one Raft node: tick timer, inbox, proposals, reads, the Ready loop.

One task (``_run``) owns the RawNode: every call into the core happens there, and between a core
call and the handling of its Ready nothing awaits (STYLE.md rule 15, run to completion). Other
tasks only enqueue inputs and wake it. Group commit falls out of this shape: proposals and acks
that arrive while one Ready is being persisted and applied are all taken into the next Ready, so
they share one fsync, one proposal message and one SQLite transaction.

The Ready is handled on the loop's thread, with one exception: a leader's Ready of several
entries (several clients waiting) is written on the loop, and its fsync waited for on a thread
(``_sync_wal``), so the loop parses and proposes other clients' statements meanwhile; the core
is not touched until the fsync is done. A disk thread for everything (persist and apply off the
loop) was tried first: on this 2-core box every hop to and from it cost 0.2-1.4 ms of GIL and
scheduling latency under load, more than the fsync (0.15 ms) it hid (docs/design.md).

Time enters only here. Ticks are counted from the monotonic clock, never from "one tick per timer
callback": a leader whose event loop stalled must see its lease shrink by the real time that
passed, so every due tick is delivered before any queued read is handled; they go in as one
burst, in which the leader checks its quorum once (``Raft.tick``). A node that is not
the leader gets at most one tick per loop run instead (as etcd's dropping ticker does): after
its loop stalled (applying a big entry, which every node does at about the same time) it must
not campaign at once over a leader that was only as busy as itself; a follower's clock running
slow only delays an election, it never shortens a lease.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from raftsql.node.errors import (
    MembershipError,
    NodeError,
    NoLeaderError,
    NotProposedError,
    OutcomeUnknownError,
    ShuttingDownError,
)
from raftsql.node.ready import PendingReads, StateMachine, finish_ready, start_ready
from raftsql.node.transport import RpcHandler, TcpTransport
from raftsql.raft.confchange import Changer, decode_conf_change, encode_conf_change
from raftsql.raft.config import Config, ReadOnlyOption
from raftsql.raft.errors import ProposalDroppedError
from raftsql.raft.rawnode import RawNode, Status
from raftsql.raft.types import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    NodeId,
    Role,
    SnapshotMetadata,
)
from raftsql.storage.log_store import RocksLogStore

log = logging.getLogger("raftsql.node")

SNAPSHOT_RETRY_MAX_SECONDS = 30.0
"""A failed snapshot is tried again after 1 s, then 2, 4, ... up to this many seconds."""
DEFAULT_SNAPSHOT_ENTRIES = 10_000
SNAPSHOT_BYTES_PER_ENTRY = 1024
"""At most this many bytes of state are copied into snapshots per applied entry."""


def snapshot_interval(state_bytes: int) -> int:
    """Applied entries between two snapshots by default: DEFAULT_SNAPSHOT_ENTRIES, or more for
    a big state.

    Why: a snapshot copies the whole state. At a fixed interval the copying per write grows
    with the database; with a 130 MB database at 5,000 writes/s every node copied 130 MB every
    2 s and the write rate fell with the size (docs/benchmarks.md, memory to 4 M writes). This
    bounds it to SNAPSHOT_BYTES_PER_ENTRY per entry, so the log kept between two snapshots
    stays near the database's own size (a 100-byte write is a ~150-byte entry), and a restart
    replays at most that many entries (skipped by the state machine up to its applied index).
    etcd's default is a fixed 100,000 entries; rqlite moved to incremental snapshots."""
    return max(DEFAULT_SNAPSHOT_ENTRIES, state_bytes // SNAPSHOT_BYTES_PER_ENTRY)

PROPOSAL_BATCH_BYTES = 1 << 20
"""Proposals taken into one proposal message, at most (about) this many bytes of commands."""

EPHEMERAL_PREFIX = b"~"
"""Client ids starting with this byte only tag a proposal for its waiter; the state machine
does not deduplicate them (see ``ReplicatedStateMachine``)."""


class ReplicatedStateMachine(StateMachine, Protocol):
    """What the node needs from the state machine beyond applying entries.

    ``apply`` must be idempotent for an index at or below ``applied_index()``: on restart the node
    replays the log from the last snapshot (so that membership changes after it take effect again)
    and the state machine skips what it already has.
    """

    def applied_index(self) -> int: ...

    def apply_ahead(self, entries: Sequence[Entry]) -> None:
        """Run a leader's new entries before they commit, to be kept when exactly they are
        applied next (an optimisation: doing nothing is correct)."""
        ...

    def size_bytes(self) -> int:
        """How big a snapshot of the state would be (sets how often one is taken)."""
        ...

    def pin_snapshot(self) -> PinnedState:
        """Hold the current state (at ``applied_index()``) for a copy in the background."""
        ...


class PinnedState(Protocol):
    """A state machine's state held at one applied index while a worker thread copies it."""

    index: int

    def copy(self, path: Path) -> None:
        """On a worker thread: make the state up to ``index`` durable and copy it into a new
        file at ``path``, synced; then release the state (also when it fails, and then the
        file is deleted)."""
        ...

    def abort(self) -> None:
        """From any thread: make a ``copy`` in progress give up soon (the node is stopping)."""
        ...

    def close(self) -> None:
        """Release the state without reading it."""
        ...


class Clock:
    """Monotonic seconds, with an optional rate and offset for clock-drift fault injection."""

    def __init__(self, rate: float = 1.0) -> None:
        self.rate = rate
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.rate


@dataclass
class NodeConfig:
    node_id: NodeId
    data_dir: Path
    raft_listen: tuple[str, int]
    peers: dict[NodeId, tuple[str, int]]
    """Every initial voter's Raft address as this node dials it (this node's own entry too)."""
    cluster_id: str = "raftsql"
    secret: bytes | None = None
    join: bool = False
    """Start with no membership and wait to be added (a learner joining a running cluster)."""
    tick_interval: float = 0.05
    election_tick: int = 10
    heartbeat_tick: int = 1
    lease_margin_ticks: int = 2
    snapshot_entries: int | None = None
    """Take a snapshot (and compact the log) every this many applied entries; None: every
    ``snapshot_interval`` entries, which grows with the state."""
    propose_timeout: float = 10.0
    read_timeout: float = 5.0
    clock_rate: float = 1.0
    seed: int | None = None
    ack_spin: float = 0.0005
    """Seconds a leader with one proposal awaiting its quorum keeps its event loop polling
    instead of sleeping (``_maybe_spin``); 0 turns it off."""


@dataclass
class _Proposal:
    data: bytes
    client_id: bytes
    seq: int
    future: asyncio.Future[Any]
    deadline: float = float("inf")
    """time.monotonic() after which the ticker fails the wait with _Expired."""


class _Expired(Exception):
    """A proposal's wait passed its deadline (set by the ticker's sweep)."""


@dataclass
class NodeMetrics:
    proposals: int = 0
    proposals_failed: int = 0
    applied_entries: int = 0
    readies: int = 0
    fsyncs: int = 0
    fsync_seconds: float = 0.0
    apply_seconds: float = 0.0
    reads: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    lease_fast_reads: int = 0
    """Lease reads answered from the cached lease, without a trip through the Raft loop."""
    leader_changes: int = 0
    snapshots_taken: int = 0
    slow_fsyncs: int = 0
    """Synced log writes that took half an election timeout or more (each is logged)."""
    leader_stalls: int = 0
    """Loop runs of a leader that found half an election timeout of ticks due: its heartbeats
    went out that late (each is logged)."""
    ack_spin_seconds: float = 0.0
    """Time a leader's loop spent polling for its followers' acks (``_maybe_spin``)."""


def _read_timed_out(fut: asyncio.Future[int]) -> None:
    if not fut.done():
        fut.set_exception(NoLeaderError("could not confirm leadership with a quorum in time"))


def _check_membership_changes(changes: Sequence[tuple[ConfChangeType, NodeId]],
                              voters: set[NodeId], learners: set[NodeId]) -> None:
    """Raise MembershipError unless each change fits the configuration (``voters``,
    ``learners``) that the changes before it lead to; the two sets are changed in place."""
    if not changes:
        raise MembershipError("no membership change given")
    for kind, nid in changes:
        if nid <= 0:
            raise MembershipError(f"node ids are positive, not {nid}")
        if kind == ConfChangeType.ADD_LEARNER:
            if nid in voters:
                raise MembershipError(f"node {nid} is already a voter")
            if nid in learners:
                raise MembershipError(f"node {nid} is already a learner")
            learners.add(nid)
        elif kind == ConfChangeType.ADD_VOTER:
            if nid in voters:
                raise MembershipError(f"node {nid} is already a voter")
            if nid not in learners:
                raise MembershipError(f"node {nid} is not a learner: can only promote a learner "
                                      "(add it first)")
            learners.discard(nid)
            voters.add(nid)
        else:
            if nid not in voters and nid not in learners:
                raise MembershipError(f"node {nid} is not a member")
            voters.discard(nid)
            learners.discard(nid)
            if not voters:
                raise MembershipError("refusing to remove the last voter")


class RaftNode:
    """One cluster member: durable log in RocksDB, peers over TCP, a replicated state machine."""

    def __init__(self, cfg: NodeConfig, state_machine: ReplicatedStateMachine,
                 rpc_handler: RpcHandler | None = None) -> None:
        self.cfg = cfg
        self.sm = state_machine
        self.id = cfg.node_id
        self.clock = Clock(cfg.clock_rate)
        self.metrics = NodeMetrics()
        self._half_election_timeout = cfg.election_tick * cfg.tick_interval / 2
        self._rpc_handler = rpc_handler
        self._inbox: collections.deque[Message] = collections.deque()
        self._proposals: collections.deque[_Proposal] = collections.deque()
        self._read_requests: collections.deque[tuple[bytes, bool]] = collections.deque()
        self._local_actions: collections.deque[Callable[[], None]] = collections.deque()
        self._waiters: dict[tuple[bytes, int], asyncio.Future[Any]] = {}
        self._spinning = False
        self._spin_index = 0  # the last log index the spin waits to see committed
        self._spin_until = 0.0  # perf_counter() bound of the spin for _spin_index
        self._spin_started = 0.0
        self._read_waiters: dict[bytes, asyncio.Future[int]] = {}
        self._wakeup = asyncio.Event()
        self._applied_changed = asyncio.Condition()
        self._stopping = False
        self.failed = asyncio.Event()
        """Set when the Raft loop failed: the node applies nothing more, and its process
        should end (NodeServer.run_until_signalled)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._ephemeral_id = EPHEMERAL_PREFIX + os.urandom(8)
        self._seq = itertools.count(1)
        self._read_seq = itertools.count(1)
        self._ticks_done = 0
        self._tick_origin = 0.0
        self._status: Status | None = None
        self._status_stale = False
        self._is_leader = False
        self._lease_until = float("-inf")
        self._lease_commit = 0
        self._leader_id: NodeId = 0
        self._started = False
        self._pending_conf: tuple[bytes, int] | None = None
        self._inflight: dict[tuple[bytes, int], _Proposal] = {}
        self._read_lease: dict[bytes, bool] = {}  # ctx -> use_lease, while the read waits
        self._read_batches: dict[bytes, list[bytes]] = {}
        """One ReadIndex request answers every read queued when it was made (etcd's server
        batches the same way): batch ctx -> the reads' own ctxs."""
        self._leader_term = (0, 0)
        self._snapshot_task: asyncio.Task[None] | None = None
        self._snapshot_pin: PinnedState | None = None
        self._snapshot_failures = 0
        self._snapshot_retry_at = 0.0
        """After a failed snapshot the next try waits (time.monotonic()), 1 s doubling to 30 s."""
        self._snapshot_due = False
        """A member was added while the log is compacted: the newest snapshot's membership
        lacks it, so it would refuse that snapshot (Raft paper 7; etcd's restore check) until
        the next periodic one. Take one at once instead."""
        self._interval_measured: tuple[int, int] | None = None
        """(last snapshot index, default interval measured for the period after it)"""
        self._wal_syncer: concurrent.futures.ThreadPoolExecutor | None = None
        self._sync_owed = False
        """The leader's ``persist`` wrote its batch and left the fsync to ``_sync_wal``."""
        self.on_member_added: Callable[[NodeId, bytes], None] = lambda _id, _ctx: None
        """Called when a conf change adding a member is applied, with the change's context
        (the new member's Raft address), so the runtime can dial it."""
        self.on_wake: Callable[[], None] = lambda: None
        """Called when the Raft loop wakes (or its fsync returns), before it does its work: the
        Postgres frontend sends the answers it holds for this turn of the event loop
        (server/channel.py), which a Ready of many entries would otherwise hold back by
        milliseconds."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        data = Path(self.cfg.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self.store = RocksLogStore(data / "raft")
        if not self.cfg.join:
            self._bootstrap()
        snap_index = self.store.snapshot_metadata.index
        rng = random.Random(self.cfg.seed if self.cfg.seed is not None else os.urandom(8))
        config = Config(
            id=self.id,
            election_tick=self.cfg.election_tick,
            heartbeat_tick=self.cfg.heartbeat_tick,
            rng=rng,
            applied=snap_index,
            check_quorum=True,
            pre_vote=True,
            read_only_option=ReadOnlyOption.LEASE_BASED,
            lease_drift_margin_ticks=self.cfg.lease_margin_ticks,
            lazy_commit=True,
            snapshot_buffer=self.store.receive_snapshot,
        )
        config.validate()
        self.raw = RawNode(config, self.store)
        self.reads = PendingReads(applied=snap_index)
        self._last_snapshot_index = snap_index
        self.transport = TcpTransport(
            self.id, self.cfg.cluster_id, self.cfg.raft_listen,
            {pid: addr for pid, addr in self.cfg.peers.items() if pid != self.id},
            self._on_message,
            on_unreachable=self._on_unreachable,
            rpc_handler=self._rpc_handler,
            secret=self.cfg.secret,
        )
        await self.transport.start()
        self._wal_syncer = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"raft-wal-sync-{self.id}")
        self._tick_origin = self.clock.now()
        self._refresh_status()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"raft-run-{self.id}"),
            asyncio.create_task(self._ticker(), name=f"raft-tick-{self.id}"),
        ]
        self._started = True
        log.info("node %d started: snapshot index %d, last index %d, term %d", self.id,
                 snap_index, self.store.last_index(), self.store.hard_state.term)

    def _bootstrap(self) -> None:
        """Seed a brand-new log with the initial membership, as etcd does: one committed
        ADD_VOTER entry per initial voter, identical on every initial node. Membership then lives
        only in the log and in snapshots, so a node that joins later rebuilds the same
        configuration by replaying the log (or installing a snapshot)."""
        s = self.store
        if s.last_index() or s.hard_state.term or s.snapshot_metadata.index:
            return
        ids = sorted(self.cfg.peers)
        entries = [
            Entry(term=1, index=k + 1, type=EntryType.CONF_CHANGE,
                  data=encode_conf_change(ConfChange(
                      (ConfChangeSingle(ConfChangeType.ADD_VOTER, nid),))))
            for k, nid in enumerate(ids)
        ]
        s.persist(HardState(term=1, vote=0, commit=len(ids)), entries, None, sync=True)

    async def stop(self, transfer: bool = True) -> None:
        """Stop cleanly; a leader first hands leadership to the most caught-up voter."""
        if not self._started:
            return
        if transfer and self.is_leader() and len(self.voters()) > 1:
            with contextlib.suppress(Exception):
                await self.transfer_leadership(None, timeout=2.0)
        self._stopping = True
        self._wakeup.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stop_snapshot()
        await self.transport.close()
        self._fail_all(ShuttingDownError("node is shutting down"))
        if self._wal_syncer is not None:  # a cancelled loop may have left an fsync running
            self._wal_syncer.shutdown(wait=True)
        self.store.close()
        self._started = False

    # ------------------------------------------------------------------ inputs

    def _on_message(self, msg: Message) -> None:
        self._inbox.append(msg)
        self._wakeup.set()

    def _on_unreachable(self, peer_id: NodeId) -> None:
        self._local_actions.append(lambda: self.raw.report_unreachable(peer_id))
        self._wakeup.set()

    async def _ticker(self) -> None:
        interval = self.cfg.tick_interval
        while True:
            await asyncio.sleep(interval / max(self.clock.rate, 1e-6))
            self._wakeup.set()
            self._expire_proposals()

    def _expire_proposals(self) -> None:
        now = time.monotonic()
        for p in self._inflight.values():
            if p.deadline < now and not p.future.done():
                p.future.set_exception(_Expired())

    def _due_ticks(self) -> int:
        total = int((self.clock.now() - self._tick_origin) / self.cfg.tick_interval)
        due = total - self._ticks_done
        self._ticks_done = total
        return due

    async def propose(self, data: bytes, client_id: bytes | None = None, seq: int | None = None,
                      timeout: float | None = None) -> Any:
        """Replicate ``data`` and return the state machine's result for it."""
        return (await self.propose_indexed(data, client_id, seq, timeout))[1]

    async def propose_indexed(self, data: bytes, client_id: bytes | None = None,
                              seq: int | None = None,
                              timeout: float | None = None) -> tuple[int, Any]:
        """Replicate ``data``; return the log index it was applied at and the result.

        Without a client id the proposal gets a node-local tag that is not deduplicated; a caller
        that retries (a SQL session) passes its own ``client_id`` and increasing ``seq``.
        """
        if client_id is None:
            client_id, seq = self._ephemeral_id, next(self._seq)
        assert seq is not None
        key = (client_id, seq)
        deadline = time.monotonic() + (timeout or self.cfg.propose_timeout)
        self.metrics.proposals += 1
        loop = asyncio.get_running_loop()
        while True:
            # also before a retry: a wait registered after stop() failed them all would
            # never end (no loop, no ticker to sweep it)
            if self._stopping or self.failed.is_set():
                raise ShuttingDownError("node is shutting down" if self._stopping
                                        else "node failed")
            # No timer per proposal (wait_for + shield cost more than the rest of propose):
            # the ticker's sweep fails waits whose deadline passed.
            fut: asyncio.Future[Any] = loop.create_future()
            self._waiters[key] = fut
            proposal = _Proposal(data, client_id, seq, fut, deadline=deadline)
            self._inflight[key] = proposal
            self._proposals.append(proposal)
            self._wakeup.set()
            try:
                return await fut
            except _Expired:
                self.metrics.proposals_failed += 1
                raise OutcomeUnknownError(
                    "the write was proposed but its outcome is unknown (timed out); "
                    "retry with the same client id and sequence") from None
            except (NoLeaderError, NotProposedError):
                # definitely not proposed: safe to try again once a leader is known
                if not await self._await_leader(min(deadline, self._leader_wait_deadline())):
                    raise
            finally:
                self._waiters.pop(key, None)
                self._inflight.pop(key, None)

    def _leader_wait_deadline(self) -> float:
        """How long a request waits for an election before reporting that there is no leader:
        three election timeouts, enough for a failover, short enough to fail fast in a minority."""
        return time.monotonic() + 3 * self.cfg.election_tick * self.cfg.tick_interval

    async def _await_leader(self, deadline: float) -> bool:
        while time.monotonic() < deadline and not self._stopping:
            await asyncio.sleep(self.cfg.tick_interval)
            if self._leader_id:
                return True
        return False

    async def read_barrier(self, level: str = "lease", timeout: float | None = None) -> int:
        """Wait until a read at ``level`` may be served from local state; return the read index.

        ``lease``: the leader's lease (no network round while it holds); ``linearizable``:
        ReadIndex with a quorum round; ``stale``: no check. A follower asks the leader for the
        read index and waits for its own state machine to reach it.
        """
        index = self.read_index_now(level)
        if index is not None:
            self.count_served_read(level)
            return index
        if level == "lease" and self.clock.now() < self._lease_until:
            index = self._lease_commit  # as in read_index_now; this node must catch up to it
            await self.wait_applied(index, timeout or self.cfg.read_timeout)
            self.count_served_read(level)
            return index
        self.metrics.reads[level] += 1
        if level not in ("lease", "linearizable"):
            raise ValueError(f"unknown read consistency {level!r}")
        if self._leader_id == 0 and not await self._await_leader(self._leader_wait_deadline()):
            raise NoLeaderError("no leader is known: cannot serve a consistent read")
        ctx = self.id.to_bytes(8, "big") + next(self._read_seq).to_bytes(8, "big")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._read_waiters[ctx] = fut
        self._read_lease[ctx] = level == "lease"
        self._read_requests.append((ctx, level == "lease"))
        self._wakeup.set()
        # a timer that fails the future, not wait_for: that wraps it in a second future and
        # costs 5-15 us more per read, a tenth of a linearizable read's CPU (issue 8)
        timer = loop.call_later(timeout or self.cfg.read_timeout, _read_timed_out, fut)
        try:
            return await fut
        finally:
            timer.cancel()
            self._read_waiters.pop(ctx, None)
            self._read_lease.pop(ctx, None)

    def read_index_now(self, level: str) -> int | None:
        """The read index of a read at ``level`` when it is known without waiting and this
        node has applied up to it; None when the caller must await `read_barrier`.

        ``stale`` reads are always served at once. A ``lease`` read is, while the lease
        holds: the loop saw a valid lease in this term when it last parked, and the core's
        state cannot have changed since (only the loop touches it). Its commit index then is
        the read index the core would answer with (_send_read_index_response). Why a plain
        function: a point read that never waits then costs no coroutine at all (issue 8)."""
        if level == "stale":
            return self.reads.applied
        if level == "lease" and self.clock.now() < self._lease_until:
            index = self._lease_commit
            if self.reads.applied >= index:
                return index
        return None

    def count_served_read(self, level: str) -> None:
        """Count a read served at a read index `read_index_now` gave (the caller counts
        only a read it went on to serve, since one it could not serve goes to read_barrier)."""
        self.metrics.reads[level] += 1
        if level == "lease":
            self.metrics.lease_fast_reads += 1

    async def wait_applied(self, index: int, timeout: float) -> None:
        """Wait until the local state machine has applied ``index`` (read-your-writes)."""
        async with self._applied_changed:
            await asyncio.wait_for(
                self._applied_changed.wait_for(lambda: self.reads.applied >= index), timeout)

    # ------------------------------------------------------------------ membership

    async def change_membership(self, changes: list[tuple[ConfChangeType, NodeId]],
                                context: bytes = b"", timeout: float = 10.0) -> ConfState:
        """Propose a membership change through this node, the leader; return the configuration
        once the change is applied.

        Refused with MembershipError, before anything is proposed, unless each change fits the
        configuration the leader's log leads to (``_membership_after_pending``): add a learner
        that is no member, promote (ADD_VOTER) a learner, remove a member, never the last
        voter. etcd refuses the same ("member already exists", "can only promote a learner
        member", "member not found"). The check runs in the Raft loop, in the same step as the
        proposal (``_propose_checked_conf_change``), so no other change comes in between.
        """
        cc = ConfChange(tuple(ConfChangeSingle(t, n) for t, n in changes), context)
        if not self.is_leader():
            raise NotProposedError("membership changes must be sent to the leader")
        client_id, seq = self._ephemeral_id, next(self._seq)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[(client_id, seq)] = fut
        proposal = _Proposal(b"", client_id, seq, fut)
        self._local_actions.append(lambda: self._propose_checked_conf_change(cc, proposal))
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise OutcomeUnknownError("membership change outcome unknown (timed out)") from None
        finally:
            self._waiters.pop((client_id, seq), None)
        return self.raw.status().conf_state

    def _propose_checked_conf_change(self, cc: ConfChange, p: _Proposal) -> None:
        """In the Raft loop: check ``cc`` against the configuration the log leads to, then
        propose it as ``p``; a refusal fails ``p.future`` and leaves the loop going."""
        if p.future.done():
            return
        try:
            if self.raw.raft.role is not Role.LEADER:  # a follower would forward it unchecked
                raise NotProposedError("membership changes must be sent to the leader")
            voters, learners = self._membership_after_pending()
            _check_membership_changes([(c.type, c.node_id) for c in cc.changes], voters,
                                      learners)
        except NodeError as exc:
            p.future.set_exception(exc)
            return
        try:
            self.raw.propose_conf_change(cc)
        except ProposalDroppedError as exc:  # another change pending, a transfer in progress
            self._not_proposed([p], exc)
            return
        self._pending_conf = (p.client_id, p.seq)

    def _membership_after_pending(self) -> tuple[set[NodeId], set[NodeId]]:
        """(voters, learners) of the configuration this leader's log leads to: the applied one
        plus the log's conf changes not applied yet, replayed by the core's own rules
        (``confchange.Changer``). None can lie past the core's ``pending_conf_index`` (the last
        one proposed, or the whole log a new leader inherited, thesis 4.1), so usually nothing
        is read. A joint configuration counts as the one it leaves to: its incoming voters,
        and its learners with the outgoing voters due to become learners."""
        r = self.raw.raft
        cfg, prs = r.trk.config, r.trk.progress
        applied, last = r.raft_log.applied, r.raft_log.last_index()
        if r.pending_conf_index > applied:
            for e in r.raft_log.slice(applied + 1, min(r.pending_conf_index, last) + 1):
                if e.type is EntryType.CONF_CHANGE:
                    changer = Changer(cfg, prs, last, r.cfg.max_inflight_msgs)
                    cfg, prs = changer.apply(decode_conf_change(e.data))
        return set(cfg.voters.incoming), set(cfg.learners | cfg.learners_next)

    async def transfer_leadership(self, to: NodeId | None, timeout: float = 5.0) -> NodeId:
        """Hand leadership to voter ``to`` (None: the most caught-up other voter) and return it
        once it leads. Refused at once with MembershipError when ``to`` is not a voter (the
        core would ignore the request, and the caller wait for nothing); ``to`` being this
        leader answers at once."""
        if not self.is_leader():
            raise NotProposedError("only the leader can transfer leadership")
        deadline = time.monotonic() + timeout
        fut: asyncio.Future[NodeId] = asyncio.get_running_loop().create_future()
        self._local_actions.append(lambda: self._start_transfer(to, fut))
        self._wakeup.set()
        try:
            target = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise OutcomeUnknownError("leadership transfer did not start in time") from None
        if target == self.id:
            return target
        while time.monotonic() < deadline:
            await asyncio.sleep(self.cfg.tick_interval)
            if self._leader_id == target:
                return target
        raise OutcomeUnknownError(f"leadership transfer to {target} did not finish in time")

    def _start_transfer(self, to: NodeId | None, fut: asyncio.Future[NodeId]) -> None:
        """In the Raft loop: pick or check the transferee, a voter both in the applied
        configuration and in the one the log leads to, and ask the core to transfer; ``fut``
        gets the transferee, or the refusal."""
        if fut.done():
            return
        r = self.raw.raft
        try:
            if r.role is not Role.LEADER:
                raise NotProposedError("only the leader can transfer leadership")
            if to == self.id:
                fut.set_result(to)
                return
            voters = r.trk.config.voters.ids() & self._membership_after_pending()[0]
            if to is None:
                candidates = [(r.trk.progress[v].match, v) for v in voters
                              if v != self.id and v in r.trk.progress]
                if not candidates:
                    raise MembershipError("no other voter to transfer leadership to")
                to = max(candidates)[1]
            elif to not in voters:
                raise MembershipError(f"node {to} is not a voter: cannot transfer leadership "
                                      "to it")
        except NodeError as exc:
            fut.set_exception(exc)
            return
        self.raw.transfer_leader(to)
        fut.set_result(to)

    # ------------------------------------------------------------------ observation

    def is_leader(self) -> bool:
        return self._is_leader

    def ticks_since_leader_contact(self) -> int:
        """Ticks since this node last heard from a leader (0 on the leader itself)."""
        r = self.raw.raft
        return 0 if r.role is Role.LEADER else r.ticks - (r.leader_contact_tick or 0)

    @property
    def status_snapshot(self) -> Status | None:
        """The core's status as of the last loop run (None before the first one).

        Built when asked for, not by every loop run: that cost ~9% of the leader's CPU at one
        client (cProfile). The core changes only inside a loop run, so building it later gives
        the same answer."""
        if self._status_stale:
            self._status = self.raw.status()
            self._status_stale = False
        return self._status

    @property
    def leader_id(self) -> NodeId:
        return self._leader_id

    def voters(self) -> tuple[NodeId, ...]:
        st = self.status_snapshot
        return st.conf_state.voters if st else ()

    def _refresh_status(self) -> None:
        r = self.raw.raft
        lead, term = r.lead, r.term
        if lead != self._leader_id:
            if lead:
                self.metrics.leader_changes += 1
            log.info("node %d: leader is now %s (term %d, role %s)", self.id,
                     lead or "unknown", term, r.reported_role().value)
            self._leader_id = lead
        if lead and (lead, term) != self._leader_term:
            self._leader_term = (lead, term)
            self._repropose()
        self._is_leader = r.role is Role.LEADER
        self._status_stale = True
        self._cache_lease()

    def _repropose(self) -> None:
        """A new leader or term: proposals and reads still waiting may have been lost with the old
        leader's uncommitted log (a follower's forwarded PROP, a deposed leader's tail).
        Those that carry a client's (id, seq) are proposed again: the state machine answers a
        duplicate with the first result (thesis 6.3), so a retry is never applied twice.
        Node-local ones (ephemeral tags, not deduplicated) are left to time out."""
        again = [p for p in self._inflight.values()
                 if not p.future.done() and not p.client_id.startswith(EPHEMERAL_PREFIX)]
        if again:
            self._proposals.extend(again)
            self._wakeup.set()
        # Read-index requests die with the leader that held them (the core keeps no queue
        # across a leader change): ask the new one. A duplicate answer is ignored.
        self._read_batches.clear()
        reads = [(ctx, lease) for ctx, lease in self._read_lease.items()
                 if not self._read_waiters[ctx].done()]
        if reads:
            self._read_requests.extend(reads)
            self._wakeup.set()

    def _cache_lease(self) -> None:
        """Remember until when a lease read needs neither the core nor the network.

        The core answers a lease read at once with its commit index when it leads, has
        committed an entry of its term (thesis 6.4) and has lease ticks left. Tick number n is
        due at ``_tick_origin + n * tick_interval`` and every due tick is delivered before a
        queued read (module docstring), so the lease the core reports holds until the tick that
        would exhaust it falls due. Reads before that instant may use the cached commit index;
        the cache is recomputed every time the loop has run, so a step-down or a new term
        clears it before any other task runs."""
        r = self.raw.raft
        remaining = r.lease_remaining()
        if remaining > 0 and r.committed_entry_in_current_term():
            self._lease_commit = r.raft_log.committed
            self._lease_until = self._tick_origin + (
                self._ticks_done + remaining
            ) * self.cfg.tick_interval
        else:
            self._lease_until = float("-inf")

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        try:
            while not self._stopping:
                await self._wakeup.wait()
                self._wakeup.clear()
                self.on_wake()
                self._step_inputs()
                applied_before = self.reads.applied
                while self.raw.has_ready():
                    await self._handle_one_ready()
                self._refresh_status()
                self._maybe_spin()
                if self.reads.applied != applied_before:
                    async with self._applied_changed:
                        self._applied_changed.notify_all()
                    await self._maybe_snapshot()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("node %d: the Raft loop failed; stopping", self.id)
            self._fail_all(NoLeaderError("node failed"))
            self.failed.set()
            raise

    def _lone_write(self) -> bool:
        """At most one proposal of this node waits: the latency-bound case, where its loop
        would idle while the acks travel (``_maybe_spin``, the apply ahead in
        ``_handle_one_ready``). With more, the loop has their clients' work meanwhile."""
        return len(self._waiters) <= 1

    def _maybe_spin(self) -> None:
        """Keep the loop polling, for at most ``cfg.ack_spin`` per entry, while a leader waits
        for the acks of a lone client's proposal.

        Why: on a virtual machine whose idle cores halt at once, a process woken from idle
        starts 0.1-0.2 ms after the packet that woke it (docs/benchmarks.md, twenty-second
        round). A lone client's write waits for that wake-up when its follower's ack arrives:
        the leader, done with its own fsync, has gone idle. A callback that schedules itself
        keeps the loop turning with a poll that does not sleep: the ack is read as it
        arrives, and every other callback, I/O and timer runs as usual meanwhile. Go's runtime
        spins likewise before it parks a thread (etcd gets that for free).

        Only with at most one proposal waiting: the CPU it burns is then idle anyway, and with
        more clients the loop rarely idles, while on a machine with fewer cores than busy
        processes the followers need that CPU to send the acks. The bound is per entry, so
        wake-ups for other reasons (a tick, a heartbeat's answer) do not extend it."""
        raft = self.raw.raft
        last = raft.raft_log.last_index()
        if (self._spinning or not self.cfg.ack_spin or raft.role is not Role.LEADER
                or raft.raft_log.committed >= last or not self._lone_write()):
            return
        now = time.perf_counter()
        if last != self._spin_index:
            self._spin_index, self._spin_until = last, now + self.cfg.ack_spin
        if now >= self._spin_until:
            return
        self._spinning = True
        self._spin_started = now
        asyncio.get_running_loop().call_soon(self._spin)

    def _spin(self) -> None:
        """One turn of the spin: schedule the next one, until the Raft task has something to
        do (an ack sets ``_wakeup``; once it has run, ``_run`` decides again), the bound
        passes, or the node stops."""
        now = time.perf_counter()
        if not self._wakeup.is_set() and now < self._spin_until and not self._stopping:
            asyncio.get_running_loop().call_soon(self._spin)
            return
        self._spinning = False
        self.metrics.ack_spin_seconds += now - self._spin_started

    def _step_inputs(self) -> None:
        due = self._due_ticks()
        if self.raw.raft.role is not Role.LEADER:
            due = min(due, 1)  # see the module docstring
        elif due * self.cfg.tick_interval >= self._half_election_timeout:
            self.metrics.leader_stalls += 1
            log.warning("node %d: the leader's event loop was held for %.2f s (%d ticks): its "
                        "heartbeats went out that late", self.id,
                        due * self.cfg.tick_interval, due)
        if due:
            self.raw.tick(due)
        while self._local_actions:
            self._local_actions.popleft()()
        inbox = self._inbox
        while inbox:
            self.raw.step(inbox.popleft())
        batch: list[_Proposal] = []
        size = 0
        while self._proposals:
            p = self._proposals.popleft()
            if p.future.done():
                continue
            batch.append(p)
            size += len(p.data)
            if size >= PROPOSAL_BATCH_BYTES:
                self._propose_batch(batch)
                batch, size = [], 0
        self._propose_batch(batch)
        if self._read_requests:
            self._request_read_index()

    def _propose_batch(self, batch: list[_Proposal]) -> None:
        """Everything proposed since the last loop run as ONE proposal message: one append,
        one message per follower, one ack back (not one each; measured: 4 messages received
        per write at 64 clients before)."""
        if not batch:
            return
        try:
            self.raw.propose_many([(p.data, p.client_id, p.seq) for p in batch])
        except ProposalDroppedError as exc:
            self._not_proposed(batch, exc)

    def _not_proposed(self, proposals: list[_Proposal], exc: ProposalDroppedError) -> None:
        for p in proposals:
            self.metrics.proposals_failed += 1
            if self._leader_id == 0:
                p.future.set_exception(NoLeaderError(f"no leader: {exc}"))
            else:
                p.future.set_exception(NotProposedError(f"not proposed: {exc}"))

    def _request_read_index(self) -> None:
        """One ReadIndex request per read level for all reads queued since the last one: each
        of them arrived before the request is made, so the index it returns serves them all
        (thesis 6.4: the read index is taken after the read arrived)."""
        by_level: dict[bool, list[bytes]] = {True: [], False: []}
        while self._read_requests:
            ctx, use_lease = self._read_requests.popleft()
            by_level[use_lease].append(ctx)
        for use_lease, ctxs in by_level.items():
            if not ctxs:
                continue
            batch = ctxs[0]
            if len(ctxs) > 1:
                batch = b"B" + self.id.to_bytes(8, "big") + next(self._read_seq).to_bytes(8, "big")
                self._read_batches[batch] = ctxs
            self.raw.read_index(batch, use_lease=use_lease)

    async def _handle_one_ready(self) -> None:
        rd = self.raw.ready()
        self.metrics.readies += 1
        t0 = time.perf_counter()
        start_ready(rd, self, self.transport)
        if self._sync_owed:
            await self._sync_wal()
            self.on_wake()
        out = finish_ready(self, rd, self.transport, self.sm, self.reads)
        if rd.entries and self.raw.raft.role is Role.LEADER and self._lone_write():
            # A lone write: applied while the followers' acks are on their way, when the loop
            # has nothing else to do (StateMachine.apply_ahead). With more writes waiting the
            # loop has their clients' work then: measured, applying ahead only moved work
            # (64 upsert clients: 7,171 against 7,159 writes/s) or did it twice when an
            # interactive transaction took the write lock meanwhile (TPC-B at 16 clients:
            # 1,199 against 1,244 tps, toggled every 2 s on the leader).
            self.sm.apply_ahead(rd.entries)
        self.metrics.apply_seconds += time.perf_counter() - t0
        self.metrics.applied_entries += len(out.applied)
        for entry, result in out.applied:
            key = (entry.client_id, entry.seq)
            if entry.type == EntryType.CONF_CHANGE and self._pending_conf is not None:
                key, self._pending_conf = self._pending_conf, None
            fut = self._waiters.get(key)
            if fut is not None and not fut.done():
                fut.set_result((entry.index, result))
        for rs in out.released_reads:
            for ctx in self._read_batches.pop(rs.request_ctx, (rs.request_ctx,)):
                rfut = self._read_waiters.get(ctx)
                if rfut is not None and not rfut.done():
                    rfut.set_result(rs.index)

    # ReadyNode protocol for handle_ready: the core, plus learning new members' addresses.
    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        cs = self.raw.apply_conf_change(cc)
        for change in cc.changes:
            if change.type != ConfChangeType.REMOVE_NODE:
                self.on_member_added(change.node_id, cc.context)
                if self.store.snapshot_metadata.index > 0:
                    self._snapshot_due = True
            elif change.node_id == self.id:
                log.warning("node %d: removed from the cluster", self.id)
            else:
                self.transport.remove_peer(change.node_id)
        return cs

    def advance(self, rd: Any) -> None:
        self.raw.advance(rd)

    # LogStore protocol for start_ready: one batch, timed for the metrics.
    def persist(self, hard_state: Any, entries: Any, snapshot: Any, sync: bool) -> None:
        t0 = time.perf_counter()
        snap = None if snapshot.empty else snapshot
        if sync and self.raw.raft.role is Role.LEADER and (  # see _sync_wal
                len(entries) > 1 or (entries and len(entries[0].data) >= PROPOSAL_BATCH_BYTES)):
            self.store.persist(hard_state, entries, snap, sync=False)
            self._sync_owed = True
            return
        self.store.persist(hard_state, entries, snap, sync=sync)
        if sync:
            self._count_fsync(time.perf_counter() - t0)

    def _count_fsync(self, seconds: float) -> None:
        """A synced log write, for the metrics; one that took half an election timeout or more
        is logged (etcd warns of a slow fdatasync likewise): meanwhile a follower could not
        ack, nor a leader heartbeat."""
        self.metrics.fsyncs += 1
        self.metrics.fsync_seconds += seconds
        if seconds >= self._half_election_timeout:
            self.metrics.slow_fsyncs += 1
            log.warning("node %d: a log fsync took %.3f s, half an election timeout or more: "
                        "the disk is slow or busy", self.id, seconds)

    async def _sync_wal(self) -> None:
        """A leader's fsync, on its own thread, while the loop serves clients: their statements
        are parsed and proposed meanwhile and join the next Ready. Nothing touches the core
        until the fsync is done (only this task calls into it); the lease cache is refreshed
        first, because this loop run's steps may have ended the lease (a higher term) and the
        tasks that run meanwhile read the cache. A follower fsyncs on the loop: the ack it then
        sends is all its loop waits for, and the hop to a thread would delay it. Nor does a
        leader's Ready of one small entry: one client is waiting and nobody else needs the
        loop (measured with one client: +100 us per write with the hop, none without). One of
        a megabyte or more (a bulk INSERT) does hop: the fsync of 16 MB held the loop for
        0.05-0.15 s."""
        self._sync_owed = False
        self._refresh_status()
        assert self._wal_syncer is not None
        seconds = await asyncio.wrap_future(self._wal_syncer.submit(self._timed_sync))
        self._count_fsync(seconds)

    def _timed_sync(self) -> float:
        """On the sync thread: the fsync's own duration, without the hops to and from the
        thread (raftsql_fsync_seconds is the disk's figure)."""
        t0 = time.perf_counter()
        self.store.sync_wal()
        return time.perf_counter() - t0

    async def _maybe_snapshot(self) -> None:
        """Start a snapshot when one is due; never wait for it.

        The state is pinned here, between two Readies, so it is exactly ``applied`` and the
        core's configuration is the membership as of ``applied``; the copy (seconds for a big
        database) runs on a worker thread while this loop goes on ticking, heartbeating and
        applying. Every node snapshots at the same index, so a loop that waited for the copy
        stopped the whole cluster's heartbeats and the leader lost its leadership at each
        snapshot (docs/design.md, "Snapshots"). One snapshot at a time; a failure is logged
        and retried later, never raised into the Raft loop."""
        applied = self.reads.applied
        # a snapshot installed from the leader counts as the latest one
        self._last_snapshot_index = max(self._last_snapshot_index,
                                        self.store.snapshot_metadata.index)
        if self._snapshot_task is not None or self._stopping:
            return
        # while replaying after a restart the state machine is ahead of `applied`: wait
        due = self._snapshot_due and self.sm.applied_index() == applied
        interval = self.cfg.snapshot_entries or self._default_interval()
        if applied - self._last_snapshot_index < interval and not due:
            return
        if self.sm.applied_index() != applied:
            return
        if applied <= self.store.snapshot_metadata.index:
            # a leader's snapshot at or past `applied` was installed: it is newer than any
            # member added so far (it was taken after the change that set `_snapshot_due`)
            self._snapshot_due = False
            return
        if time.monotonic() < self._snapshot_retry_at:
            return
        try:
            meta = self.store.snapshot_meta(applied, self.raw.status().conf_state)
            pinned = self.sm.pin_snapshot()
        except Exception:
            log.exception("node %d: could not pin the state at %d for a snapshot", self.id,
                          applied)
            self._snapshot_failed()
            return
        if pinned.index != applied:  # nothing else writes the state machine: a bug, not fatal
            pinned.close()
            log.error("node %d: pinned the state at %d for a snapshot at %d; not taken",
                      self.id, pinned.index, applied)
            self._snapshot_failed()
            return
        self._snapshot_due = False
        self._snapshot_pin = pinned
        log.info("node %d: snapshot at %d started", self.id, applied)
        self._snapshot_task = asyncio.create_task(self._snapshot(meta, pinned, due),
                                                  name=f"raft-snapshot-{self.id}")

    def _default_interval(self) -> int:
        """``snapshot_interval`` for the state's size when the last snapshot was taken: measured
        once per snapshot period (it asks SQLite; this runs on every loop run)."""
        base = self._last_snapshot_index
        if self._interval_measured is None or self._interval_measured[0] != base:
            self._interval_measured = (base, snapshot_interval(self.sm.size_bytes()))
        return self._interval_measured[1]

    async def _snapshot(self, meta: SnapshotMetadata, pinned: PinnedState, due: bool) -> None:
        """Copy the pinned state and write its file on a worker thread; then, back on the loop
        (the only place the store's metadata and log change), make it the snapshot and compact.

        A snapshot from the leader installed meanwhile is newer (it is only installed above the
        applied index): ``commit_snapshot`` then drops this one. ``due``: it was taken for a new
        member, and is due again if it fails."""
        t0 = time.monotonic()
        try:
            size = await asyncio.to_thread(self._write_snapshot, meta, pinned)
            copy_seconds = time.monotonic() - t0
            if not self.store.commit_snapshot(meta):
                log.info("node %d: snapshot at %d dropped: the leader's snapshot at %d was "
                         "installed while it was copied", self.id, meta.index,
                         self.store.snapshot_metadata.index)
                return
            kept = (self.cfg.snapshot_entries or DEFAULT_SNAPSHOT_ENTRIES) // 10
            keep_from = max(meta.index - kept, self.store.first_index())
            if keep_from - 1 > self.store.first_index() - 1:
                self.store.compact(keep_from - 1)
            self._last_snapshot_index = max(self._last_snapshot_index, meta.index)
            self._snapshot_failures = 0
            self.metrics.snapshots_taken += 1
            log.info("node %d: snapshot at %d (%d bytes, copied in %.3f s in the background), "
                     "log compacted to %d", self.id, meta.index, size, copy_seconds,
                     self.store.first_index() - 1)
            try:
                await asyncio.to_thread(self.store.prune_snapshot_files, meta)
            except OSError:
                log.exception("node %d: could not delete the snapshot files older than %d",
                              self.id, meta.index)
        except Exception:
            if self._stopping:
                log.info("node %d: snapshot at %d abandoned: the node is stopping", self.id,
                         meta.index)
            else:
                log.exception("node %d: snapshot at %d failed; the log is kept and the "
                              "snapshot tried again later", self.id, meta.index)
                self._snapshot_due = self._snapshot_due or due
                self._snapshot_failed()
        finally:
            self._snapshot_task = None
            self._snapshot_pin = None

    def _write_snapshot(self, meta: SnapshotMetadata, pinned: PinnedState) -> int:
        """On a worker thread: the pinned state into the snapshot file (durably). Only the
        snapshot directory is touched, never the store's state, which the loop owns."""
        pinned.copy(self.store.snapshot_copy_path(meta))
        return self.store.seal_snapshot_file(meta)

    def _snapshot_failed(self) -> None:
        self._snapshot_failures += 1
        delay = min(SNAPSHOT_RETRY_MAX_SECONDS, 2.0 ** (self._snapshot_failures - 1))
        self._snapshot_retry_at = time.monotonic() + delay

    async def _stop_snapshot(self) -> None:
        """At shutdown: make a copy in progress give up and wait for its task, which ends
        soon after (the copy checks between steps), so the state machine and the store are
        closed only once no thread uses them. Not cancelled: the worker thread would go on."""
        task, pinned = self._snapshot_task, self._snapshot_pin
        if task is None:
            return
        if pinned is not None:
            pinned.abort()
        await asyncio.gather(task, return_exceptions=True)

    def _fail_all(self, exc: Exception) -> None:
        for fut in list(self._waiters.values()) + list(self._read_waiters.values()):
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: nobody may be waiting any more

    def add_peer_address(self, peer_id: NodeId, host: str, port: int) -> None:
        self.transport.add_peer(peer_id, host, port)

    def member_address(self, node_id: NodeId) -> tuple[str, int] | None:
        """A member's Raft address as this node knows it: its own listener, the address it
        dials a peer at (members added later included), or the one it was started with."""
        if node_id == self.id:
            return self.cfg.peers.get(node_id, self.cfg.raft_listen)
        return self.transport.peer_address(node_id) or self.cfg.peers.get(node_id)

    def describe(self) -> dict[str, Any]:
        """The node's state as plain data: /status, ``raftsql status`` and ``raftsql_status``."""
        st = self.status_snapshot
        assert st is not None
        peers = {}
        for pid, pr in sorted(st.progress.items()):
            peers[str(pid)] = {
                "match": pr.match, "next": pr.next, "state": pr.state.name.lower(),
                "lag": max(st.commit - pr.match, 0), "learner": pr.is_learner,
                "connected": pid == self.id or self.transport.is_connected(pid),
            }
        role = st.role.value
        if st.role is Role.FOLLOWER and self.id in st.conf_state.learners:
            role = Role.LEARNER.value
        m = self.metrics
        return {
            "node_id": self.id,
            "role": role,
            "term": st.term,
            "vote": st.vote,
            "leader_id": st.leader_id or None,
            "commit_index": st.commit,
            "applied_index": self.reads.applied,
            "lease_remaining_ms": round(st.lease_remaining_ticks * self.cfg.tick_interval * 1000),
            "voters": list(st.conf_state.voters),
            "learners": list(st.conf_state.learners),
            "peers": peers,
            "first_index": self.store.first_index(),
            "last_index": self.store.last_index(),
            "snapshot_index": self.store.snapshot_metadata.index,
            "metrics": {
                "proposals": m.proposals, "proposals_failed": m.proposals_failed,
                "applied_entries": m.applied_entries, "fsyncs": m.fsyncs,
                "fsync_seconds": round(m.fsync_seconds, 6), "leader_changes": m.leader_changes,
                "snapshots_taken": m.snapshots_taken, "reads": dict(m.reads),
                "slow_fsyncs": m.slow_fsyncs, "leader_stalls": m.leader_stalls,
                "lease_fast_reads": m.lease_fast_reads, "readies": m.readies,
                "messages_sent": self.transport.stats.sent,
                "messages_received": self.transport.stats.received,
            },
        }
