"""The one Ready handler, shared by the asyncio node and the simulator.

Why one function: the durability ordering of Raft (etcd's README, "Usage", steps 1-4; Raft paper
section 5, "Rules for Servers": persist before responding) is easy to get subtly wrong, and a
simulator only proves something about production if it runs the same ordering code
(FoundationDB's "same code in production and simulation"). So the order lives here, once:

1. send ``messages`` (they do not depend on this Ready's write);
2. persist snapshot, entries and hard state in ONE write, synced when ``must_sync``;
3. send ``persisted_messages`` (votes, append acks: they promise what step 2 made durable);
4. restore the state machine from the snapshot, then apply ``committed_entries`` in order
   (one batch), and hand CONF_CHANGE entries to ``node.apply_conf_change`` in log order;
5. release the read states whose index is now applied;
6. ``node.advance(rd)``.

Nothing here knows about asyncio, sockets, files or the simulator: the three collaborators are
small Protocols, and the caller decides whether ``persist`` blocks on an fsync or on a virtual
disk. ``handle_ready`` runs all six steps; a caller that waits for step 2's fsync without
blocking (the asyncio node's leader) calls ``start_ready`` and ``finish_ready`` around its wait.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from raftsql.raft.types import (
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    ReadState,
    Ready,
    Snapshot,
)


class LogStore(Protocol):
    """Durable Raft state. ``persist`` is one atomic write (one RocksDB write batch)."""

    def persist(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot,
        sync: bool,
    ) -> None: ...


class Transport(Protocol):
    """Hands messages to the network; never blocks on delivery and may lose them."""

    def send(self, msgs: Sequence[Message]) -> None: ...


class StateMachine(Protocol):
    """The replicated state machine. ``apply_entries`` sees every committed entry, in order
    and without gaps (also no-ops and CONF_CHANGE entries, so that it can record its applied
    index), and returns one result per entry, the one its waiting proposer gets. It may apply
    the batch as one atomic step (one SQLite transaction). ``restore`` replaces the whole
    state with a snapshot's data."""

    def apply_entries(self, entries: Sequence[Entry]) -> list[Any]: ...

    def restore(self, snapshot: Snapshot) -> None: ...


class ReadyNode(Protocol):
    """The part of ``RawNode`` the handler drives."""

    def apply_conf_change(self, cc: ConfChange) -> ConfState: ...

    def advance(self, rd: Ready) -> None: ...


def _decode_conf_change(data: bytes) -> ConfChange:
    from raftsql.raft.confchange import decode_conf_change

    return decode_conf_change(data)


@dataclass
class PendingReads:
    """Read states that wait until the state machine has applied their index.

    Raft thesis section 6.4, step 4: a ReadIndex read may be served once applied >= read index.
    ``applied`` is the state machine's applied index as the handler last saw it.
    """

    applied: int = 0
    waiting: list[ReadState] = field(default_factory=list)

    def add(self, states: Sequence[ReadState]) -> None:
        self.waiting.extend(states)

    def release(self) -> list[ReadState]:
        """Remove and return every waiting read whose index is applied, in arrival order."""
        ready = [rs for rs in self.waiting if rs.index <= self.applied]
        if ready:
            self.waiting = [rs for rs in self.waiting if rs.index > self.applied]
        return ready


@dataclass
class ReadyOutcome:
    """What handling one Ready produced, for the caller to deliver to waiting clients."""

    applied: list[tuple[Entry, Any]] = field(default_factory=list)
    conf_states: list[tuple[int, ConfState]] = field(default_factory=list)
    released_reads: list[ReadState] = field(default_factory=list)
    restored: Snapshot | None = None


def handle_ready(
    node: ReadyNode,
    rd: Ready,
    log_store: LogStore,
    transport: Transport,
    state_machine: StateMachine,
    reads: PendingReads,
    decode_conf_change: Callable[[bytes], ConfChange] = _decode_conf_change,
) -> ReadyOutcome:
    """Carry out one Ready in the order Raft's safety needs, then advance the node.

    ``reads`` carries the applied index and the reads still waiting between calls; the caller
    owns it (one per node). Returns what was applied and which reads may now be served.
    """
    start_ready(rd, log_store, transport)
    return finish_ready(node, rd, transport, state_machine, reads, decode_conf_change)


def start_ready(rd: Ready, log_store: LogStore, transport: Transport) -> None:
    """Steps 1 and 2. A caller whose ``persist`` only wrote the batch (the asyncio node's
    leader, which waits for the fsync on another thread so that its loop serves clients
    meanwhile) must finish the fsync before ``finish_ready``."""
    if rd.messages:
        transport.send(rd.messages)
    if rd.hard_state is not None or rd.entries or not rd.snapshot.empty:
        log_store.persist(rd.hard_state, rd.entries, rd.snapshot, rd.must_sync)


def finish_ready(
    node: ReadyNode,
    rd: Ready,
    transport: Transport,
    state_machine: StateMachine,
    reads: PendingReads,
    decode_conf_change: Callable[[bytes], ConfChange] = _decode_conf_change,
) -> ReadyOutcome:
    """Steps 3 to 6, once step 2's write is durable."""
    out = ReadyOutcome()
    if rd.persisted_messages:
        transport.send(rd.persisted_messages)

    if not rd.snapshot.empty:
        assert rd.snapshot.metadata.index > reads.applied, "snapshot older than applied state"
        state_machine.restore(rd.snapshot)
        reads.applied = rd.snapshot.metadata.index
        out.restored = rd.snapshot
    entries = rd.committed_entries
    if entries:
        assert entries[0].index == reads.applied + 1, (
            f"apply gap: entry {entries[0].index} after applied {reads.applied}"
        )
        # The state machine takes the whole batch (one SQLite transaction); configuration
        # changes then reach the core in log order. The core is not touched in between, so
        # to it this is the same as interleaving them.
        results = state_machine.apply_entries(entries)
        for entry, result in zip(entries, results, strict=True):
            if entry.type == EntryType.CONF_CHANGE:
                cs = node.apply_conf_change(decode_conf_change(entry.data))
                out.conf_states.append((entry.index, cs))
            out.applied.append((entry, result))
        reads.applied = entries[-1].index

    reads.add(rd.read_states)
    out.released_reads = reads.release()
    node.advance(rd)
    return out
