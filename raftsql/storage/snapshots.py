"""Snapshot files in ``<data-dir>/snapshots/``, written atomically.

Why a directory of files rather than RocksDB values: a snapshot is a whole SQLite database, far
larger than any log entry; a file can be streamed and is easy to inspect or back up. The file is
made durable before the RocksDB batch that points at it (``RocksLogStore.persist``), so after a
crash the metadata never refers to a missing file; an orphan file (crash after the rename but
before the batch) is harmless and pruned later.

File name: ``<term:016x>-<index:016x>.snap``. Content: the snapshot data followed by a 4-byte
big-endian CRC-32 of the data, so a torn or damaged file is detected on load rather than applied.
Atomicity: write ``<name>.tmp``, fsync it, rename over the final name, fsync the directory.
"""

from __future__ import annotations

import mmap
import os
import zlib
from collections.abc import Callable
from pathlib import Path

from raftsql.raft.types import SnapshotMetadata
from raftsql.storage.errors import CorruptionError

_SUFFIX = ".snap"
_TMP = ".tmp"
_RECEIVING = "receiving.rx"
_CHUNK = 1 << 20
# Written data is synced every this many bytes, not all at the end (RocksDB's bytes_per_sync).
# One fsync of a 100 MB file held every other fsync on the disk behind it: the Raft log's
# fdatasync, which a leader waits for before it ticks again, took up to 250-380 ms while three
# nodes wrote their snapshots, close to the election timeout. Synced every 4 MiB, the longest
# was 70-100 ms (measured on ext4: a 1-writer fdatasync loop beside three 100 MB writers).
_SYNC_EVERY = 4 << 20


def _name(term: int, index: int) -> str:
    return f"{term:016x}-{index:016x}{_SUFFIX}"


