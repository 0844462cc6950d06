"""RocksLogStore specifics that the MemoryLog comparison cannot show.

Sources of truth: the Ready contract in docs/raft-api.md (one write per Ready, synced when
must_sync), Raft paper 5.2 (one vote per term, terms never decrease) and 5.3 (a conflicting
suffix is replaced), etcd-io/raft storage.go (compaction point semantics, ErrCompacted /
ErrUnavailable), and the key layout documented in raftsql/storage/log_store.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from raftsql.codec import encode_entry
from raftsql.raft.storage import (
    CompactedError,
    SnapshotOutOfDateError,
    SnapshotTemporarilyUnavailableError,
    UnavailableError,
)
from raftsql.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from raftsql.storage import CorruptionError, PersistRequest, RocksLogStore, StorageError
from raftsql.storage.log_store import K_HARD, entry_key


def ents(lo: int, hi: int, term: int = 1, size: int = 10) -> list[Entry]:
    return [Entry(term=term, index=i, data=bytes([i % 256]) * size) for i in range(lo, hi)]


@pytest.fixture
def store(tmp_path: Path) -> RocksLogStore:
    s = RocksLogStore(tmp_path / "n1", conf_state=ConfState(voters=(1, 2, 3)))
    yield s
    s.close()


def raw_keys(path: Path) -> list[bytes]:
    db = Rdict(str(path / "rocksdb"), Options(raw_mode=True))
    try:
        return list(db.keys())
    finally:
        db.close()


def test_fresh_store_is_empty(store: RocksLogStore) -> None:
    assert (store.first_index(), store.last_index(), store.term(0)) == (1, 0, 0)
    assert store.initial_state() == (HardState(), ConfState(voters=(1, 2, 3)))
    assert store.snapshot().empty
    with pytest.raises(UnavailableError):
        store.term(1)


def test_keys_are_prefixed_big_endian_so_ranges_iterate_in_order(tmp_path: Path) -> None:
    with RocksLogStore(tmp_path) as s:
        s.persist(HardState(1, 1, 0), ents(1, 300))
    keys = [k for k in raw_keys(tmp_path) if k[:1] == b"e"]
    assert keys == [b"e" + i.to_bytes(8, "big") for i in range(1, 300)]


def test_rocksdb_runs_with_recycled_wal_files_and_incremental_table_syncs(
        store: RocksLogStore) -> None:
    """The options RocksDB recorded for the open database (its OPTIONS file) are the ones the
    module docstring explains: recycled WAL files, small memtables, table files written back
    every MiB."""
    newest = max((store.path / "rocksdb").glob("OPTIONS-*"), key=lambda p: int(p.name[8:]))
    recorded = dict(line.strip().split("=", 1) for line in newest.read_text().splitlines()
                    if "=" in line and not line.lstrip().startswith("#"))
    assert recorded["recycle_log_file_num"] == "4"
    assert recorded["write_buffer_size"] == str(4 << 20)
    assert recorded["bytes_per_sync"] == str(1 << 20)


def test_one_ready_is_one_synced_write(store: RocksLogStore) -> None:
    store.persist(HardState(1, 1, 0), ents(1, 65))
    assert (store.stats.writes, store.stats.synced_writes, store.stats.entries_written) == (1, 1, 64)
    store.persist(HardState(1, 1, 10), ents(65, 70), sync=False)
    assert (store.stats.writes, store.stats.synced_writes) == (2, 1)


def test_persist_many_is_one_write(store: RocksLogStore) -> None:
    reqs = [PersistRequest(HardState(1, 1, 0), ents(1, 10)),
            PersistRequest(HardState(2, 2, 3), ents(5, 8, term=2)),
            PersistRequest(None, ents(8, 12, term=2))]
    store.persist_many(reqs)
    assert store.stats.writes == 1
    assert store.last_index() == 11
    assert [e.term for e in store.entries(1, 12)] == [1] * 4 + [2] * 7
    assert store.hard_state == HardState(2, 2, 3)


def test_conflicting_suffix_is_deleted_on_disk(tmp_path: Path) -> None:
    """Section 5.3: when entries overwrite index i, everything after the new last index goes."""
    with RocksLogStore(tmp_path) as s:
        s.persist(HardState(1, 1, 0), ents(1, 11))
        s.persist(HardState(2, 2, 0), ents(4, 6, term=2))
        assert s.last_index() == 5
    assert [k for k in raw_keys(tmp_path) if k[:1] == b"e"] == [entry_key(i) for i in range(1, 6)]
    with RocksLogStore(tmp_path) as s:
        assert s.last_index() == 5 and s.term(5) == 2 and s.term(3) == 1


def test_compaction_range_deletes_and_keeps_the_compaction_term(tmp_path: Path) -> None:
    with RocksLogStore(tmp_path) as s:
        s.persist(HardState(1, 1, 0), ents(1, 6) + ents(6, 11, term=2))
        s.compact(7)
        assert (s.first_index(), s.term(7)) == (8, 2)
        with pytest.raises(CompactedError):
            s.term(6)
        with pytest.raises(CompactedError):
            s.entries(7, 9)
        with pytest.raises(CompactedError):
            s.compact(7)
        with pytest.raises(UnavailableError):
            s.compact(11)
    assert [k for k in raw_keys(tmp_path) if k[:1] == b"e"] == [entry_key(i) for i in range(8, 11)]
    with RocksLogStore(tmp_path) as s:
        assert (s.first_index(), s.last_index(), s.term(7)) == (8, 10, 2)


def test_installed_snapshot_resets_the_log_and_survives_reopen(tmp_path: Path) -> None:
    cs = ConfState(voters=(1, 2), learners=(3,))
    snap = Snapshot(SnapshotMetadata(index=50, term=4, conf_state=cs), data=b"db image")
    with RocksLogStore(tmp_path) as s:
        s.persist(HardState(1, 1, 0), ents(1, 20))
        s.persist(HardState(4, 0, 50), ents(51, 53, term=4), snap)
        assert (s.first_index(), s.last_index(), s.term(50)) == (51, 52, 4)
        with pytest.raises(SnapshotOutOfDateError):
            s.persist(snapshot=snap)
    with RocksLogStore(tmp_path) as s:
        assert s.snapshot() == snap
        assert s.initial_state() == (HardState(4, 0, 50), cs)
        assert [e.index for e in s.entries(51, 53)] == [51, 52]
    assert [k for k in raw_keys(tmp_path) if k[:1] == b"e"] == [entry_key(51), entry_key(52)]


def test_create_snapshot_writes_a_file_and_prunes_older_ones(store: RocksLogStore) -> None:
    store.persist(HardState(1, 1, 10), ents(1, 11))
    store.create_snapshot(5, ConfState(voters=(1,)), b"five")
    s = store.create_snapshot(8, ConfState(voters=(1,)), b"eight")
    assert store.snapshot() == s and s.metadata.term == 1
    files = sorted(p.name for p in (store.path / "snapshots").iterdir())
    assert files == [f"{1:016x}-{8:016x}.snap"]
    (store.path / "snapshots" / files[0]).unlink()
    with pytest.raises(SnapshotTemporarilyUnavailableError):
        store.snapshot()


def test_write_invariants_are_enforced_before_anything_is_written(store: RocksLogStore) -> None:
    store.persist(HardState(3, 2, 0), ents(1, 5, term=3))
    with pytest.raises(StorageError, match="term would go backwards"):
        store.persist(HardState(2, 2, 0))
    with pytest.raises(StorageError, match="vote changed"):  # section 5.2: one vote per term
        store.persist(HardState(3, 1, 0))
    with pytest.raises(StorageError, match="commit .* beyond"):
        store.persist(HardState(3, 2, 9))
    with pytest.raises(StorageError, match="not contiguous"):
        store.persist(None, [Entry(3, 5), Entry(3, 7)])
    with pytest.raises(StorageError, match="terms decrease"):
        store.persist(None, [Entry(3, 5), Entry(2, 6)])
    with pytest.raises(UnavailableError):
        store.persist(None, [Entry(3, 7)])  # a gap after last index 4
    store.persist(HardState(3, 2, 4))
    with pytest.raises(StorageError, match="commit .* beyond"):  # snapshot older than commit
        store.persist(snapshot=Snapshot(SnapshotMetadata(index=3, term=3)))
    # a failing request inside persist_many leaves memory and disk untouched
    with pytest.raises(StorageError):
        store.persist_many([PersistRequest(None, ents(5, 8, term=3)), PersistRequest(HardState(1))])
    assert store.last_index() == 4 and store.stats.writes == 2


def test_entries_size_limit_returns_at_least_one(store: RocksLogStore) -> None:
    store.persist(HardState(1, 1, 0), ents(1, 11, size=76))  # size() = 76 + 24 = 100
    assert len(store.entries(1, 11, max_size=0)) == 1
    assert len(store.entries(1, 11, max_size=250)) == 2
    assert len(store.entries(1, 11, max_size=300)) == 3
    assert len(store.entries(1, 11)) == 10


def test_tail_reads_come_from_memory_old_reads_from_disk(tmp_path: Path) -> None:
    with RocksLogStore(tmp_path, tail_max_entries=100) as s:
        s.persist(HardState(1, 1, 0), ents(1, 1001))
        before = s.stats.disk_reads
        assert [e.index for e in s.entries(950, 1001)] == list(range(950, 1001))
        assert s.stats.disk_reads == before
        assert [e.index for e in s.entries(850, 920)] == list(range(850, 920))
        assert s.stats.disk_reads == before + 51  # 850..900 from disk, 901..919 cached
        mixed = s.entries(880, 960)  # spans disk and cache
        assert [e.index for e in mixed] == list(range(880, 960))


def test_corruption_is_detected_on_open_and_read(tmp_path: Path) -> None:
    with RocksLogStore(tmp_path, tail_max_entries=0) as s:
        s.persist(HardState(1, 1, 0), ents(1, 11))
    db = Rdict(str(tmp_path / "rocksdb"), Options(raw_mode=True))
    db.put(entry_key(5), encode_entry(Entry(1, 6)))  # a key holding the wrong entry
    del db[entry_key(7)]  # a hole
    db.close()
    with RocksLogStore(tmp_path, tail_max_entries=0) as s:
        with pytest.raises(CorruptionError):
            s.entries(4, 6)
        with pytest.raises(CorruptionError):
            s.entries(6, 9)
    db = Rdict(str(tmp_path / "rocksdb"), Options(raw_mode=True))
    db.put(K_HARD, b"\x01\x02garbage")
    db.close()
    with pytest.raises(CorruptionError):
        RocksLogStore(tmp_path)


def test_persist_ready_syncs_only_when_the_ready_says_so(store: RocksLogStore) -> None:
    """docs/raft-api.md, Ready loop step 1: one write, synced when must_sync; a commit-only
    hard state waits in memory for the next write (log_store.py docstring)."""
    from raftsql.raft.types import Ready

    store.persist_ready(Ready(hard_state=HardState(1, 1, 0), entries=ents(1, 4), must_sync=True))
    store.persist_ready(Ready(hard_state=HardState(1, 1, 3), must_sync=False))  # commit only
    store.persist_ready(Ready(messages=[]))  # nothing to persist: no write at all
    assert (store.stats.writes, store.stats.synced_writes, store.stats.deferred_commits) == (
        1, 1, 1)
    assert store.initial_state()[0] == HardState(1, 1, 3) and store.last_index() == 3


def _stored_hard_state(path: Path) -> HardState:
    from raftsql.codec import decode_hard_state

    db = Rdict(str(path / "rocksdb"), Options(raw_mode=True))
    try:
        return decode_hard_state(db[K_HARD])
    finally:
        db.close()


def test_a_commit_only_hard_state_is_written_by_the_next_batch_or_at_close(
    tmp_path: Path,
) -> None:
    """The deferred commit goes first in the next batch, so a newer hard state of that batch
    wins; whatever is pending when the store closes is written then."""
    path = tmp_path / "n1"
    with RocksLogStore(path, conf_state=ConfState(voters=(1,))) as s:
        s.persist(HardState(1, 1, 0), ents(1, 6), sync=True)
        s.persist(HardState(1, 1, 2), sync=False)  # deferred
        s.persist(None, ents(6, 8), sync=True)  # carries commit 2
        s.persist(HardState(1, 1, 4), sync=False)  # deferred
        s.persist(HardState(2, 3, 5), ents(8, 9, term=2), sync=True)  # newer: wins
        s.persist(HardState(2, 3, 7), sync=False)  # deferred; close writes it
        with pytest.raises(StorageError):
            s.persist(HardState(2, 3, 6), sync=False)  # backwards: refused, not deferred
    assert _stored_hard_state(path) == HardState(2, 3, 7)
    with RocksLogStore(path) as s:
        assert s.hard_state == HardState(2, 3, 7)
        s.persist(HardState(2, 3, 8), sync=False)
        s.compact(6)  # the compaction's batch stores commit 8 first
        assert _stored_hard_state_while_open(s) == HardState(2, 3, 8)


def _stored_hard_state_while_open(s: RocksLogStore) -> HardState:
    from raftsql.codec import decode_hard_state

    return decode_hard_state(s._db[K_HARD])  # test-only look at the stored value


def test_orphan_and_superseded_snapshot_files_are_pruned(tmp_path: Path) -> None:
    """A crash after the file's rename but before the batch leaves an orphan: removed on open."""
    from raftsql.storage import SnapshotFiles

    orphan = SnapshotMetadata(index=99, term=9)
    SnapshotFiles(tmp_path / "snapshots").save(orphan, b"never recorded")
    with RocksLogStore(tmp_path) as s:
        assert not (tmp_path / "snapshots" / f"{9:016x}-{99:016x}.snap").exists()
        s.persist(HardState(1, 1, 5), ents(1, 6))
        s.create_snapshot(5, ConfState(voters=(1,)), b"local")
        s.persist(HardState(2, 0, 20), (), Snapshot(SnapshotMetadata(index=20, term=2), b"leader"))
        names = [p.name for p in (tmp_path / "snapshots").iterdir()]
        assert names == [f"{2:016x}-{20:016x}.snap"]
        assert s.snapshot().data == b"leader"


def test_restart_membership_follows_the_newest_snapshot(tmp_path: Path) -> None:
    """etcd storage.go: InitialState returns the snapshot's ConfState. After create_snapshot and
    compaction, the conf changes at or below the snapshot are gone from the log, so a restarted
    node must learn its membership from the snapshot, not from bootstrap."""
    grown = ConfState(voters=(1, 2, 3, 4))
    with RocksLogStore(tmp_path, conf_state=ConfState(voters=(1, 2, 3))) as s:
        s.persist(HardState(1, 1, 10), ents(1, 11))
        s.create_snapshot(10, grown, b"state")
        s.compact(10)
    with RocksLogStore(tmp_path, conf_state=ConfState(voters=(9,))) as s:  # bootstrap ignored
        assert s.initial_state()[1] == grown
        assert s.snapshot().metadata.conf_state == grown
