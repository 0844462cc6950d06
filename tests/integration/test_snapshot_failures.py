"""A background snapshot that fails, or is still copying at shutdown, never harms the node.

Sources of truth: Raft paper section 7 (snapshotting is each server's local business: the log is
compacted only once a snapshot is complete, so a failed snapshot just keeps the log);
docs/design.md, "Snapshots" (a failure is logged and retried later; stop aborts the copy and
waits for it). Real RaftNodes (RocksDB log, TCP transport on 127.0.0.1, SQLite state machine)
in this event loop: a one-voter cluster, which elects itself.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import pytest
from inproc import start_single_voter

from raftsql.node.driver import RaftNode
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.testing.procs import free_port


def _sql(text: str) -> bytes:
    return encode(Command((Stmt(text),)))


async def _start(data: Path, port: int, snapshot_entries: int) -> tuple[RaftNode, SqlStateMachine]:
    return await start_single_voter(data, port, snapshot_entries=snapshot_entries)


async def _writes(node: RaftNode, first: int, count: int) -> None:
    for i in range(first, first + count):
        await node.propose(_sql(f"INSERT INTO t VALUES ({i})"))


async def _until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.timeout(90)
def test_a_failed_snapshot_is_logged_and_retried_and_the_node_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The snapshot directory is made unusable (a file where the directory was): writing the
    snapshot fails on the worker thread. The node must stay leader and keep committing, keep
    its whole log, and take the snapshot once the directory is back."""
    caplog.set_level(logging.INFO, logger="raftsql.node")

    async def scenario() -> None:
        node, sm = await _start(tmp_path, free_port(), snapshot_entries=10)
        try:
            await node.propose(_sql("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
            snaps = tmp_path / "raft" / "snapshots"
            shutil.rmtree(snaps)
            snaps.write_bytes(b"not a directory")
            await _writes(node, 0, 15)
            await _until(lambda: "failed; the log is kept" in caplog.text)
            await _writes(node, 15, 15)  # it still commits, and its Raft loop runs
            assert node.is_leader() and not node._tasks[0].done()
            assert node.metrics.snapshots_taken == 0
            assert node.store.first_index() == 1, "the log was compacted without a snapshot"

            snaps.unlink()
            snaps.mkdir()
            retry = time.monotonic() + 1.5  # the first retry waits 1 s
            while node.metrics.snapshots_taken == 0:
                assert time.monotonic() < retry + 10, "the snapshot was never retried"
                await _writes(node, 100 + int(time.monotonic() * 1000) % 10**6, 1)
                await asyncio.sleep(0.05)
            assert node.store.snapshot_metadata.index > 10
            assert node.store.first_index() > 1
        finally:
            await node.stop()
            sm.close()

    asyncio.run(scenario())


@pytest.mark.timeout(120)
def test_stop_during_a_copy_then_restart(tmp_path: Path) -> None:
    """stop() while a snapshot of a ~65 MiB database is being copied: it returns promptly (the
    copy is aborted between backup steps, or finishes its file), closes cleanly, and the node
    restarts on the same data with the same state and no leftover copy."""
    port = free_port()

    async def first_life() -> tuple[int, str]:
        node, sm = await _start(tmp_path, port, snapshot_entries=20)
        try:
            await node.propose(_sql("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
            await node.propose(_sql("CREATE TABLE big (v BLOB)"))
            for _ in range(4):  # 4,000 x 4 KiB rows per entry
                await node.propose(_sql(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                    "WHERE x < 4000) INSERT INTO big SELECT zeroblob(4096) FROM c"))
            await _writes(node, 0, 20)
            await _until(lambda: node._snapshot_task is not None)
        finally:
            t0 = time.monotonic()
            await node.stop()
            stopped_in = time.monotonic() - t0
            applied = sm.applied_index()
            checksum = sm.db.checksum()
            sm.close()
        assert node._snapshot_task is None
        assert stopped_in < 10, f"stop took {stopped_in:.1f} s"
        return applied, checksum

    async def second_life() -> tuple[int, str]:
        node, sm = await _start(tmp_path, port, snapshot_entries=20)
        try:
            return sm.applied_index(), sm.db.checksum()
        finally:
            await node.stop()
            sm.close()

    applied, checksum = asyncio.run(first_life())
    assert not list(tmp_path.rglob("*.tmp*")), "the aborted copy was left"
    again, checksum_again = asyncio.run(second_life())
    assert again >= applied  # the restarted leader appends its own no-op entry
    assert checksum_again == checksum
