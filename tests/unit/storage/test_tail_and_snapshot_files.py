"""The tail cache against a naive model, and the snapshot file format.

Sources of truth: a plain dict of index -> entry as the model of "the newest entries of the
log" (the cache must agree with it wherever it claims to cover an index), and the file format in
raftsql/storage/snapshots.py (data + CRC-32, tmp + fsync + rename + fsync dir).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.raft.types import Entry, SnapshotMetadata
from raftsql.storage import CorruptionError, SnapshotFiles, TailCache

ops = st.lists(
    st.tuples(st.sampled_from(["append", "drop", "clear"]), st.integers(0, 6), st.integers(1, 8)),
    max_size=40,
)


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(ops=ops, max_entries=st.integers(0, 10), max_bytes=st.integers(0, 400))
def test_tail_cache_agrees_with_a_dict(ops: list[tuple[str, int, int]], max_entries: int,
                                       max_bytes: int) -> None:
    cache = TailCache(max_entries=max_entries, max_bytes=max_bytes)
    log: dict[int, Entry] = {}
    last, base, term = 0, 0, 1
    for op, a, b in ops:
        if op == "append":
            term += 1
            start = max(base + 1, last + 1 - a)
            new = [Entry(term=term, index=start + i, data=b"x" * (a * 7)) for i in range(b)]
            for i in range(start, last + 1):
                log.pop(i, None)
            log.update({e.index: e for e in new})
            last = new[-1].index
            cache.append(new)
        elif op == "drop" and last > base:
            base = min(last, base + a)
            for i in [i for i in log if i <= base]:
                del log[i]
            cache.drop_before(base + 1)
        elif op == "clear":
            cache.clear()
        assert len(cache) <= max_entries
        cached = [cache.get(i).size() for i in range(cache.first, cache.first + len(cache))]
        assert sum(cached) <= max_bytes or len(cached) == 1  # the newest is kept whatever its size
        if op == "append" and max_entries:
            assert len(cache) >= 1
        if len(cache):
            assert cache.first + len(cache) - 1 == last  # the cache always ends at the tail
            for i in range(cache.first, last + 1):
                assert cache.get(i) == log[i]


def test_snapshot_file_round_trip_and_checksum(tmp_path: Path) -> None:
    """A damaged file is refused when a node loads it (the checksum is checked once per file
    and node process: files are never changed in place, so each damage is seen by a fresh
    SnapshotFiles, as after a restart)."""
    files = SnapshotFiles(tmp_path / "snapshots")
    meta = SnapshotMetadata(index=10, term=2)
    path = files.save(meta, b"sqlite bytes")
    assert path.name == "0000000000000002-000000000000000a.snap"
    assert files.load(meta) == b"sqlite bytes"
    assert files.load(meta) == b"sqlite bytes"  # checked already: only mapped again
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptionError):
        SnapshotFiles(tmp_path / "snapshots").load(meta)
    path.write_bytes(b"ab")  # shorter than a checksum
    with pytest.raises(CorruptionError):
        SnapshotFiles(tmp_path / "snapshots").load(meta)


def test_a_loaded_snapshot_is_a_read_only_view_that_outlives_its_file(tmp_path: Path) -> None:
    """load() maps the file (a leader sends it to a follower chunk by chunk): the view is
    read-only, and pruning the file while a send still holds the view changes nothing."""
    files = SnapshotFiles(tmp_path / "snapshots")
    old, new = SnapshotMetadata(index=10, term=2), SnapshotMetadata(index=20, term=2)
    data = bytes(range(256)) * 5000
    files.save(old, data)
    view = files.load(old)
    assert view.readonly and view == data
    files.save(new, b"")  # an empty snapshot is still a file (its checksum)
    files.prune(keep=new)
    assert not files.exists(old)
    assert bytes(view[100:200]) == data[100:200] and view == data
    assert files.load(new) == b""


def test_a_sealed_copy_is_the_same_file_as_one_saved_whole(tmp_path: Path) -> None:
    """seal() takes data already written at temp_path (a node's copy of its database, made
    there) and reads it back in 1 MiB chunks for its CRC: the file, checksum included, is byte
    for byte the one save() writes, and the temporary file is gone."""
    data = bytes(range(256)) * 9000 + b"tail"  # 2.2 MiB: three chunks, the last one short
    sealed, whole = SnapshotFiles(tmp_path / "a"), SnapshotFiles(tmp_path / "b")
    meta = SnapshotMetadata(index=7, term=3)
    sealed.temp_path(meta).write_bytes(data)
    assert sealed.seal(meta) == len(data)
    whole.save(meta, data)
    assert sealed.path(meta).read_bytes() == whole.path(meta).read_bytes()
    assert sealed.load(meta) == data
    assert [p.name for p in (tmp_path / "a").iterdir()] == [sealed.path(meta).name]


def test_save_syncs_in_slices_and_checks_the_whole(tmp_path: Path) -> None:
    """save() writes data longer than one sync slice (4 MiB) slice by slice: the file holds
    all of it, and its CRC is the whole data's (load checks it)."""
    data = bytes(range(256)) * (17 * 4096 + 3)  # a little over 17 MiB: five slices
    files = SnapshotFiles(tmp_path / "s")
    meta = SnapshotMetadata(index=3, term=1)
    files.save(meta, memoryview(data))
    assert files.path(meta).stat().st_size == len(data) + 4
    assert files.load(meta) == data


