"""The SQL state machine as the node sees it: Raft entries in, ``StmtResult`` lists out.

A thin adapter between ``raftsql.sql.apply.StateMachine`` (which is handed index, command bytes
and the client's id and sequence, and never learns about Raft) and the node's Ready loop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import apsw

from raftsql.node.driver import EPHEMERAL_PREFIX
from raftsql.raft.types import Entry, EntryType, Snapshot
from raftsql.sql.apply import StateMachine
from raftsql.sql.command import StmtResult
from raftsql.sql.snapshot import backup_to_file


def _item(entry: Entry) -> tuple[int, bytes | None, str | None, int | None]:
    """(index, command, client, seq) as the SQL state machine takes it: no command for no-ops
    and configuration changes, no client for node-local (ephemeral) tags."""
    if entry.type != EntryType.NORMAL or not entry.data:
        return entry.index, None, None, None
    if entry.client_id and not entry.client_id.startswith(EPHEMERAL_PREFIX):
        return entry.index, entry.data, entry.client_id.hex(), entry.seq
    return entry.index, entry.data, None, None


class PinnedSnapshot:
    """A read transaction holding the state at ``index``, so the copy can be made on a worker
    thread while the node goes on applying: a snapshot of a big database takes seconds, and a
    node whose Raft loop waited that long lost its leadership (every node snapshots at the same
    index, so none of them answered heartbeats)."""

    def __init__(self, sm: SqlStateMachine) -> None:
        self._sm = sm
        self._conn = apsw.Connection(sm.path, statementcachesize=0)
        self._conn.execute("BEGIN")
        self.index = int(next(self._conn.execute("SELECT applied_index FROM _raftsql_meta"))[0])

    def read(self) -> bytes:
        """On a worker thread: make the state up to ``index`` durable in SQLite (the log may be
        compacted behind it), then copy the pinned state and return its bytes."""
        try:
            durable = self._sm.db.flush()
            assert durable >= self.index, (durable, self.index)
            tmp = self._sm.dir / "snapshot.tmp"
            try:
                backup_to_file(self._conn, str(tmp))
                return tmp.read_bytes()
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            self._conn.close()


class SqlStateMachine:
    """``ReplicatedStateMachine`` backed by one SQLite file in the node's data directory."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = str(self.dir / "state.sqlite")
        self.db = StateMachine(self.path)

    def apply_entries(self, entries: Sequence[Entry]) -> list[list[StmtResult] | None]:
        """All of a Ready's committed entries in one SQLite transaction (apply_batch)."""
        return self.db.apply_batch([_item(e) for e in entries])

    def applied_index(self) -> int:
        return self.db.applied_index

    def pin_snapshot(self) -> PinnedSnapshot:
        """Pin the current state for a snapshot (cheap: a read transaction on the WAL)."""
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
