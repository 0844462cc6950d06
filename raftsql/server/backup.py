"""Consistent online backups over the operations endpoint, and seeding a new cluster from one.

Why a backup goes through a node rather than copying files: a node's SQLite file is only one
replica at one applied index, and copying it while it is being written tears it. ``GET /backup``
first runs a linearizable read barrier (ReadIndex, Raft thesis section 6.4: a quorum round, then
wait until applied >= the read index), so the copy contains every write acknowledged before the
request arrived; then SQLite's online backup API copies one read transaction's snapshot into a
temp file (``StateMachine.snapshot_to``: the apply loop is never blocked, WAL), and that file is
streamed with its size, applied index and SHA-256 in the headers.

Why restore writes a Raft snapshot rather than replaying anything: the backup IS the state
machine at index B. A new cluster whose every node holds (a) that SQLite file and (b) a Raft
snapshot record at index B with the new membership has a log that "starts after B", exactly as
after log compaction (Raft paper section 7). The driver's bootstrap sees the snapshot and does
nothing, elections start at term 2, and a node added later with ``--join`` receives the same
file by InstallSnapshot. docs/operations.md, "Backup and restore", is the user's guide.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import apsw

from raftsql.raft.types import ConfState, HardState, NodeId, Snapshot, SnapshotMetadata
from raftsql.server.http import FileBody, Response
from raftsql.sql.apply import StateMachine
from raftsql.sql.snapshot import content_checksum
from raftsql.storage.log_store import RocksLogStore

CHUNK = 1 << 20
MAX_CONCURRENT_BACKUPS = 2
"""Each backup holds a full copy of the database in the data dir while it streams: a bound on
how much disk concurrent requests can take (STYLE.md rule 15)."""
BACKUP_SUBDIR = "backups"
RESTORE_TERM = 1
"""The term recorded with the restored snapshot: the new cluster's first election is term 2."""
H_APPLIED = "x-raftsql-applied-index"
H_READ = "x-raftsql-read-index"
H_SHA = "x-raftsql-sha256"


class BackupError(RuntimeError):
    """A backup could not be taken, transferred, verified or restored."""


@dataclass(frozen=True)
class BackupInfo:
    """What the serving node reports about one backup file."""

    applied_index: int
    read_index: int
    size: int
    sha256: str


@dataclass(frozen=True)
class Verified:
    """The result of checking a backup file on its own (no cluster needed)."""

    applied_index: int
    engine_version: str
    checksum: str
    user_tables: tuple[str, ...]
    size: int


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- serving side


class BackupSource:
    """Takes backups for ``GET /backup`` on one node (see the module docstring)."""

    def __init__(self, node: Any, state_machine: Any, data_dir: Path) -> None:
        self.node = node
        self.sm = state_machine
        self.dir = Path(data_dir) / BACKUP_SUBDIR
        shutil.rmtree(self.dir, ignore_errors=True)  # leftovers of a crash mid-stream
        self.dir.mkdir(parents=True, exist_ok=True)
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_BACKUPS)

    async def take(self) -> tuple[Path, BackupInfo]:
        """Barrier, then a snapshot file in the data dir; the caller deletes the file."""
        read_index = await self.node.read_barrier("linearizable")
        path = self.dir / f"backup-{uuid.uuid4().hex}.sqlite"
        try:
            applied = await asyncio.to_thread(self.sm.db.snapshot_to, str(path))
            assert applied >= read_index, (applied, read_index)  # barrier waited for apply
            sha = await asyncio.to_thread(_sha256_file, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, BackupInfo(applied, read_index, path.stat().st_size, sha)

    async def handle(self, _query: dict[str, str]) -> Response:
        """The ``GET /backup`` handler: 200 with the file, 503 when no backup can be taken."""
        if self._slots.locked():
            return 503, "text/plain", b"too many backups in progress\n"
        await self._slots.acquire()
        try:
            path, info = await self.take()
        except Exception as exc:
            self._slots.release()
            sqlstate = getattr(exc, "sqlstate", "")
            return 503, "text/plain", f"cannot take a backup: {exc} {sqlstate}\n".encode()

        def done() -> None:
            path.unlink(missing_ok=True)
            self._slots.release()

        headers = [(H_APPLIED, str(info.applied_index)), (H_READ, str(info.read_index)),
                   (H_SHA, info.sha256)]
        return 200, "application/vnd.sqlite3", FileBody(path, headers, done)


# ---------------------------------------------------------------------------- client side


def fetch_backup(addrs: Iterable[str], out: Path, *, timeout: float = 30.0,
                 progress: Callable[[int, int], None] | None = None) -> BackupInfo:
    """Download a backup from the first node in ``addrs`` that can take one, to ``out``.

    The file is written to ``out.part``, checked against the advertised size and SHA-256,
    fsynced, renamed to ``out`` and the directory fsynced: ``out`` is either absent or whole.
    """
    errors = []
    for addr in addrs:
        try:
            return _fetch_from(addr.strip(), Path(out), timeout, progress)
        except (OSError, BackupError, ValueError) as exc:
            errors.append(f"{addr}: {exc}")
    raise BackupError("no node could take a backup: " + "; ".join(errors))


def _fetch_from(addr: str, out: Path, timeout: float,
                progress: Callable[[int, int], None] | None) -> BackupInfo:
    part = out.with_name(out.name + ".part")
    try:
        with urllib.request.urlopen(f"http://{addr}/backup", timeout=timeout) as resp:
            total = int(resp.headers["content-length"])
            info = BackupInfo(int(resp.headers[H_APPLIED]), int(resp.headers[H_READ]), total,
                              resp.headers[H_SHA])
            h = hashlib.sha256()
            done = 0
            with open(part, "wb") as f:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                f.flush()
                os.fsync(f.fileno())
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise BackupError(f"HTTP {exc.code}: {exc.read().decode(errors='replace').strip()}") \
            from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if done != total or h.hexdigest() != info.sha256:
        part.unlink(missing_ok=True)
        raise BackupError(f"transfer damaged: {done}/{total} bytes, sha256 {h.hexdigest()} "
                          f"!= {info.sha256}")
    os.replace(part, out)
    _fsync_path(out.parent.resolve(), directory=True)
    return info


def verify_backup(path: Path) -> Verified:
    """Open the file read-only: integrity check, raftsql metadata, content checksum.

    The checksum is the one ``GET /checksum`` reports (raftsql.sql.snapshot.content_checksum),
    so a cluster restored from this file must report it until its first write.
    """
    try:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error as exc:
        raise BackupError(f"{path}: not a SQLite database ({exc})") from None
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{path}: integrity check failed: {problems[:5]}")
        rows = list(conn.execute("SELECT applied_index, sqlite_version FROM _raftsql_meta"))
        if len(rows) != 1:
            raise BackupError(f"{path}: no raftsql metadata row")
        tables = tuple(str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_raftsql\\_%'"
            " ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"))
        checksum = content_checksum(conn)
    except apsw.Error as exc:
        raise BackupError(f"{path}: not a raftsql backup ({exc})") from None
    finally:
        conn.close()
    return Verified(int(rows[0][0]), str(rows[0][1]), checksum, tables, path.stat().st_size)