def test_leftover_tmp_files_are_removed_and_prune_keeps_one(tmp_path: Path) -> None:
    d = tmp_path / "snapshots"
    d.mkdir()
    (d / "0000000000000001-0000000000000001.snap.tmp").write_bytes(b"torn")
    files = SnapshotFiles(d)
    assert list(d.iterdir()) == []
    old, new = SnapshotMetadata(index=5, term=1), SnapshotMetadata(index=9, term=1)
    files.save(old, b"a")
    files.save(new, b"b")
    assert [p.name for p in files.prune(keep=new)] == [files.path(old).name]
    assert files.exists(new) and not files.exists(old)


def test_prune_older_keeps_the_committed_snapshot_and_any_newer_one(tmp_path: Path) -> None:
    """A node deletes the files older than its committed snapshot on a worker thread; a newer
    snapshot installed from the leader meanwhile must keep its file."""
    files = SnapshotFiles(tmp_path / "snapshots")
    metas = [SnapshotMetadata(index=i, term=t) for i, t in ((5, 1), (9, 2), (12, 2))]
    for meta in metas:
        files.save(meta, b"x")
    files.prune_older(metas[1])
    assert [files.exists(m) for m in metas] == [False, True, True]
    files.prune_older(metas[1])  # again: nothing left to delete
    assert [files.exists(m) for m in metas] == [False, True, True]


def test_a_received_snapshot_is_written_as_it_arrives_and_renamed_into_place(
        tmp_path: Path) -> None:
    """A follower reassembles a snapshot from the leader in a file (receive): the chunks are
    written as they come, the whole is a read-only mapping of that file, and save() of that
    view renames the file into place, with the checksum a save() of the same bytes writes."""
    chunks = [bytes([i]) * (1 << 20) for i in range(9)] + [b"tail"]  # over two sync slices
    data = b"".join(chunks)
    files, whole = SnapshotFiles(tmp_path / "a"), SnapshotFiles(tmp_path / "b")
    meta = SnapshotMetadata(index=12, term=4)
    received = files.receive()
    for chunk in chunks:
        received.append(memoryview(chunk))
    assert len(received) == len(data)
    view = received.view()
    assert view.readonly and view == data
    assert files.save(meta, view) == files.path(meta)
    whole.save(meta, data)
    assert files.path(meta).read_bytes() == whole.path(meta).read_bytes()
    assert [p.name for p in (tmp_path / "a").iterdir()] == [files.path(meta).name]
    assert files.load(meta) == data and view == data


def test_a_new_receive_leaves_the_view_of_the_last_one_whole(tmp_path: Path) -> None:
    """One snapshot is received at a time, each into a new file: a view of the last one (a
    snapshot the core is still handing on) keeps its bytes when the next one starts, is
    abandoned (discard removes its file), or is left behind by a crash (removed on open)."""
    d = tmp_path / "snapshots"
    files = SnapshotFiles(d)
    first = files.receive()
    first.append(b"first snapshot")
    view = first.view()
    second = files.receive()
    second.append(b"second, bigger snapshot")
    assert view == b"first snapshot"
    second.discard()
    assert list(d.iterdir()) == [] and view == b"first snapshot"
    files.receive().append(b"torn by a crash")
    assert list(d.iterdir()) != []
    SnapshotFiles(d)
    assert list(d.iterdir()) == []
    empty = files.receive()
    assert empty.view() == b""  # a snapshot of nothing still maps to something

