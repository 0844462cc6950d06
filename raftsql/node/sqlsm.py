"""The SQL state machine as the node sees it: Raft entries in, ``StmtResult`` lists out.

A thin adapter between ``raftsql.sql.apply.StateMachine`` (which is handed index, command bytes
and the client's id and sequence, and never learns about Raft) and the node's Ready loop.
"""

from __future__ import annotations

import os
from pathlib import Path

from raftsql.node.driver import EPHEMERAL_PREFIX
from raftsql.raft.types import Entry, EntryType, Snapshot
from raftsql.sql.apply import StateMachine
from raftsql.sql.command import StmtResult


class SqlStateMachine:
    """``ReplicatedStateMachine`` backed by one SQLite file in the node's data directory."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = str(self.dir / "state.sqlite")
        self.db = StateMachine(self.path)

    def apply(self, entry: Entry) -> list[StmtResult] | None:
        if entry.type != EntryType.NORMAL or not entry.data:
            self.db.apply_noop(entry.index)
            return None
        if entry.client_id and not entry.client_id.startswith(EPHEMERAL_PREFIX):
            return self.db.apply(entry.index, entry.data, entry.client_id.hex(), entry.seq)
        return self.db.apply(entry.index, entry.data)

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
