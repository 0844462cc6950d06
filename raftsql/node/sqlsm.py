"""The SQL state machine as the node sees it: Raft entries in, ``StmtResult`` lists out.

A thin adapter between ``raftsql.sql.apply.StateMachine`` (which is handed index, command bytes
and the client's id and sequence, and never learns about Raft) and the node's Ready loop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from raftsql.node.driver import EPHEMERAL_PREFIX
from raftsql.raft.types import Entry, EntryType, Snapshot
from raftsql.sql.apply import StateMachine
from raftsql.sql.command import StmtResult


def _item(entry: Entry) -> tuple[int, bytes | None, str | None, int | None]:
    """(index, command, client, seq) as the SQL state machine takes it: no command for no-ops
    and configuration changes, no client for node-local (ephemeral) tags."""
    if entry.type != EntryType.NORMAL or not entry.data:
        return entry.index, None, None, None
    if entry.client_id and not entry.client_id.startswith(EPHEMERAL_PREFIX):
        return entry.index, entry.data, entry.client_id.hex(), entry.seq
    return entry.index, entry.data, None, None


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

    def prepare_compaction(self) -> int:
        return self.db.flush()

    def snapshot_data(self) -> bytes:
        tmp = self.dir / "snapshot.tmp"
        try:
            self.db.snapshot_to(str(tmp))
            return tmp.read_bytes()
        finally:
            tmp.unlink(missing_ok=True)

    def restore(self, snapshot: Snapshot) -> None:
        tmp = self.dir / "restore.tmp"
        try:
            tmp.write_bytes(snapshot.data)
            self.db.restore_from(str(tmp))
        finally:
            tmp.unlink(missing_ok=True)

    def close(self) -> None:
        self.db.close()
