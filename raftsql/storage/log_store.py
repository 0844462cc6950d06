"""The durable Raft log: entries, hard state, conf state and snapshot metadata in RocksDB.

Why one RocksDB write batch per Ready: Raft's safety needs the entries and the hard state
(term, vote) on disk before any message that depends on them is sent (Raft paper 5.2/5.3, etcd
README "Usage", step 1). Writing them as ONE synced batch makes the Ready atomic: after a crash
either all of it is there or none of it is, and one Ready costs one fsync however many proposals
the runtime batched into it (group commit). ``persist_many`` folds several Readys into one fsync.

Keys (RocksDB raw mode, default column family; one keyspace keeps every write in one batch):

    b"e" + index as 8-byte big-endian  -> encode_entry(entry)   (big-endian so keys sort by index)
    b"m:base"                          -> encode_entry(Entry(term, index)) of the compaction
                                          point: first_index() - 1 and its term (etcd's dummy
                                          entry ents[0])
    b"m:hard"                          -> encode_hard_state
    b"m:conf"                          -> encode_conf_state: the membership initial_state returns
                                          (bootstrap, newest snapshot, or set_conf_state)
    b"m:snap"                          -> encode_snapshot_metadata of the newest snapshot; the
                                          data lives in snapshots/ (see snapshots.py)

Invariants (checked on open and at every write, the "gateways" of STYLE.md rule 8): entries exist
for exactly the indexes base+1 .. last, contiguous; terms never decrease along the log; the hard
state's term never decreases and a node never changes its vote within a term; commit never
decreases and never exceeds the last index.

A commit-only change of the hard state, unsynced (a Ready whose only news is that entries were
committed), is not written on its own: it is kept in memory and goes to disk as the first put
of the next write batch, or at close. Raft keeps the commit index in volatile state (paper,
Figure 2): a node that restarts with an older one learns it from the leader again, and its state
machine treats re-applied entries as replays. At one client that write was one of two RocksDB
writes per Raft write and cost the leader 55 of its 700 us of CPU per write
(bench/session_bench.py, docs/benchmarks.md "Fifth round"). Since every
batch writes the pending hard state first, a batch that moves the compaction point also stores a
commit at least as high, so a reopened log never has commit < first_index() - 1.

Why RocksDB recycles its WAL files (``WAL_RECYCLE_FILES``, ``MEMTABLE_BYTES``): every Ready ends in
an fdatasync of the WAL. Appending to a file changes its size (and turns preallocated extents
into written ones), so on ext4 each of those fdatasyncs also commits the filesystem journal, and
the journal is one per filesystem: three nodes' fsyncs queue behind each other. A recycled WAL
file is overwritten in place, so its fdatasync writes data only (RocksDB's
``recycle_log_file_num``; its recyclable record format carries the log number, so recovery
never replays an older file's records left behind the new ones). Measured with three processes
each writing 20-entry batches and syncing (this box): fdatasync p50 0.36 → 0.18 ms. A file is
recycled when a memtable flush frees it, so the memtable is kept small (4 MiB instead of
RocksDB's 64 MiB): the log cycles through its files every few MiB of entries instead of staying
on the first one for the first 64 MiB, and each memtable holds up to 60 MiB less memory.

Why RocksDB writes its table files back as it goes (``SST_BYTES_PER_SYNC``): a memtable flush
writes a table file of a few MiB and fsyncs it at the end, and a compaction several; all of it
at once, in front of the nodes' log fsyncs on the same disk. With ``bytes_per_sync`` RocksDB
starts the writeback of every MiB as it writes it (sync_file_range), the setting RocksDB's
tuning guide recommends. Upserts at 64 clients, 5 alternating pairs: 2,197-2,372 →
2,307-2,481 writes/s, higher in each pair (issue 8, sixteenth round in docs/benchmarks.md).

The LogReader answers and the write methods' errors mirror ``raftsql.raft.storage.MemoryLog``
(the reference); ``tests/unit/storage/test_store_compat.py`` holds the two to the same answers.
The store is not thread-safe: one owner (the node's Ready loop) calls it. The one exception is
``sync_wal``, which a leader runs on its own thread while the owner waits for it (RocksDB's WAL
sync is safe beside the owner's writes and reads).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rocksdict import Options, Rdict, ReadOptions, WriteBatch, WriteOptions

from raftsql.codec import (
    CodecError,
    decode_conf_state,
    decode_entry,
    decode_hard_state,
    decode_snapshot_metadata,
    encode_conf_state,
    encode_entry,
    encode_hard_state,
    encode_snapshot_metadata,
)
from raftsql.raft.storage import (
    CompactedError,
    LogReader,
    SnapshotOutOfDateError,
    SnapshotTemporarilyUnavailableError,
    UnavailableError,
    limit_size,
)
from raftsql.raft.types import (
    EMPTY_HARD_STATE,
    ConfState,
    Entry,
    HardState,
    Ready,
    Snapshot,
    SnapshotMetadata,
)
from raftsql.storage.errors import CorruptionError, StorageError
from raftsql.storage.snapshots import ReceivedSnapshot, SnapshotFiles
from raftsql.storage.tail import TailCache

_ENTRY_PREFIX = b"e"
_ENTRY_END = b"f"  # first key after every entry key
K_BASE = b"m:base"
K_HARD = b"m:hard"
K_CONF = b"m:conf"
K_SNAP = b"m:snap"
_MAX_INDEX = (1 << 64) - 1
WAL_RECYCLE_FILES = 4
"""Freed WAL files RocksDB keeps for reuse (module docstring: an overwrite syncs no metadata)."""
MEMTABLE_BYTES = 4 << 20
"""Memtable size, and so how many bytes of log go into one WAL file before the next is used."""
SST_BYTES_PER_SYNC = 1 << 20
"""Table-file bytes after which RocksDB starts their writeback (module docstring)."""


def entry_key(index: int) -> bytes:
    return _ENTRY_PREFIX + index.to_bytes(8, "big")


def _index_of(key: bytes) -> int:
    return int.from_bytes(key[1:9], "big")


@dataclass(slots=True, frozen=True)
class PersistRequest:
    """What one Ready asks to make durable, in the order it is applied to the log."""

    hard_state: HardState | None = None
    entries: Sequence[Entry] = ()
    snapshot: Snapshot | None = None
    conf_state: ConfState | None = None


@dataclass(slots=True)
class StoreStats:
    """Counters for benchmarks and status pages."""

    writes: int = 0
    synced_writes: int = 0
    deferred_commits: int = 0
    entries_written: int = 0
    bytes_written: int = 0
    cache_hits: int = 0
    disk_reads: int = 0


@dataclass(slots=True)
class _State:
    """The scalar state of the log; staged copies are built for a batch, swapped in after it."""

    base_index: int = 0
    base_term: int = 0
    last_index: int = 0
    hard: HardState = EMPTY_HARD_STATE
    conf: ConfState = field(default_factory=ConfState)
    snap: SnapshotMetadata = field(default_factory=SnapshotMetadata)

    def copy(self) -> _State:
        """A staged copy (dataclasses.replace looks the fields up at every call)."""
        return _State(self.base_index, self.base_term, self.last_index, self.hard, self.conf,
                      self.snap)


class RocksLogStore:
    """A ``LogReader`` backed by RocksDB, plus the write API the Ready loop uses.

    Directory layout under ``path``: ``rocksdb/`` (the keyspace above) and ``snapshots/``.
    ``conf_state`` seeds a brand-new store (bootstrap membership); it is ignored on reopen.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        conf_state: ConfState | None = None,
        tail_max_entries: int = 4096,
        tail_max_bytes: int = 16 << 20,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_recycle_log_file_num(WAL_RECYCLE_FILES)
        opts.set_write_buffer_size(MEMTABLE_BYTES)
        opts.set_bytes_per_sync(SST_BYTES_PER_SYNC)
        self._db = Rdict(str(self.path / "rocksdb"), opts)
        self._nosync = WriteOptions()
        self._nosync.sync = False
        self._files = SnapshotFiles(self.path / "snapshots")
        self._tail = TailCache(tail_max_entries, tail_max_bytes)
        self.stats = StoreStats()
        self._closed = False
        self._hard_unwritten = False  # self._s.hard is newer than the stored one (commit only)
        self._s = self._load(conf_state)
        self._files.prune(keep=self._s.snap)  # orphans of a crash between file and batch

    # ------------------------------------------------------------------ open / close

    def _get(self, key: bytes) -> bytes | None:
        v = self._db.get(key)
        assert v is None or isinstance(v, bytes)
        return v

    def _load(self, bootstrap_conf: ConfState | None) -> _State:
        s = _State()
        try:
            raw = self._get(K_BASE)
            if raw is not None:
                base = decode_entry(raw)
                s.base_index, s.base_term = base.index, base.term
            raw = self._get(K_HARD)
            if raw is not None:
                s.hard = decode_hard_state(raw)
            raw = self._get(K_CONF)
            if raw is not None:
                s.conf = decode_conf_state(raw)
            raw = self._get(K_SNAP)
            if raw is not None:
                s.snap = decode_snapshot_metadata(raw)
        except CodecError as exc:
            raise CorruptionError(f"unreadable metadata in {self.path}: {exc}") from exc

        fresh = all(self._get(k) is None for k in (K_BASE, K_HARD, K_CONF, K_SNAP))
        first_key, last_key = self._first_and_last_entry_keys()
        fresh = fresh and first_key is None
        if fresh and bootstrap_conf is not None:
            s.conf = bootstrap_conf
            s.snap = SnapshotMetadata(conf_state=bootstrap_conf)
            wb = self._batch()
            wb.put(K_CONF, encode_conf_state(s.conf))
            wb.put(K_SNAP, encode_snapshot_metadata(s.snap))
            self._write(wb, sync=True)

        s.last_index = s.base_index
        if first_key is not None:
            assert last_key is not None
            first, last = _index_of(first_key), _index_of(last_key)
            if first != s.base_index + 1:
                raise CorruptionError(
                    f"first entry {first} does not follow the compaction point {s.base_index}"
                )
            s.last_index = last
        if s.hard.commit > s.last_index:
            raise CorruptionError(f"commit {s.hard.commit} beyond last index {s.last_index}")
        return s

    def _first_and_last_entry_keys(self) -> tuple[bytes | None, bytes | None]:
        it = self._db.iter()
        it.seek(entry_key(0))
        first = it.key() if it.valid() and it.key().startswith(_ENTRY_PREFIX) else None
        it.seek_for_prev(entry_key(_MAX_INDEX))
        last = it.key() if it.valid() and it.key().startswith(_ENTRY_PREFIX) else None
        del it
        return first, last

    def close(self) -> None:
        if not self._closed:
            if self._hard_unwritten:
                self._write(self._batch(), sync=False)
            self._closed = True
            self._db.close()

    def __enter__(self) -> RocksLogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ LogReader

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._s.hard, self._s.conf

    def first_index(self) -> int:
        return self._s.base_index + 1

    def last_index(self) -> int:
        return self._s.last_index

    def term(self, index: int) -> int:
        s = self._s
        if index < s.base_index:
            raise CompactedError(f"term({index}) below compaction point {s.base_index}")
        if index > s.last_index:
            raise UnavailableError(f"term({index}) beyond last index {s.last_index}")
        if index == s.base_index:
            return s.base_term
        if self._tail.covers(index):
            self.stats.cache_hits += 1
            return self._tail.get(index).term
        raw = self._get(entry_key(index))
        if raw is None:
            raise CorruptionError(f"entry {index} missing inside the log")
        self.stats.disk_reads += 1
        return self._decode(raw, index).term

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        s = self._s
        if lo <= s.base_index:
            raise CompactedError(f"entries({lo}) at or below compaction point {s.base_index}")
        if hi > s.last_index + 1:
            raise UnavailableError(f"entries(hi={hi}) beyond last index {s.last_index}")
        if self._tail.covers(lo):  # the common case: the newest entries, all in the cache
            self.stats.cache_hits += max(hi - lo, 0)
            return limit_size(self._tail.slice(lo, hi), max_size)
        out: list[Entry] = []
        total = 0
        for e in self._iter_range(lo, hi):
            total += e.size()
            if max_size is not None and total > max_size and out:
                break
            out.append(e)
        return out

    def snapshot(self) -> Snapshot:
        meta = self._s.snap
        if meta.index == 0:
            return Snapshot(meta)
        try:
            return Snapshot(meta, self._files.load(meta))
        except FileNotFoundError as exc:
            raise SnapshotTemporarilyUnavailableError(f"snapshot file for {meta.index}") from exc

    # ------------------------------------------------------------------ extra reads

    @property
    def hard_state(self) -> HardState:
        return self._s.hard

    @property
    def conf_state(self) -> ConfState:
        return self._s.conf

    @property
    def snapshot_metadata(self) -> SnapshotMetadata:
        return self._s.snap

    def _decode(self, raw: bytes, index: int) -> Entry:
        try:
            e = decode_entry(raw)
        except CodecError as exc:
            raise CorruptionError(f"entry {index}: {exc}") from exc
        if e.index != index:
            raise CorruptionError(f"key {index} holds entry {e.index}")
        return e

    def _iter_range(self, lo: int, hi: int) -> Iterator[Entry]:
        """Entries [lo, hi): from RocksDB up to the cached tail, then from the cache."""
        cache_from = self._tail.first if len(self._tail) else hi
        if lo < min(hi, cache_from):
            stop = min(hi, cache_from)
            ro = ReadOptions()
            ro.set_iterate_upper_bound(entry_key(stop))
            expect = lo
            for key, raw in self._db.items(from_key=entry_key(lo), read_opt=ro):
                assert isinstance(key, bytes) and isinstance(raw, bytes)  # raw mode
                if _index_of(key) != expect:
                    raise CorruptionError(f"log has a hole at {expect} (found {_index_of(key)})")
                self.stats.disk_reads += 1
                yield self._decode(raw, expect)
                expect += 1
            if expect != stop:
                raise CorruptionError(f"log ends at {expect - 1}, expected entries up to {stop - 1}")
            lo = stop
        if lo < hi:
            self.stats.cache_hits += hi - lo
            yield from self._tail.slice(lo, hi)

    # ------------------------------------------------------------------ writes

    def persist(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
        *,
        conf_state: ConfState | None = None,
        sync: bool = True,
    ) -> None:
        """Make one Ready durable: snapshot, then entries, then hard state, in ONE write batch.

        A non-empty ``snapshot`` replaces the whole log (like ``MemoryLog.apply_snapshot``): its
        data file is made durable first, then the batch deletes every entry and records the new
        compaction point, snapshot metadata and conf state. ``entries`` overwrite any suffix
        from their first index on; whatever lies beyond their last index is deleted (a leader's
        log wins over the conflicting tail, Raft paper 5.3). With ``sync`` the batch is fsynced
        before this returns; only then may the Ready's persisted messages be sent.
        """
        self.persist_many(
            [PersistRequest(hard_state, entries, snapshot, conf_state)], sync=sync
        )

    def _batch(self) -> WriteBatch:
        """A new write batch; a hard state not yet written goes first, so any newer one staged
        after it in the same batch wins."""
        wb = WriteBatch(raw_mode=True)
        if self._hard_unwritten:
            wb.put(K_HARD, encode_hard_state(self._s.hard))
        return wb

    def _write(self, wb: WriteBatch, *, sync: bool) -> None:
        """Write ``wb``; with ``sync``, return only once it is on disk.

        A synced write is an unsynced one (RocksDB hands it to the WAL file with write(2))
        followed by ``flush_wal(True)`` (RocksDB's SyncWAL: fsync of the live WAL files and, for
        a new one, of its directory), RocksDB's documented manual WAL sync. Equally durable,
        but rocksdict releases the GIL during ``flush_wal`` and holds it through a synced
        ``write``: with the latter every Python thread of the node, the event loop included,
        stopped for the whole fsync (measured: 5 ms stalls of the event loop per fsync)."""
        self._db.write(wb, self._nosync)
        self._hard_unwritten = False  # every batch is made by _batch()
        if sync:
            self.sync_wal()

    def sync_wal(self) -> None:
        """Make every write so far durable. ``_write`` calls it for a synced write; a caller
        that wrote with ``sync=False`` may call it from another thread (module docstring)."""
        self._db.flush_wal(True)

    def persist_many(self, requests: Iterable[PersistRequest], *, sync: bool = True) -> None:
        """Persist several Readys with one batch and one fsync (group commit across Readys)."""
        requests = list(requests)
        if not sync and len(requests) == 1 and self._defer_commit(requests[0]):
            return
        staged = self._s.copy()
        wb = self._batch()
        tail_ops: list[Sequence[Entry] | None] = []  # None = clear, else entries appended
        n_entries = 0
        for req in requests:  # validate and stage everything before touching the disk
            if req.snapshot is not None and not req.snapshot.empty:
                self._stage_snapshot(wb, staged, req.snapshot)
                tail_ops.append(None)
            if req.entries:
                kept = self._stage_entries(wb, staged, req.entries)
                if kept:
                    tail_ops.append(kept)
                    n_entries += len(kept)
            if req.hard_state is not None:
                self._stage_hard_state(wb, staged, req.hard_state)
            if req.conf_state is not None:
                staged.conf = req.conf_state
                wb.put(K_CONF, encode_conf_state(req.conf_state))
            if staged.hard.commit > staged.last_index:  # e.g. a snapshot older than commit
                raise StorageError(
                    f"commit {staged.hard.commit} beyond last index {staged.last_index}"
                )
        if wb.is_empty():
            return
        for req in requests:  # snapshot data must be durable before metadata points at it
            if req.snapshot is not None and not req.snapshot.empty:
                self._files.save(req.snapshot.metadata, req.snapshot.data)
        size = wb.size_in_bytes()
        self._write(wb, sync=sync)
        self._s = staged
        if any(op is None for op in tail_ops):  # a snapshot was installed: drop older files
            self._files.prune(keep=staged.snap)
        for op in tail_ops:
            if op is None:
                self._tail.clear()
            else:
                self._tail.append(op)
        self.stats.writes += 1
        self.stats.synced_writes += int(sync)
        self.stats.entries_written += n_entries
        self.stats.bytes_written += size

    def _defer_commit(self, req: PersistRequest) -> bool:
        """Keep an unsynced commit-only hard state in memory (module docstring); False when
        ``req`` holds anything else, or is invalid (then the normal path raises)."""
        hs, old = req.hard_state, self._s.hard
        if (hs is None or req.entries or req.conf_state is not None
                or (req.snapshot is not None and not req.snapshot.empty)):
            return False
        if hs.term != old.term or hs.vote != old.vote:
            return False
        if not old.commit <= hs.commit <= self._s.last_index:
            return False
        self._s.hard = hs
        self._hard_unwritten = True
        self.stats.deferred_commits += 1
        return True

    def _stage_snapshot(self, wb: WriteBatch, s: _State, snap: Snapshot) -> None:
        m = snap.metadata
        if m.index <= s.snap.index:
            raise SnapshotOutOfDateError(f"snapshot {m.index} <= current {s.snap.index}")
        wb.delete_range(_ENTRY_PREFIX, _ENTRY_END)
        wb.put(K_BASE, encode_entry(Entry(term=m.term, index=m.index)))
        wb.put(K_SNAP, encode_snapshot_metadata(m))
        wb.put(K_CONF, encode_conf_state(m.conf_state))
        s.base_index, s.base_term, s.last_index = m.index, m.term, m.index
        s.snap, s.conf = m, m.conf_state

    def _stage_entries(self, wb: WriteBatch, s: _State, entries: Sequence[Entry]) -> list[Entry]:
        ents = list(entries)
        for a, b in zip(ents, ents[1:], strict=False):
            if b.index != a.index + 1 or b.term < a.term:
                raise StorageError(f"entries not contiguous or terms decrease: {a} then {b}")
        first = s.base_index + 1
        if ents[-1].index < first:
            return []
        if ents[0].index < first:
            ents = ents[first - ents[0].index :]
        start = ents[0].index
        if start > s.last_index + 1:
            raise UnavailableError(
                f"missing log entries: last {s.last_index}, appending at {start}"
            )
        last = ents[-1].index
        if last > _MAX_INDEX:
            raise StorageError(f"index {last} does not fit in 64 bits")
        for e in ents:
            wb.put(entry_key(e.index), encode_entry(e))
        if last < s.last_index:
            wb.delete_range(entry_key(last + 1), entry_key(s.last_index + 1))
        s.last_index = last
        return ents

    def _stage_hard_state(self, wb: WriteBatch, s: _State, hs: HardState) -> None:
        old = s.hard
        if hs.term < old.term:
            raise StorageError(f"term would go backwards: {old.term} -> {hs.term}")
        if hs.term == old.term and old.vote and hs.vote != old.vote:
            raise StorageError(f"vote changed within term {hs.term}: {old.vote} -> {hs.vote}")
        if hs.commit < old.commit:
            raise StorageError(f"commit would go backwards: {old.commit} -> {hs.commit}")
        if hs.commit > s.last_index:
            raise StorageError(f"commit {hs.commit} beyond last index {s.last_index}")
        wb.put(K_HARD, encode_hard_state(hs))
        s.hard = hs

    def persist_ready(self, rd: Ready) -> None:
        """Step 1 of the Ready loop: snapshot, entries and hard state, synced iff ``must_sync``."""
        snap = None if rd.snapshot.empty else rd.snapshot
        if rd.hard_state is None and not rd.entries and snap is None:
            return
        self.persist(rd.hard_state, rd.entries, snap, sync=rd.must_sync)

    def set_hard_state(self, hs: HardState, *, sync: bool = True) -> None:
        self.persist(hard_state=hs, sync=sync)

    def set_conf_state(self, cs: ConfState, *, sync: bool = True) -> None:
        """Record the membership the runtime applied (what initial_state returns on restart)."""
        self.persist(conf_state=cs, sync=sync)

    def apply_snapshot(self, snap: Snapshot, *, sync: bool = True) -> None:
        self.persist(snapshot=snap, sync=sync)

    def append(self, entries: Sequence[Entry], *, sync: bool = True) -> None:
        self.persist(entries=entries, sync=sync)

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a state-machine snapshot taken at applied ``index`` (file first, then metadata).

        ``conf_state`` (the membership as of ``index``) also becomes what ``initial_state``
        returns, as in etcd's MemoryStorage (InitialState = the snapshot's ConfState): a node
        restarting from this snapshot replays only the entries after ``index``, so conf changes
        at or below it, soon compacted away, must be reflected here. This is the one place the
        store deliberately differs from ``MemoryLog`` (which leaves its conf state alone) and it
        matches what the simulator's log does on restart (``raftsql.testing.simlog``).
        Older snapshot files are deleted once the new metadata is durable.
        """
        meta = self.snapshot_meta(index, conf_state)
        self._files.save(meta, data)
        self.commit_snapshot(meta)
        self.prune_snapshot_files(meta)
        return Snapshot(meta, data)

    def snapshot_meta(self, index: int, conf_state: ConfState) -> SnapshotMetadata:
        """The metadata a snapshot at applied ``index`` will have (checks it is newer)."""
        s = self._s
        if index <= s.snap.index:
            raise SnapshotOutOfDateError(f"snapshot {index} <= {s.snap.index}")
        if index > s.last_index:
            raise UnavailableError(f"snapshot {index} beyond last index {s.last_index}")
        return SnapshotMetadata(index=index, term=self.term(index), conf_state=conf_state)

    def receive_snapshot(self) -> ReceivedSnapshot:
        """The buffer a follower's core reassembles a snapshot from the leader in
        (``raft.Config.snapshot_buffer``): a file of the snapshot directory, which ``persist``
        then renames into place instead of writing the snapshot out again."""
        return self._files.receive()

    def snapshot_copy_path(self, meta: SnapshotMetadata) -> Path:
        """Where the node writes its copy of the state for ``meta``, before
        ``seal_snapshot_file``."""
        return self._files.temp_path(meta)

    def seal_snapshot_file(self, meta: SnapshotMetadata) -> int:
        """Make the copy at ``snapshot_copy_path(meta)`` the snapshot's data file, durably;
        returns its size. Touches only the snapshot directory, so the node may do it on a
        worker thread while the log goes on; ``commit_snapshot`` makes it count."""
        return self._files.seal(meta)

    def commit_snapshot(self, meta: SnapshotMetadata) -> bool:
        """Point the metadata at a saved file; the older files stay until
        ``prune_snapshot_files``. False (and the file is dropped) when the store moved past
        ``meta`` meanwhile, e.g. a snapshot from the leader was installed while this one was
        being written."""
        if meta.index <= self._s.snap.index or not self._files.exists(meta):
            if meta.index != self._s.snap.index:
                self._files.discard(meta)
            return False
        wb = self._batch()
        wb.put(K_SNAP, encode_snapshot_metadata(meta))
        wb.put(K_CONF, encode_conf_state(meta.conf_state))
        self._write(wb, sync=True)
        self._s.snap, self._s.conf = meta, meta.conf_state
        return True

    def prune_snapshot_files(self, meta: SnapshotMetadata) -> None:
        """Delete the snapshot files older than ``meta``, a committed snapshot. Safe on a worker
        thread: unlinking a big file takes ext4 a while (0.3 s for 100 MB with three nodes
        snapshotting, on the loop), and only older files go, so a newer snapshot installed
        meanwhile keeps its file."""
        self._files.prune_older(meta)

    def compact(self, index: int, *, sync: bool = False) -> None:
        """Drop entries up to and including ``index``; ``index`` becomes the compaction point.

        One range delete plus the new compaction point, atomically. Unsynced by default: losing
        a compaction in a crash only leaves more log behind, and the next synced write makes it
        durable anyway (RocksDB's WAL is ordered).
        """
        s = self._s
        if index <= s.base_index:
            raise CompactedError(f"compact({index}) at or below compaction point {s.base_index}")
        if index > s.last_index:
            raise UnavailableError(f"compact({index}) beyond last index {s.last_index}")
        term = self.term(index)
        wb = self._batch()
        wb.delete_range(entry_key(0), entry_key(index + 1))
        wb.put(K_BASE, encode_entry(Entry(term=term, index=index)))
        self._write(wb, sync=sync)
        s.base_index, s.base_term = index, term
        self._tail.drop_before(index + 1)
        self.stats.writes += 1


if TYPE_CHECKING:

    def _satisfies_log_reader(store: RocksLogStore) -> LogReader:
        return store  # mypy checks RocksLogStore against the core's LogReader protocol
