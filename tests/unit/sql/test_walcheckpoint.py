"""WAL checkpoints of the state machine on their own thread (raftsql/sql/walcheckpoint.py).

Source of truth: SQLite's WAL documentation (sqlite.org/wal.html, "Checkpointing", and
c3ref/wal_hook.html: a WAL hook replaces the automatic checkpoint, and SQLite restarts the WAL
once a checkpoint copied all of it). The state machine's applying thread must never copy the
WAL itself, and checkpoints must still keep the WAL bounded while entries are applied."""

from __future__ import annotations

import os
import time
from pathlib import Path

from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.sql.walcheckpoint import WAL_CHECKPOINT_PAGES

PAGE = 4096
ROW = "x" * 3000  # about a page per entry: the WAL passes the threshold in ~1000 entries
CREATE = encode(Command((Stmt("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"),)))


def _write(i: int) -> bytes:
    return encode(Command((Stmt("INSERT INTO t VALUES (?, ?)", (i, ROW)),)))


def _wal_bytes(sm: StateMachine) -> int:
    wal = sm.path + "-wal"
    return os.path.getsize(wal) if os.path.exists(wal) else 0


def test_checkpoints_keep_the_wal_bounded(tmp_path: Path) -> None:
    sm = StateMachine(str(tmp_path / "db"))
    try:
        sm.apply(1, CREATE)
        largest = 0
        for i in range(2, 5000):  # ~5,000 pages written
            sm.apply(i, _write(i))
            largest = max(largest, _wal_bytes(sm))
            if i % 500 == 0:
                time.sleep(0.05)  # the checkpoint thread's turn, as a loop's idle moments give
        deadline = time.monotonic() + 10
        while sm._checkpointer.checkpoints == 0 and time.monotonic() < deadline:  # noqa: SLF001
            time.sleep(0.01)
        assert sm._checkpointer.checkpoints >= 1  # noqa: SLF001
        assert largest < 3 * WAL_CHECKPOINT_PAGES * PAGE, largest  # restarted, not kept whole
        assert sm.applied_index == 4999
    finally:
        sm.close()
    assert not sm._checkpointer.running  # noqa: SLF001


def test_the_applying_connection_never_checkpoints(tmp_path: Path) -> None:
    """With the checkpoint thread stopped, nothing reaches the database file: the applying
    connection's commits never copy the WAL into it (the hook replaced SQLite's automatic
    checkpoint, which would have copied ~2,000 pages)."""
    sm = StateMachine(str(tmp_path / "db"))
    try:
        sm._checkpointer.close()  # noqa: SLF001
        sm.apply(1, CREATE)
        for i in range(2, 2 * WAL_CHECKPOINT_PAGES):
            sm.apply(i, _write(i))
        assert _wal_bytes(sm) > 1.5 * WAL_CHECKPOINT_PAGES * PAGE
        assert os.path.getsize(sm.path) < 100 * PAGE
    finally:
        sm.close()
