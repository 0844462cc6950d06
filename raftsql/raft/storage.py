"""The read-only view of durable Raft state the core may use, and an in-memory reference.

The core only reads storage (etcd ``storage.go``); writes happen in the runtime while it handles
a Ready, so "forgot to persist before sending" cannot hide inside the core. ``MemoryLog`` is the
reference implementation used by tests and the simulator, shaped like etcd's MemoryStorage: its
first slot is a dummy entry holding the index and term of the last compaction point.
"""

from __future__ import annotations

from typing import Protocol

from .types import (
    EMPTY_HARD_STATE,
    ConfState,
    Entry,
    HardState,
    Snapshot,
    SnapshotMetadata,
)


class RaftError(Exception):
    """Base class of the core's errors."""


class CompactedError(RaftError):
    """The requested index is below the first available index (compacted into a snapshot)."""


class UnavailableError(RaftError):
    """The requested index is beyond the last index in storage."""


class SnapshotTemporarilyUnavailableError(RaftError):
    """The snapshot is being produced; the leader retries later."""


class SnapshotOutOfDateError(RaftError):
    """A snapshot older than the current one was offered."""


class SnapshotBuffer(Protocol):
    """Where a follower reassembles a snapshot that arrives in chunks (``Config.snapshot_buffer``
    makes one per snapshot). Scratch space, not durable state: ``view`` hands the whole
    snapshot to the core, which puts it in a Ready, and the runtime persists it from there as
    any other. The core's default keeps it in memory (``MemoryBuffer``); the node spools it to
    a file (storage/snapshots.py), so that a follower catching up does not hold a copy of the
    whole database in its heap."""

    def append(self, chunk: bytes | memoryview) -> None: ...

    def __len__(self) -> int: ...

    def view(self) -> bytes | memoryview:
        """Everything appended, read-only; nothing is appended after."""
        ...

    def discard(self) -> None:
        """Drop what was received (a chunk went missing, or another snapshot started)."""
        ...


class MemoryBuffer:
    """``SnapshotBuffer`` in memory."""

    def __init__(self) -> None:
        self._data = bytearray()

    def append(self, chunk: bytes | memoryview) -> None:
        self._data += chunk

    def __len__(self) -> int:
        return len(self._data)

    def view(self) -> memoryview:
        # a read-only view, not bytes(): a copy of the whole database was a second one in
        # memory at once (the core drops this buffer, so nothing else writes it)
        return memoryview(self._data).toreadonly()

    def discard(self) -> None:
        self._data = bytearray()


class LogReader(Protocol):
    """What the core reads from durable storage. See docs/raft-api.md."""

    def initial_state(self) -> tuple[HardState, ConfState]: ...

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]: ...

    def term(self, index: int) -> int: ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot: ...


def limit_size(entries: list[Entry], max_size: int | None) -> list[Entry]:
    """Cut ``entries`` to a prefix of at most ``max_size`` bytes, but never below one entry."""
    if max_size is None or not entries:
        return entries
    total = 0
    for i, e in enumerate(entries):
        total += len(e.data) + len(e.client_id) + 24  # Entry.size(), inline: a hot loop
        if total > max_size and i > 0:
            return entries[:i]
    return entries


class MemoryLog:
    """An in-memory LogReader with the write methods a runtime calls while handling a Ready."""

    def __init__(self, conf_state: ConfState | None = None) -> None:
        self._hard_state = EMPTY_HARD_STATE
        self._conf_state = conf_state or ConfState()
        self._snapshot = Snapshot(SnapshotMetadata(conf_state=self._conf_state))
        # _ents[0] is a dummy entry at the compaction point (index and term of the snapshot).
        self._ents: list[Entry] = [Entry(term=0, index=0)]

    # --- LogReader -------------------------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._conf_state

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError(f"entries({lo}) at or below compaction point {offset}")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"entries(hi={hi}) beyond last index {self.last_index()}")
        return limit_size(self._ents[lo - offset : hi - offset], max_size)

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise CompactedError(f"term({index}) below compaction point {offset}")
        if index - offset >= len(self._ents):
            raise UnavailableError(f"term({index}) beyond last index {self.last_index()}")
        return self._ents[index - offset].term

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # --- writes (runtime only, while handling a Ready) ---------------------------------------
    def set_hard_state(self, hs: HardState) -> None:
        self._hard_state = hs

    def set_conf_state(self, cs: ConfState) -> None:
        """Record the membership the runtime has applied (returned by initial_state on restart)."""
        self._conf_state = cs

    def append(self, entries: list[Entry]) -> None:
        """Append ``entries``, replacing any conflicting suffix; entries below the snapshot are skipped."""
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise UnavailableError(
                f"missing log entries: last {self.last_index()}, appending at {entries[0].index}"
            )
        del self._ents[offset:]  # in place: appending at the end must not copy the log
        self._ents.extend(entries)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the whole log with ``snap`` (a follower restoring a leader's snapshot)."""
        if snap.metadata.index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDateError(
                f"snapshot {snap.metadata.index} <= current {self._snapshot.metadata.index}"
            )
        self._snapshot = snap
        self._conf_state = snap.metadata.conf_state
        self._ents = [Entry(term=snap.metadata.term, index=snap.metadata.index)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a state-machine snapshot taken at applied ``index``."""
        if index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDateError(f"snapshot {index} <= {self._snapshot.metadata.index}")
        if index > self.last_index():
            raise UnavailableError(f"snapshot {index} beyond last index {self.last_index()}")
        meta = SnapshotMetadata(index=index, term=self.term(index), conf_state=conf_state)
        self._snapshot = Snapshot(meta, data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Drop entries up to and including ``index`` (normally after create_snapshot)."""
        offset = self._ents[0].index
        if index <= offset:
            raise CompactedError(f"compact({index}) at or below compaction point {offset}")
        if index > self.last_index():
            raise UnavailableError(f"compact({index}) beyond last index {self.last_index()}")
        dummy = Entry(term=self.term(index), index=index)
        self._ents = [dummy] + self._ents[index - offset + 1 :]
