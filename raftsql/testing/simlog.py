"""A simulated disk for one node's Raft log: what is written versus what is durable.

The node reads a live ``MemoryLog`` (every write it made, as a real process reads its own
page cache). Durability is tracked beside it: a write with ``sync`` makes itself and every
earlier write durable (an fsync flushes everything before it); an unsynced write stays
volatile. A crash keeps only the durable image plus, when the seed says so, a prefix of the
volatile writes, possibly cutting the first lost batch in the middle (a torn write). This is
TigerBeetle's "pending writes may complete only partly" (``src/testing/storage.zig``) for a
log store. The restarted node is built from that image alone (``durable.to_memory_log``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from raftsql.raft.storage import MemoryLog
from raftsql.raft.types import (
    ConfState,
    Entry,
    HardState,
    Snapshot,
    SnapshotMetadata,
)


@dataclass
class DurableImage:
    """What survives a crash: hard state, the latest snapshot and the entries after it.

    A bootstrapped node has an empty snapshot (index 0) whose conf_state names the initial
    voters, as etcd's MemoryStorage does for a new cluster."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot = field(default_factory=Snapshot)
    entries: list[Entry] = field(default_factory=list)

    @property
    def offset(self) -> int:
        return self.snapshot.metadata.index

    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.offset

    def term(self, index: int) -> int | None:
        """Term at ``index``; None when it is compacted away or beyond the end."""
        if index == self.offset:
            return self.snapshot.metadata.term
        pos = index - self.offset - 1
        if 0 <= pos < len(self.entries):
            return self.entries[pos].term
        return None

    def append(self, entries: Sequence[Entry]) -> None:
        """Write ``entries``, dropping any suffix they replace (Raft paper 5.3, step 3)."""
        ents = [e for e in entries if e.index > self.offset]
        if not ents:
            return
        first = ents[0].index
        assert first <= self.last_index() + 1, f"gap: {first} after {self.last_index()}"
        del self.entries[first - self.offset - 1 :]
        self.entries.extend(ents)

    def apply(self, batch: Batch) -> None:
        """Apply one write (a torn write is a Batch with a prefix of the entries and no hard
        state)."""
        if not batch.snapshot.empty:
            self.snapshot = batch.snapshot
            self.entries = []
        self.append(batch.entries)
        if batch.hard_state is not None:
            self.hard_state = batch.hard_state

    def to_memory_log(self) -> MemoryLog:
        log = MemoryLog(conf_state=self.snapshot.metadata.conf_state)
        if not self.snapshot.empty:
            log.apply_snapshot(self.snapshot)
        if self.entries:
            log.append(list(self.entries))
        log.set_hard_state(self.hard_state)
        return log

    def copy(self) -> DurableImage:
        return DurableImage(self.hard_state, self.snapshot, list(self.entries))


@dataclass(frozen=True)
class Batch:
    """One ``persist`` call: the unit of atomicity, unless a crash tears it."""

    hard_state: HardState | None
    entries: list[Entry]
    snapshot: Snapshot


OnDurable = Callable[[DurableImage, Batch], None]


class SimLog:
    """The LogStore of a simulated node (``raftsql.node.ready.LogStore``)."""

    def __init__(self, image: DurableImage, on_durable: OnDurable | None = None) -> None:
        self.durable = image
        self.live: MemoryLog = image.to_memory_log()
        self.volatile: list[Batch] = []
        self.on_durable = on_durable
        self.syncs = 0

    # LogStore
    def persist(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot,
        sync: bool,
    ) -> None:
        batch = Batch(hard_state, list(entries), snapshot)
        if not snapshot.empty:
            self.live.apply_snapshot(snapshot)
        if batch.entries:
            self.live.append(batch.entries)
        if hard_state is not None:
            self.live.set_hard_state(hard_state)
        self.volatile.append(batch)
        if sync:
            self.sync()

    def sync(self) -> None:
        """fsync: every earlier write becomes durable, in order."""
        self.syncs += 1
        for batch in self.volatile:
            self.durable.apply(batch)
            if self.on_durable is not None:
                self.on_durable(self.durable, batch)
        self.volatile = []

    def compact(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot | None:
        """Take a snapshot at ``index`` (applied, hence committed) and drop the log before it.

        The snapshot file is written and synced before the log is cut, as a real store must.
        Returns None when ``index`` is not newer than the current snapshot or not yet durable.
        """
        self.sync()
        term = self.durable.term(index)
        if index <= self.durable.offset or term is None:
            return None
        snap = Snapshot(SnapshotMetadata(index=index, term=term, conf_state=conf_state), data)
        self.live.create_snapshot(index, conf_state, data)
        self.live.compact(index)
        self.durable.entries = [e for e in self.durable.entries if e.index > index]
        self.durable.snapshot = snap
        return snap

    def crash(self, rng: random.Random, tear: bool) -> DurableImage:
        """The disk after power loss: durable image plus maybe a prefix of volatile writes."""
        image = self.durable
        if self.volatile and tear:
            keep = rng.randint(0, len(self.volatile))
            survivors = list(self.volatile[:keep])
            if keep < len(self.volatile):
                cut = self.volatile[keep]
                if cut.entries and cut.snapshot.empty:
                    limit = rng.randint(0, len(cut.entries))
                    survivors.append(Batch(None, cut.entries[:limit], cut.snapshot))
            for batch in survivors:
                image.apply(batch)
                if self.on_durable is not None:
                    self.on_durable(image, batch)
        self.volatile = []
        return image
