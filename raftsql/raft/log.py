"""The Raft log as the core sees it: durable storage plus the unstable tail.

Shaped like etcd's ``log.go``. The commit/apply cursors carry their invariants on the fields and
``check`` asserts them at every gateway that moves a cursor (TigerStyle pair assertions).
"""

from __future__ import annotations

from .storage import CompactedError, LogReader, UnavailableError, limit_size
from .types import Entry, Snapshot
from .unstable import Unstable


class RaftLog:
    def __init__(self, storage: LogReader, max_applying_size: int = 1 << 24) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(offset=last + 1)
        self.committed: int = first - 1
        """Highest index known committed. Invariant: applying <= committed <= last_index()."""
        self.applying: int = first - 1
        """Highest index handed out in a Ready for applying. Invariant: applied <= applying."""
        self.applied: int = first - 1
        """Highest index the runtime reported applied. Invariant: applied <= applying."""
        self.max_applying_size = max_applying_size

    def check(self) -> None:
        assert self.applied <= self.applying <= self.committed, (
            self.applied,
            self.applying,
            self.committed,
        )
        assert self.committed <= self.last_index(), (self.committed, self.last_index())

    def __repr__(self) -> str:
        return (
            f"RaftLog(committed={self.committed}, applying={self.applying}, "
            f"applied={self.applied}, unstable.offset={self.unstable.offset}, "
            f"len(unstable)={len(self.unstable.entries)})"
        )

    # --- indexes and terms -------------------------------------------------------------------
    def first_index(self) -> int:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def term(self, index: int) -> int:
        """Term of ``index``; raises CompactedError / UnavailableError outside the log."""
        t = self.unstable.maybe_term(index)
        if t is not None:
            return t
        if index + 1 < self.first_index():
            raise CompactedError(f"term({index}) compacted")
        if index > self.last_index():
            raise UnavailableError(f"term({index}) beyond {self.last_index()}")
        return self.storage.term(index)

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except (CompactedError, UnavailableError):
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except (CompactedError, UnavailableError):
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Raft paper 5.4.1: the candidate's log is at least as up-to-date as ours."""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    # --- appending ---------------------------------------------------------------------------
    def find_conflict(self, ents: tuple[Entry, ...] | list[Entry]) -> int:
        """Index of the first entry whose term differs from ours (or is new); 0 if none.
        An entry beyond our last index is new without a term lookup (which would raise)."""
        last = self.last_index()
        for e in ents:
            if e.index > last or not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """Largest index <= ``index`` whose term is <= ``term``, and that term (etcd findConflictByTerm).

        Used for fast backtracking: no index above the result can match an entry of ``term``.
        """
        while index > 0:
            try:
                our = self.term(index)
            except (CompactedError, UnavailableError):
                return index, 0
            if our <= term:
                return index, our
            index -= 1
        return 0, 0

    def maybe_append(
        self, index: int, log_term: int, committed: int, ents: tuple[Entry, ...]
    ) -> int | None:
        """The AppendEntries consistency check and append (Raft paper 5.3, Figure 2).

        Returns the last index now known to match the leader, or None when (index, log_term)
        does not match our log. A conflicting suffix is truncated; entries we already have
        are left alone, so a duplicated or reordered message is harmless (paper 5.5).
        """
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            assert ci > self.committed, f"entry {ci} conflicts with committed {self.committed}"
            self.append(list(ents[ci - index - 1 :]))
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, ents: list[Entry]) -> int:
        if not ents:
            return self.last_index()
        after = ents[0].index - 1
        assert after >= self.committed, f"append after {after} is below committed {self.committed}"
        self.unstable.truncate_and_append(ents)
        return self.last_index()

    # --- commit and apply ----------------------------------------------------------------------
    def commit_to(self, to: int) -> None:
        if to > self.committed:
            assert to <= self.last_index(), f"commit {to} beyond last index {self.last_index()}"
            self.committed = to
            self.check()

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit ``index`` only if it carries ``term`` (the leader's current term, paper 5.4.2)."""
        if index > self.committed and self.term_or_zero(index) == term:
            self.commit_to(index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        if index == 0:
            return
        assert self.applied <= index <= self.committed, (self.applied, index, self.committed)
        self.applied = index
        self.applying = max(self.applying, index)
        self.check()

    def accept_applying(self, index: int) -> None:
        assert self.applying <= index <= self.committed, (self.applying, index, self.committed)
        self.applying = index

    def has_next_committed_ents(self) -> bool:
        if self.unstable.snapshot is not None:
            return False
        return self.committed > self.applying

    def next_committed_ents(self) -> list[Entry]:
        """Committed entries not yet handed out, bounded by max_applying_size (at least one).

        Entries may still be unstable: the runtime persists a Ready before applying it.
        """
        if not self.has_next_committed_ents():
            return []
        return self.slice(self.applying + 1, self.committed + 1, self.max_applying_size)

    # --- reading -------------------------------------------------------------------------------
    def entries(self, i: int, max_size: int | None = None) -> list[Entry]:
        if i > self.last_index():
            return []
        return self.slice(i, self.last_index() + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries [lo, hi); raises CompactedError if lo is compacted."""
        if lo < self.first_index():
            raise CompactedError(f"slice({lo}) below first index {self.first_index()}")
        assert hi <= self.last_index() + 1, (hi, self.last_index())
        if lo >= hi:
            return []
        out: list[Entry] = []
        off = self.unstable.offset
        if lo < off:
            out = self.storage.entries(lo, min(hi, off), max_size)
            if hi <= off:
                return out  # what the steps below come to when all of it is in storage
            if len(out) < min(hi, off) - lo:
                return out  # storage cut it for size
            if max_size is not None and sum(e.size() for e in out) >= max_size:
                return out
        if hi > off:
            out = out + self.unstable.slice(max(lo, off), hi)
        return limit_size(out, max_size)

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    # --- persistence handshake -----------------------------------------------------------------
    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        self.unstable.stable_snap_to(index)

    def restore(self, snap: Snapshot) -> None:
        """Replace the log with ``snap`` (follower catching up by snapshot, thesis 5)."""
        self.committed = snap.metadata.index
        self.unstable.restore(snap)