def _index_of(name: str) -> int:
    """The index in a file name made by ``_name``."""
    return int(name[17:33], 16)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotFiles:
    """Save, load and prune snapshot data files, keyed by (term, index)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.dir.glob("*" + _TMP):  # a crash mid-write leaves only garbage
            leftover.unlink()
        (self.dir / _RECEIVING).unlink(missing_ok=True)
        self._verified: tuple[str, int, int, int] | None = None  # the file load() last checked
        self._receiving: ReceivedSnapshot | None = None  # the latest receive()

    def path(self, meta: SnapshotMetadata) -> Path:
        return self.dir / _name(meta.term, meta.index)

    def receive(self) -> ReceivedSnapshot:
        """A buffer for a snapshot arriving from the leader in chunks (the core's
        ``Config.snapshot_buffer``), written to a file as it comes."""
        self._receiving = ReceivedSnapshot(self.dir / _RECEIVING)
        return self._receiving

    def save(self, meta: SnapshotMetadata, data: bytes | memoryview) -> Path:
        """``data`` (a snapshot from the leader) as ``meta``'s file, synced every _SYNC_EVERY
        bytes, then its CRC-32; rename into place. Data received into a file (``receive``)
        is already written and synced: that file is renamed and sealed, not copied."""
        tmp = self.temp_path(meta)
        received = self._receiving
        if received is not None and received.holds(data):
            self._receiving = None
            os.replace(received.path, tmp)
            self.seal(meta)
            return self.path(meta)
        view = memoryview(data)
        with open(tmp, "wb") as f:
            for start in range(0, len(view), _SYNC_EVERY):
                f.write(view[start : start + _SYNC_EVERY])
                f.flush()
                os.fdatasync(f.fileno())
            f.write(zlib.crc32(view).to_bytes(4, "big"))
            f.flush()
            os.fsync(f.fileno())
        return self._rename_into_place(tmp, meta)

    def temp_path(self, meta: SnapshotMetadata) -> Path:
        """Where ``meta``'s data is written before it is sealed (removed on open if left)."""
        final = self.path(meta)
        return final.with_name(final.name + _TMP)

    def seal(self, meta: SnapshotMetadata) -> int:
        """Make the data already written (and synced) at ``temp_path(meta)`` ``meta``'s file:
        append its CRC-32, fsync, rename into place. Returns the data's size.

        Why in place: a node's own snapshot is a copy of its database, hundreds of MB for a big
        one. It used to be made elsewhere and copied into this directory, which wrote it twice;
        the copy is now made here (copy_database, synced step by step) and only read back for
        its checksum, from the page cache."""
        tmp = self.temp_path(meta)
        crc = 0
        size = 0
        with open(tmp, "r+b") as f:
            while chunk := f.read(_CHUNK):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
            f.write(crc.to_bytes(4, "big"))
            f.flush()
            os.fsync(f.fileno())
        self._rename_into_place(tmp, meta)
        return size

    def _rename_into_place(self, tmp: Path, meta: SnapshotMetadata) -> Path:
        final = self.path(meta)
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        return final

    def discard(self, meta: SnapshotMetadata) -> None:
        """Delete ``meta``'s file if it is there (a snapshot that lost the race)."""
        self.path(meta).unlink(missing_ok=True)

    def exists(self, meta: SnapshotMetadata) -> bool:
        return self.path(meta).exists()

    def load(self, meta: SnapshotMetadata) -> memoryview:
        """The data of the snapshot at ``meta``, a read-only view of the file mapped into
        memory; FileNotFoundError when it is not there.

        Why a mapping: a leader sends its snapshot to a follower that fell behind the compacted
        log, and a snapshot is the whole database. Read into memory it was copied four more
        times on the way out (the CRC slice, the chunks, their encodings, one write of them
        all): 875 MB of peak RSS for a 196 MB snapshot. Mapped, its pages are the page cache's,
        read as the transport sends each chunk (TcpTransport streams snapshot chunks). The
        mapping lives as long as a view of it does; deleting the file meanwhile is harmless."""
        with open(self.path(meta), "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size < 4:
                raise CorruptionError(f"snapshot file {self.path(meta)} is truncated")
            view = memoryview(mmap.mmap(f.fileno(), st.st_size, access=mmap.ACCESS_READ))
        data, crc = view[:-4], bytes(view[-4:])
        # Checked once per file: the Raft loop loads the snapshot again at each resend, and
        # the checksum of a 392 MiB file stalled it for 0.1 s each time (from the page cache).
        file_id = (str(self.path(meta)), st.st_ino, st.st_size, st.st_mtime_ns)
        if file_id != self._verified:
            if zlib.crc32(data).to_bytes(4, "big") != crc:
                raise CorruptionError(f"snapshot file {self.path(meta)} fails its checksum")
            self._verified = file_id
        return data

    def prune(self, keep: SnapshotMetadata) -> list[Path]:
        """Delete every snapshot file except ``keep``'s; returns what was removed.

        ``keep`` with index 0 (no snapshot yet) keeps nothing.
        """
        keep_name = _name(keep.term, keep.index)
        return self._delete(lambda p: p.name != keep_name)

    def prune_older(self, than: SnapshotMetadata) -> None:
        """Delete the snapshot files of indexes below ``than``'s (safe on any thread)."""
        self._delete(lambda p: _index_of(p.name) < than.index)

    def _delete(self, doomed: Callable[[Path], bool]) -> list[Path]:
        """Delete the snapshot files ``doomed`` picks (one another prune deleted first is
        skipped), then sync the directory; returns them."""
        removed = [p for p in self.dir.glob("*" + _SUFFIX) if doomed(p)]
        for p in removed:
            p.unlink(missing_ok=True)
        if removed:
            _fsync_dir(self.dir)
        return removed


class ReceivedSnapshot:
    """``raft.storage.SnapshotBuffer`` in a file of the snapshot directory: each chunk is
    written as it arrives, synced every _SYNC_EVERY bytes as ``save`` syncs, and the whole is
    then a read-only mapping of the file. ``SnapshotFiles.save`` renames the file into place.

    Why: the core used to reassemble a snapshot in memory, so a follower catching up held the
    whole database in its heap (237-239 MiB of anonymous memory for a 196 MiB database,
    bench/snapshot_bench.py), then wrote it out once more. One snapshot is received at a time;
    a new one starts from a new file, so that a mapping of an older one never sees its file
    cut short."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self._file = open(path, "x+b")  # noqa: SIM115 (closed by view or discard)
        self._size = 0
        self._unsynced = 0
        self._map: mmap.mmap | None = None

    def append(self, chunk: bytes | memoryview) -> None:
        self._file.write(chunk)
        self._size += len(chunk)
        self._unsynced += len(chunk)
        if self._unsynced >= _SYNC_EVERY:
            self._file.flush()
            os.fdatasync(self._file.fileno())
            self._unsynced = 0

    def __len__(self) -> int:
        return self._size

    def view(self) -> memoryview:
        self._file.flush()
        os.fdatasync(self._file.fileno())
        if self._size:  # a file of no bytes cannot be mapped
            self._map = mmap.mmap(self._file.fileno(), self._size, access=mmap.ACCESS_READ)
        self._file.close()
        return memoryview(self._map if self._map is not None else b"")

    def holds(self, data: bytes | memoryview) -> bool:
        """Whether ``data`` is a view of what this buffer received (an empty one never is:
        it has nothing to move)."""
        return (self._map is not None and isinstance(data, memoryview)
                and data.obj is self._map)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
