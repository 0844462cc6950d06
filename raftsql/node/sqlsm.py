"""The SQL state machine as the node sees it: Raft entries in, ``StmtResult`` lists out.

A thin adapter between ``raftsql.sql.apply.StateMachine`` (which is handed index, command bytes
and the client's id and sequence, and never learns about Raft) and the node's Ready loop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import apsw

from raftsql.node.driver import EPHEMERAL_PREFIX
from raftsql.raft.types import Entry, EntryType, Snapshot
from raftsql.sql.apply import SESSION_WINDOW, StateMachine
from raftsql.sql.command import StmtResult
from raftsql.sql.snapshot import CopyAborted, copy_database, remove_database_files

SnapshotAborted = CopyAborted
"""What ``PinnedSnapshot.copy`` raises after ``abort`` (the node is stopping)."""

COPY_STEP_PAGES = 1024
"""Pages copied per backup step; between steps the copy checks whether it was aborted."""
PIN_BUSY_TIMEOUT_MS = 100
"""How long pinning may wait on a SQLite lock: it runs on the Raft loop, so not long; a pin
that fails is retried later."""


def _item(entry: Entry) -> tuple[int, bytes | None, str | None, int | None]:
    """(index, command, client, seq) as the SQL state machine takes it: no command for no-ops
    and configuration changes, no client for node-local (ephemeral) tags."""
    if entry.type != EntryType.NORMAL or not entry.data:
        return entry.index, None, None, None
    if entry.client_id and not entry.client_id.startswith(EPHEMERAL_PREFIX):
        return entry.index, entry.data, entry.client_id.hex(), entry.seq
    return entry.index, entry.data, None, None


class PinnedSnapshot:
    """The state at ``index``, held by a read transaction so that it can be copied on a worker
    thread while the node goes on applying entries.

    Why: a snapshot copies the whole database, seconds for a big one, and every node snapshots
    at the same applied index; a Raft loop that waited for the copy stopped answering
    heartbeats and the leader lost its leadership at every snapshot (docs/design.md,
    "Snapshots"). In WAL mode a read transaction keeps seeing exactly the state it started on
    however far the writer moves, and never blocks it (sqlite.org/wal.html, "Concurrency";
    sqlite.org/isolation.html).

    Made on the Raft loop between two Readies (so ``index`` is the applied index and the core's
    configuration is the one as of ``index``); ``copy`` runs on a worker thread; ``abort`` may
    be called from any thread and makes ``copy`` stop at its next step. ``close`` is idempotent.
    """

    def __init__(self, sm: SqlStateMachine) -> None:
        self._sm = sm
        self._aborted = threading.Event()
        self._conn = apsw.Connection(sm.path, statementcachesize=0)
        try:
            self._conn.set_busy_timeout(PIN_BUSY_TIMEOUT_MS)
            self._conn.execute("PRAGMA query_only=ON")
            self._conn.execute("BEGIN")  # deferred: the snapshot is taken by the first read
            row = next(self._conn.execute("SELECT applied_index FROM _raftsql_meta"))
            self.index = int(row[0])
        except BaseException:
            self._conn.close()
            raise

    def abort(self) -> None:
        self._aborted.set()

    def copy(self, path: Path) -> None:
        """On a worker thread: make the state up to ``index`` durable in SQLite (the log will be
        compacted behind the snapshot, so SQLite must not lose it in a crash), then copy the
        pinned state into a new file at ``path``, synced. Raises SnapshotAborted after
        ``abort``; closes the read transaction in every case, and deletes the file unless the
        copy was made."""
        try:
            durable = self._sm.db.flush()
            if durable < self.index:  # flush reads the applied index after the pin: never less
                raise RuntimeError(f"flushed up to {durable}, pinned {self.index}")
            copy_database(self._conn, str(path), COPY_STEP_PAGES, self._aborted)
        except BaseException:
            remove_database_files(str(path))
            raise
        finally:
            self.close()  # the WAL may be checkpointed past the pinned state again

    def close(self) -> None:
        """End the read transaction: the WAL may be checkpointed past it again."""
        self._conn.close()


class SqlStateMachine:
    """``ReplicatedStateMachine`` backed by one SQLite file in the node's data directory."""

    def __init__(self, data_dir: str | os.PathLike[str],
                 session_window: int = SESSION_WINDOW) -> None:
        """``session_window`` is for tests that make sessions expire within a few entries;
        every node of a cluster must use the same (the default)."""
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = str(self.dir / "state.sqlite")
        self.db = StateMachine(self.path, session_window=session_window)
        for older in ("snapshot.copy", "snapshot.tmp"):  # where older versions made the copy
            remove_database_files(str(self.dir / older))

    def apply_entries(self, entries: Sequence[Entry]) -> list[list[StmtResult] | None]:
        """All of a Ready's committed entries in one SQLite transaction (apply_batch)."""
        return self.db.apply_batch([_item(e) for e in entries])

    def apply_ahead(self, entries: Sequence[Entry]) -> None:
        """Entries not committed yet, run in a transaction left open (StateMachine.apply_ahead)."""
        self.db.apply_ahead([_item(e) for e in entries])

    def applied_index(self) -> int:
        return self.db.applied_index

    def size_bytes(self) -> int:
        return self.db.size_bytes()

    def pin_snapshot(self) -> PinnedSnapshot:
        """Pin the current state for a snapshot (cheap: one read transaction on the WAL)."""
        return PinnedSnapshot(self)

    def restore(self, snapshot: Snapshot) -> None:
        tmp = self.dir / "restore.tmp"
        try:
            tmp.write_bytes(snapshot.data)
            self.db.restore_from(str(tmp))
        finally:
            tmp.unlink(missing_ok=True)

    def close(self) -> None:
        self.db.close()
