"""A bounded in-memory copy of the newest log entries.

Why: the leader reads the entries it has just persisted to build APP messages for every
follower, and a follower's committed entries are read back right after they were appended. Both
are the tail of the log, so keeping the last few thousand entries in memory avoids a RocksDB read
(and a msgpack decode) on the hot path. The cache is a write-through mirror maintained by
``RocksLogStore.persist``; it never holds anything that is not durable.

Invariant: the cached entries are contiguous and end at the store's last index (or the cache is
empty); ``first`` is the index of ``entries[0]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from raftsql.raft.types import Entry


class TailCache:
    __slots__ = ("_entries", "_first", "_bytes", "max_entries", "max_bytes")

    def __init__(self, max_entries: int = 4096, max_bytes: int = 16 << 20) -> None:
        assert max_entries >= 0 and max_bytes >= 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: list[Entry] = []
        self._first = 0
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def first(self) -> int:
        """Index of the oldest cached entry; meaningless when the cache is empty."""
        return self._first

    def covers(self, index: int) -> bool:
        return bool(self._entries) and index >= self._first

    def get(self, index: int) -> Entry:
        e = self._entries[index - self._first]
        assert e.index == index
        return e

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries [lo, hi); the caller checked that ``covers(lo)`` and hi <= last + 1."""
        return self._entries[lo - self._first : hi - self._first]

    def clear(self) -> None:
        self._entries = []
        self._bytes = 0

    def append(self, entries: Sequence[Entry]) -> None:
        """Mirror an append that may overwrite a suffix (entries are contiguous, non-empty)."""
        start = entries[0].index
        end = self._first + len(self._entries)
        if self._entries and self._first < start <= end:
            if start < end:  # overwrites a suffix
                for e in self._entries[start - self._first :]:
                    self._bytes -= e.size()
                del self._entries[start - self._first :]
        else:
            self._entries = []
            self._bytes = 0
            self._first = start
        self._entries.extend(entries)
        for e in entries:
            self._bytes += e.size()
        if len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._trim()

    def drop_before(self, index: int) -> None:
        """Forget entries below ``index`` (log compaction)."""
        if not self._entries or index <= self._first:
            return
        n = min(index - self._first, len(self._entries))
        for e in self._entries[:n]:
            self._bytes -= e.size()
        del self._entries[:n]
        self._first += n

    def _trim(self) -> None:
        """Evict the oldest entries down to the limits, but keep the newest one whatever its
        size (unless max_entries is 0): the core asks for the last entry's term at every append
        and heartbeat, and each miss read and decoded it whole from RocksDB, tens of
        milliseconds on the loop for a 16 MB bulk INSERT (issue 8)."""
        n = 0
        over_count = len(self._entries) - self.max_entries
        size = self._bytes
        keep = 1 if self.max_entries else 0
        while n < len(self._entries) - keep and (n < over_count or size > self.max_bytes):
            size -= self._entries[n].size()
            n += 1
        if n:
            del self._entries[:n]
            self._first += n
            self._bytes = size
