"""Snapshots copied in the background (raftsql/node/sqlsm.py PinnedSnapshot, RocksLogStore's
snapshot_meta / snapshot_copy_path / seal_snapshot_file / commit_snapshot, StateMachine.flush).

Sources of truth: Raft paper section 7 (a snapshot replaces the log up to its index; a follower
that installs the leader's snapshot discards what it had up to there), etcd-io/raft
storage.go (ErrSnapOutOfDate: a snapshot older than the current one is refused), SQLite's
isolation rules (sqlite.org/isolation.html: a read transaction in WAL mode sees one state however
the database changes after it began; sqlite.org/wal.html, "Checkpointing": a checkpoint cannot
go past a frame a reader still uses, so a TRUNCATE checkpoint reports busy while one is open).
Real SQLite files and a real RocksDB store in tmp_path; the copy runs on a real thread.
"""

from __future__ import annotations

import threading
from pathlib import Path

import apsw
import pytest

from raftsql.node.sqlsm import SnapshotAborted, SqlStateMachine
from raftsql.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from raftsql.sql.command import Command, Stmt, encode
from raftsql.storage import RocksLogStore

CONF = ConfState(voters=(1, 2, 3))


def _entry(index: int, sql: str) -> Entry:
    return Entry(term=1, index=index, data=encode(Command((Stmt(sql),))))


def _grow(sm: SqlStateMachine, store: RocksLogStore | None, upto: int) -> None:
    """Apply (and log, when there is a store) entries up to ``upto``: the table, then one row
    per entry, so a state's row count tells its applied index."""
    first = sm.applied_index() + 1
    entries = [
        _entry(i, "CREATE TABLE t (k INTEGER PRIMARY KEY)") if i == 1
        else _entry(i, f"INSERT INTO t VALUES ({i})")
        for i in range(first, upto + 1)
    ]
    if store is not None:
        store.persist(HardState(term=1, vote=1, commit=upto), entries)
    sm.apply_entries(entries)


def _copy_in_thread(pinned, path: Path, store=None, meta=None) -> bytes:  # type: ignore[no-untyped-def]
    """Run ``pinned.copy`` into ``path`` on another thread, as the node's worker does; return
    the copy's bytes, after sealing it as ``meta``'s snapshot file in ``store`` when one is
    given (``path`` is then the store's ``snapshot_copy_path``)."""
    out: dict[str, bytes | BaseException] = {}

    def run() -> None:
        try:
            pinned.copy(path)
            out["data"] = path.read_bytes()
            if store is not None:
                store.seal_snapshot_file(meta)
        except BaseException as exc:  # handed back to the test's thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["data"]  # type: ignore[return-value]


def _state_of(data: bytes, tmp: Path) -> tuple[int, int]:
    """(applied_index, rows of t) of a snapshot's bytes, opened as the SQLite file it is."""
    path = tmp / "look.sqlite"
    path.write_bytes(data)
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        applied = conn.execute("SELECT applied_index FROM _raftsql_meta").fetchall()[0][0]
        rows = conn.execute("SELECT count(*) FROM t").fetchall()[0][0]
        return int(applied), int(rows)
    finally:
        conn.close()
        path.unlink()


def _leader_snapshot(tmp: Path, index: int) -> Snapshot:
    """The leader's state at ``index`` as the snapshot it would send (its own copy)."""
    sm = SqlStateMachine(tmp / "leader")
    try:
        _grow(sm, None, index)
        pinned = sm.pin_snapshot()
        data = _copy_in_thread(pinned, tmp / "leader-copy")
    finally:
        sm.close()
    return Snapshot(SnapshotMetadata(index=index, term=1, conf_state=CONF), data)


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    sm = SqlStateMachine(tmp_path / "f" / "sql")
    store = RocksLogStore(tmp_path / "f" / "raft", conf_state=CONF)
    yield sm, store
    store.close()
    sm.close()


