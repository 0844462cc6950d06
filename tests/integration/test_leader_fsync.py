"""The leader's fsync of a batch runs off the event loop (RaftNode._sync_wal, docs/design.md).

What must hold: while the fsync of a Ready of several entries is in flight, the loop serves
other tasks; yet no proposal is answered before the fsync covering its entry returned (the
leader counts its own vote and applies only after it), and a node stopped during such an fsync
closes its store only once the fsync is done. Three real RaftNodes (RocksDB log, TCP transport
on 127.0.0.1, SQLite state machine) run in this event loop; the leader's WAL sync is slowed
down so that the loop has time to run during it, through the node's sync thread pool (a
stand-in executor), so neither the store nor the node is patched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from inproc import start_nodes, stop_nodes, wait_leader

from raftsql.node.driver import RaftNode
from raftsql.sql.command import Command, Stmt, encode

SLOW_SYNC = 0.15


class SlowSync(concurrent.futures.ThreadPoolExecutor):
    """Takes the place of the node's fsync thread: each job (the WAL sync) sleeps first, on
    that thread, and records (last index written when it started, start, end). A job that
    raised is recorded in ``errors``: a sync on a store closed under it raises."""

    def __init__(self, node: RaftNode) -> None:
        super().__init__(max_workers=1)
        self.store = node.store
        self.calls: list[tuple[int, float, float]] = []  # (last index, start, end)
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.started = threading.Event()
        assert node._wal_syncer is not None
        node._wal_syncer.shutdown(wait=True)
        node._wal_syncer = self

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        def slowly() -> Any:
            last, start = self.store.last_index(), time.monotonic()
            self.started.set()
            time.sleep(SLOW_SYNC)
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                self.errors.append(exc)
                raise
            finally:
                with self.lock:
                    self.calls.append((last, start, time.monotonic()))

        return super().submit(slowly)


def _insert(k: int) -> bytes:
    return encode(Command((Stmt("INSERT INTO t VALUES (?)", (k,)),)))


async def _slowed_leader(nodes: list[RaftNode]) -> tuple[RaftNode, SlowSync]:
    """The leader, once a table exists, with its WAL sync slowed down."""
    leader = await wait_leader(nodes)
    await leader.propose(encode(Command((Stmt("CREATE TABLE t (k INTEGER PRIMARY KEY)"),))))
    return leader, SlowSync(leader)


@pytest.mark.timeout(90)
def test_the_loop_runs_during_the_leaders_fsync_and_nothing_is_answered_before_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path)
        try:
            leader, slow = await _slowed_leader(nodes)
            beats: list[float] = []

            async def heartbeat() -> None:  # another task on the leader's loop
                while True:
                    beats.append(time.monotonic())
                    await asyncio.sleep(0.005)

            async def write(k: int) -> tuple[int, float]:
                index, _ = await leader.propose_indexed(_insert(k))
                return index, time.monotonic()

            beating = asyncio.create_task(heartbeat())
            # queued together, the proposals reach the core as one batch: one Ready of many
            answered = await asyncio.gather(*(write(k) for k in range(40)))
            beating.cancel()

            assert slow.calls, "no fsync went through sync_wal"
            assert any(start < b < end for _, start, end in slow.calls for b in beats), (
                "the loop did not run while the leader's fsync was in flight")
            for index, at in answered:
                covering = [end for last, _, end in slow.calls if last >= index]
                assert covering and min(covering) <= at, (
                    f"entry {index} was answered before an fsync covering it had returned")
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_a_leader_stopped_during_its_fsync_closes_the_store_after_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path)
        try:
            leader, slow = await _slowed_leader(nodes)
            writes = [asyncio.ensure_future(leader.propose(_insert(k))) for k in range(20)]
            assert await asyncio.to_thread(slow.started.wait, 10), "no fsync off the loop"
            await asyncio.sleep(SLOW_SYNC / 3)  # the fsync is now in flight on its thread
            await leader.stop(transfer=False)
            await asyncio.gather(*writes, return_exceptions=True)
            assert slow.calls, "no fsync ran off the loop"
            assert not slow.errors, f"the store was closed under its fsync: {slow.errors}"
            with pytest.raises(Exception, match="closed"):  # and it is closed now
                leader.store.sync_wal()
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())
