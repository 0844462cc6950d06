"""Log entries and a snapshot that the core holds but storage does not yet have durably.

Shaped like etcd's ``log_unstable.go``. A Ready hands out the unstable part; ``accept_in_progress``
marks it as being written so the next Ready does not hand it out again, and ``stable_to`` /
``stable_snap_to`` drop it once the runtime has persisted it (on ``advance``).

Invariants (checked by ``check``):
  offset <= offset_in_progress <= offset + len(entries);
  entries are contiguous from ``offset``;
  if ``snapshot`` is set, offset == snapshot index + 1 (entries follow the snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import Entry, Snapshot


@dataclass(slots=True)
class Unstable:
    offset: int
    """Index of entries[0] (or where the next entry goes). Invariant: >= 1."""
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    offset_in_progress: int = 0
    """Entries in [offset, offset_in_progress) are being persisted by a Ready not yet advanced."""
    snapshot_in_progress: bool = False

    def __post_init__(self) -> None:
        if self.offset_in_progress == 0:
            self.offset_in_progress = self.offset
        self.check()

    def check(self) -> None:
        assert self.offset >= 1, self.offset
        assert self.offset <= self.offset_in_progress <= self.offset + len(self.entries), (
            self.offset,
            self.offset_in_progress,
            len(self.entries),
        )
        if self.entries:  # O(1): both ends in place (appends are checked contiguous below)
            assert self.entries[0].index == self.offset, (self.entries[0].index, self.offset)
            last = self.offset + len(self.entries) - 1
            assert self.entries[-1].index == last, (self.entries[-1].index, last)
        if self.snapshot is not None:
            assert self.offset == self.snapshot.metadata.index + 1
        if self.snapshot_in_progress:
            assert self.snapshot is not None

    def maybe_first_index(self) -> int | None:
        if self.snapshot is not None:
            return self.snapshot.metadata.index + 1
        return None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.metadata.index == index:
                return self.snapshot.metadata.term
            return None
        last = self.maybe_last_index()
        if last is None or index > last:
            return None
        return self.entries[index - self.offset].term

    def next_entries(self) -> list[Entry]:
        """Entries not yet handed to the runtime for persisting."""
        return self.entries[self.offset_in_progress - self.offset :]

    def next_snapshot(self) -> Snapshot | None:
        if self.snapshot is None or self.snapshot_in_progress:
            return None
        return self.snapshot

    def accept_in_progress(self) -> None:
        """Everything unstable now travels in a Ready: do not hand it out again."""
        if self.entries:
            self.offset_in_progress = self.entries[-1].index + 1
        if self.snapshot is not None:
            self.snapshot_in_progress = True

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to (index, term) are durable. Ignored if the log changed meanwhile."""
        t = self.maybe_term(index)
        if t is None or index < self.offset or t != term:
            return
        drop = index + 1 - self.offset
        self.entries = self.entries[drop:]
        self.offset = index + 1
        self.offset_in_progress = max(self.offset_in_progress, self.offset)
        self.check()

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.metadata.index == index:
            self.snapshot = None
            self.snapshot_in_progress = False

    def restore(self, snap: Snapshot) -> None:
        self.offset = snap.metadata.index + 1
        self.offset_in_progress = self.offset
        self.entries = []
        self.snapshot = snap
        self.snapshot_in_progress = False
        self.check()

    def truncate_and_append(self, ents: list[Entry]) -> None:
        """Append ``ents``, first dropping any of our entries at or after ents[0].index."""
        assert all(b.index == a.index + 1 for a, b in zip(ents, ents[1:], strict=False)), (
            "entries to append are not contiguous"
        )
        frm = ents[0].index
        if frm == self.offset + len(self.entries):
            self.entries.extend(ents)  # in place: readers only ever get copies (slices)
        elif frm <= self.offset:
            # Replace everything unstable; storage's conflicting suffix is shadowed by ours.
            self.entries = list(ents)
            self.offset = frm
            self.offset_in_progress = self.offset
            if self.snapshot is not None and frm != self.snapshot.metadata.index + 1:
                raise AssertionError("append would leave a gap after the unstable snapshot")
        else:
            self.entries = self.entries[: frm - self.offset] + list(ents)
            self.offset_in_progress = min(self.offset_in_progress, frm)
        self.check()

    def slice(self, lo: int, hi: int) -> list[Entry]:
        assert self.offset <= lo <= hi <= self.offset + len(self.entries), (lo, hi, self.offset)
        return self.entries[lo - self.offset : hi - self.offset]