def _snap_files(store: RocksLogStore) -> list[str]:
    return sorted(p.name for p in (store.path / "snapshots").glob("*.snap"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("installed", ["before the file is saved", "after the file is saved"])
def test_leader_snapshot_installed_during_the_copy_wins(node, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       installed: str) -> None:
    """The follower pins its state at 5 and copies it; meanwhile it installs the leader's
    snapshot at 20 (as handle_ready does: store first, then the state machine). The copy still
    holds exactly the state at 5 (isolation), and committing it must not replace the newer
    snapshot (paper section 7, ErrSnapOutOfDate), nor leave its file behind."""
    sm, store = node
    _grow(sm, store, 5)
    meta = store.snapshot_meta(5, CONF)
    pinned = sm.pin_snapshot()
    assert pinned.index == 5
    leader = _leader_snapshot(tmp_path, 20)

    def install() -> None:
        store.persist(snapshot=leader, sync=True)
        sm.restore(leader)

    if installed == "before the file is saved":
        install()
        data = _copy_in_thread(pinned, store.snapshot_copy_path(meta), store, meta)
    else:
        data = _copy_in_thread(pinned, store.snapshot_copy_path(meta), store, meta)
        install()  # prunes every other snapshot file, the one just saved included
    assert _state_of(data, tmp_path) == (5, 4)  # the pinned state, not the leader's

    assert store.commit_snapshot(meta) is False
    assert store.snapshot_metadata == leader.metadata
    assert store.snapshot().data == leader.data
    assert _snap_files(store) == [f"{1:016x}-{20:016x}.snap"]
    assert store.first_index() == 21
    assert (sm.applied_index(), sm.db.checksum()) == (20, _sm_checksum(leader, tmp_path))


def _sm_checksum(snap: Snapshot, tmp: Path) -> str:
    sm = SqlStateMachine(tmp / "check")
    try:
        sm.restore(snap)
        return sm.db.checksum()
    finally:
        sm.close()


@pytest.mark.timeout(60)
def test_copy_holds_the_pinned_state_while_apply_goes_on_and_becomes_the_snapshot(
        node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No race: the state at 5 is pinned, entries 6..9 are applied before the copy runs, and
    the snapshot made from the copy is the state at 5, with the membership as of 5."""
    sm, store = node
    _grow(sm, store, 5)
    meta = store.snapshot_meta(5, CONF)
    pinned = sm.pin_snapshot()
    _grow(sm, store, 9)
    _copy_in_thread(pinned, store.snapshot_copy_path(meta), store, meta)
    assert store.commit_snapshot(meta) is True
    assert store.snapshot_metadata == meta
    assert store.initial_state()[1] == CONF
    assert _state_of(store.snapshot().data, tmp_path) == (5, 4)
    assert sorted(p.name for p in (store.path / "snapshots").iterdir()) == _snap_files(store)
    assert sm.applied_index() == 9


@pytest.mark.timeout(60)
def test_abort_stops_the_copy_and_releases_the_pinned_state(node) -> None:  # type: ignore[no-untyped-def]
    """Shutdown aborts a copy: ``read`` raises SnapshotAborted and ends its read transaction,
    so the WAL can be checkpointed completely again (a TRUNCATE checkpoint is blocked, busy=1,
    while any reader still uses the WAL)."""
    sm, store = node
    _grow(sm, store, 5)
    meta = store.snapshot_meta(5, CONF)
    pinned = sm.pin_snapshot()
    _grow(sm, store, 8)  # frames the pinned reader does not see
    probe = apsw.Connection(sm.path)
    try:
        assert probe.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0][0] == 1
        pinned.abort()
        with pytest.raises(SnapshotAborted):
            _copy_in_thread(pinned, store.snapshot_copy_path(meta), store, meta)
        assert probe.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0] == (0, 0, 0)
    finally:
        probe.close()
    assert list((store.path / "snapshots").iterdir()) == []  # the copy was deleted


@pytest.mark.timeout(60)
def test_flush_does_not_wait_for_the_apply_lock(node) -> None:  # type: ignore[no-untyped-def]
    """The snapshot thread's flush must not queue behind the apply thread (the Raft loop): it
    completes while a batch holds the apply lock, and reports the applied index."""
    sm, store = node
    _grow(sm, store, 6)
    done: list[int] = []
    with sm.db._lock:  # the apply thread is inside a batch
        t = threading.Thread(target=lambda: done.append(sm.db.flush()))
        t.start()
        t.join(10)
        assert not t.is_alive(), "flush waited for the apply lock"
    assert done == [6]


@pytest.mark.timeout(60)
def test_a_copy_left_by_a_crash_is_removed_on_open(tmp_path: Path) -> None:
    """kill -9 in the middle of a copy leaves the copy file in the snapshot directory; the
    next start removes it (SnapshotFiles), and the copies older versions left in the state
    machine's directory too."""
    meta = SnapshotMetadata(index=7, term=2, conf_state=CONF)
    store = RocksLogStore(tmp_path / "raft", conf_state=CONF)
    copy = store.snapshot_copy_path(meta)
    store.close()
    copy.write_bytes(b"half a copy")
    sm = SqlStateMachine(tmp_path / "sql")
    sm.close()
    for name in ("snapshot.copy", "snapshot.copy-journal", "snapshot.tmp"):
        (tmp_path / "sql" / name).write_bytes(b"half a copy")
    SqlStateMachine(tmp_path / "sql").close()
    RocksLogStore(tmp_path / "raft", conf_state=CONF).close()
    assert not copy.exists()
    assert sorted(p.name for p in (tmp_path / "sql").iterdir() if "snapshot" in p.name) == []


def test_snapshot_interval_grows_with_the_state() -> None:
    """A snapshot copies the whole state: past 10,000 KiB of state, the default interval grows
    so that at most SNAPSHOT_BYTES_PER_ENTRY bytes are copied per applied entry."""
    from raftsql.node.driver import SNAPSHOT_BYTES_PER_ENTRY, snapshot_interval

    assert snapshot_interval(0) == 10_000
    assert snapshot_interval(10_000 * SNAPSHOT_BYTES_PER_ENTRY) == 10_000
    assert snapshot_interval(130 << 20) == (130 << 20) // SNAPSHOT_BYTES_PER_ENTRY
