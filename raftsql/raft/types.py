"""Value types of the Raft core: entries, messages, hard state, snapshots, Ready.

These are the contract between the pure core (``raftsql.raft``), the codec that puts them on the
wire and on disk (``raftsql.codec``), the storage that persists them (``raftsql.storage``) and the
runtime and simulator that move them (``raftsql.node``, ``raftsql.testing``). Everything here is
plain data: no behaviour beyond small derived properties, so every layer can rely on the same
shapes. Field names follow etcd-io/raft's raftpb where a counterpart exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

NodeId = int
"""A node's identity. Never 0: 0 means "none" (no vote, no leader)."""

NONE: NodeId = 0


class EntryType(enum.IntEnum):
    NORMAL = 0
    """An application command (``data``); empty data is the leader's no-op on election."""
    CONF_CHANGE = 1
    """``data`` is an encoded :class:`ConfChange` (see ``raftsql.raft.confchange``)."""


@dataclass(slots=True)
class Entry:
    """One log entry.

    ``client_id``/``seq`` identify the proposer's request (Raft thesis 6.3) so that the state
    machine can answer a retried request with the first result instead of applying it twice.
    ``client_id`` is empty for entries that need no dedup (no-ops, config changes).

    Not frozen, but never changed once made: a frozen dataclass's __init__ costs four times
    as much (object.__setattr__ per field), and one is made per write on every node (issue 8).
    """

    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""
    client_id: bytes = b""
    seq: int = 0

    def size(self) -> int:
        """Approximate encoded size, used for batching limits."""
        return len(self.data) + len(self.client_id) + 24


class ConfChangeType(enum.IntEnum):
    ADD_VOTER = 0
    ADD_LEARNER = 1
    REMOVE_NODE = 2


@dataclass(slots=True, frozen=True)
class ConfChangeSingle:
    type: ConfChangeType
    node_id: NodeId


@dataclass(slots=True, frozen=True)
class ConfChange:
    """A membership change proposal.

    One change of a voter is applied directly (Raft thesis 4.1, one server at a time). Several
    changes at once go through joint consensus (thesis 4.3): the leader enters the joint
    configuration and leaves it automatically once that is committed. ``context`` is opaque
    application data (e.g. the new node's address).
    """

    changes: tuple[ConfChangeSingle, ...]
    context: bytes = b""


@dataclass(slots=True, frozen=True)
class ConfState:
    """The membership of a configuration.

    ``voters_outgoing`` is non-empty only in a joint configuration (C_old,new): then a decision
    needs a majority of ``voters`` and a majority of ``voters_outgoing``. ``learners`` receive the
    log but never vote and never count towards a quorum.
    """

    voters: tuple[NodeId, ...] = ()
    learners: tuple[NodeId, ...] = ()
    voters_outgoing: tuple[NodeId, ...] = ()
    learners_next: tuple[NodeId, ...] = ()
    auto_leave: bool = False

    @property
    def joint(self) -> bool:
        return bool(self.voters_outgoing)


@dataclass(slots=True, frozen=True)
class HardState:
    """What a node must persist (fsync) before it sends any message that depends on it."""

    term: int = 0
    vote: NodeId = NONE
    commit: int = 0


EMPTY_HARD_STATE = HardState()


@dataclass(slots=True, frozen=True)
class SnapshotMetadata:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(slots=True, frozen=True)
class Snapshot:
    """A state-machine snapshot at ``metadata.index``. ``data`` is opaque to the core.

    On the wire a large snapshot travels in chunks (``MsgSnap`` with ``snapshot_offset`` and
    ``snapshot_done``); inside the core it is whole.
    """

    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)
    data: bytes | memoryview = b""
    """A leader's own snapshot may be a view of its mapped file (storage/snapshots.py), one
    reassembled from chunks a view of the receiver's buffer (core._handle_snapshot_chunk)."""

    @property
    def empty(self) -> bool:
        return self.metadata.index == 0


EMPTY_SNAPSHOT = Snapshot()