def offline_backup(data_dir: Path, out: Path) -> Verified:
    """Copy a STOPPED node's SQLite state to ``out`` (the last resort after quorum loss, when
    no linearizable barrier is possible): the node's applied state, which may lack writes
    that only the lost nodes applied. Opening the node's RocksDB first fails while the node
    runs (RocksDB's LOCK), so a live node is never copied this way."""
    data_dir = Path(data_dir)
    state = data_dir / "sql" / "state.sqlite"
    if not state.exists():
        raise BackupError(f"{state} does not exist: not a node's data dir")
    try:
        RocksLogStore(data_dir / "raft").close()
    except Exception as exc:
        raise BackupError(f"{data_dir} is in use (stop the node first): {exc}") from None
    sm = StateMachine(str(state))
    try:
        sm.snapshot_to(str(out))
    finally:
        sm.close()
    _fsync_path(Path(out).parent.resolve(), directory=True)
    return verify_backup(Path(out))


# ---------------------------------------------------------------------------- restore


def restore_data_dir(backup: Path, data_dir: Path, node_id: NodeId,
                     voters: Iterable[NodeId]) -> Verified:
    """Prepare ``data_dir`` so that ``raftsql serve`` starts node ``node_id`` of a NEW cluster
    whose voters are ``voters`` with the backup's state at the backup's applied index B.

    Writes ``sql/state.sqlite`` (the backup, through ``StateMachine.restore_from``, which
    checks the engine version) and a RocksDB store holding only a snapshot at B (term 1, the
    new membership, the backup bytes as its data) and the hard state (term 1, commit B).
    Every node of the new cluster is prepared identically, so their logs agree at B.
    Refuses a data dir that already holds a node.
    """
    ids = tuple(sorted(set(voters)))
    if node_id not in ids:
        raise BackupError(f"--peers must list this node ({node_id})")
    info = verify_backup(backup)
    if info.applied_index <= 0:
        raise BackupError(f"{backup}: applied index {info.applied_index}: nothing to restore")
    data_dir = Path(data_dir)
    for existing in ("raft", "sql"):
        if (data_dir / existing).exists():
            raise BackupError(f"{data_dir / existing} exists: restore only seeds an empty "
                              "data dir (a new cluster)")
    try:
        _seed(backup, data_dir, info, ids)
    except BaseException:
        for created in ("raft", "sql"):  # a half-seeded dir would be refused on a retry
            shutil.rmtree(data_dir / created, ignore_errors=True)
        raise
    marker = data_dir / "restored-from.json"
    marker.write_text(json.dumps({"file": str(Path(backup).resolve()), "node_id": node_id,
                                  "voters": list(ids), **asdict(info)}, indent=2) + "\n")
    return info


def _seed(backup: Path, data_dir: Path, info: Verified, ids: tuple[NodeId, ...]) -> None:
    (data_dir / "sql").mkdir(parents=True)
    sm = StateMachine(str(data_dir / "sql" / "state.sqlite"))
    try:
        applied = sm.restore_from(str(backup))
        assert applied == info.applied_index, (applied, info.applied_index)
        sm.flush()
    finally:
        sm.close()
    meta = SnapshotMetadata(index=info.applied_index, term=RESTORE_TERM,
                            conf_state=ConfState(voters=ids))
    store = RocksLogStore(data_dir / "raft")
    try:
        store.persist(HardState(term=RESTORE_TERM, vote=0, commit=info.applied_index), (),
                      Snapshot(meta, Path(backup).read_bytes()), sync=True)
    finally:
        store.close()