class MessageType(enum.IntEnum):
    # Local messages: never sent over the network, they are how local intents enter ``step``.
    HUP = 0  # start an election (or pre-election)
    BEAT = 1  # leader: send heartbeats
    PROP = 2  # propose entries (a follower forwards it to the leader)
    CHECK_QUORUM = 3  # leader: step down unless a quorum was heard from recently
    READ_INDEX = 4  # request a read index (a follower forwards it to the leader)
    TRANSFER_LEADER = 5  # leader: hand leadership to ``frm`` (the transferee)
    SNAP_STATUS = 6  # runtime reports whether sending a snapshot to ``frm`` succeeded
    UNREACHABLE = 7  # runtime reports ``frm`` unreachable: fall back to probing
    # Network messages.
    APP = 10
    APP_RESP = 11
    VOTE = 12
    VOTE_RESP = 13
    PRE_VOTE = 14
    PRE_VOTE_RESP = 15
    SNAP = 16
    HEARTBEAT = 17
    HEARTBEAT_RESP = 18
    READ_INDEX_RESP = 19
    TIMEOUT_NOW = 20


LOCAL_MESSAGES = frozenset(
    {
        MessageType.HUP,
        MessageType.BEAT,
        MessageType.CHECK_QUORUM,
        MessageType.SNAP_STATUS,
        MessageType.UNREACHABLE,
    }
)
"""Messages that never leave the node. PROP, READ_INDEX and TRANSFER_LEADER may be forwarded."""

RESPONSE_MESSAGES = frozenset(
    {
        MessageType.APP_RESP,
        MessageType.VOTE_RESP,
        MessageType.PRE_VOTE_RESP,
        MessageType.HEARTBEAT_RESP,
        MessageType.READ_INDEX_RESP,
    }
)


@dataclass(slots=True)
class Message:
    """A Raft message. Which fields matter depends on ``type``, as in etcd's raftpb.Message.

    - APP: ``log_term``/``index`` identify the entry before ``entries``; ``commit``.
    - APP_RESP: ``index`` is the last index the follower now matches (or, when ``reject``, the
      index that was rejected); ``reject_hint``/``log_term`` carry the fast-backtracking hint:
      the follower's guess of the largest index that may match and the term at that index.
    - VOTE/PRE_VOTE: ``index``/``log_term`` are the candidate's last entry; ``term`` is the term
      campaigned for (for PRE_VOTE the next term, not yet adopted). ``context`` is
      ``b"transfer"`` when the election follows a leadership transfer.
    - HEARTBEAT: ``commit`` = min(leader commit, follower's match); ``context`` echoes a ReadIndex
      round; HEARTBEAT_RESP echoes ``context``.
    - SNAP: ``snapshot`` with chunking fields ``snapshot_offset`` and ``snapshot_done``.
    - READ_INDEX/READ_INDEX_RESP: ``entries`` carries one entry whose ``data`` is the request
      context; ``index`` in the response is the read index, ``commit`` what a heartbeat would
      carry (min(leader commit, follower's match)), so the follower can apply up to it.
    """

    type: MessageType
    to: NodeId = NONE
    frm: NodeId = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    snapshot_offset: int = 0
    snapshot_done: bool = True
    context: bytes = b""


class Role(enum.Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    PRE_CANDIDATE = "precandidate"
    LEADER = "leader"
    LEARNER = "learner"
    """Reported for a node that is a learner in its current configuration (it never campaigns)."""


@dataclass(slots=True, frozen=True)
class SoftState:
    """Volatile state that needs no persistence but that the runtime wants to know about."""

    leader_id: NodeId = NONE
    role: Role = Role.FOLLOWER


@dataclass(slots=True, frozen=True)
class ReadState:
    """A read request is safe to serve once the local state machine applied ``index``.

    ``request_ctx`` is the context given to ``RawNode.read_index``; the runtime matches it to the
    waiting reader.
    """

    index: int
    request_ctx: bytes


@dataclass(slots=True)
class Ready:
    """Everything the runtime must do after a batch of inputs, in this order (etcd's README):

    1. persist ``snapshot`` (if not empty), ``entries`` and ``hard_state`` (if not None) in one
       write, synced when ``must_sync``;
    2. send ``messages`` (these may be sent before or in parallel with step 1) and, only after
       step 1 is durable, ``persisted_messages``;
    3. apply ``snapshot`` then ``committed_entries`` to the state machine, in order;
    4. serve ``read_states`` once applied >= their index;
    5. call ``RawNode.advance(ready)``.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    read_states: list[ReadState] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot = EMPTY_SNAPSHOT
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    persisted_messages: list[Message] = field(default_factory=list)
    must_sync: bool = False

    def contains_updates(self) -> bool:
        return bool(
            self.soft_state is not None
            or self.hard_state is not None
            or self.read_states
            or self.entries
            or not self.snapshot.empty
            or self.committed_entries
            or self.messages
            or self.persisted_messages
        )
