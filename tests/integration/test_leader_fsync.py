"""The leader's fsync of a batch runs off the event loop (RaftNode._sync_wal, docs/design.md).

What must hold: while the fsync of a Ready of several entries is in flight, the loop serves
other tasks; yet no proposal is answered before the fsync covering its entry returned (the
leader counts its own vote and applies only after it), and a node stopped during such an fsync
closes its store only once the fsync is done. Three real RaftNodes (RocksDB log, TCP transport
on 127.0.0.1, SQLite state machine) run in this event loop; the leader's WAL sync is slowed
down so that the loop has time to run during it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from inproc import start_nodes, stop_nodes, wait_leader

from raftsql.node.driver import RaftNode
from raftsql.sql.command import Command, Stmt, encode

SLOW_SYNC = 0.15


class SlowSync:
    """Wraps a store's ``sync_wal``: each call sleeps first and records (last index written
    when it started, its end time) and whether it ran on the loop's thread."""

    def __init__(self, node: RaftNode) -> None:
        self.store = node.store
        self.real = node.store.sync_wal
        self.calls: list[tuple[int, float, float]] = []  # (last index, start, end)
        self.on_loop: list[bool] = []  # per call: made on the event loop's thread
        self.lock = threading.Lock()
        self.started = threading.Event()
        node.store.sync_wal = self  # type: ignore[method-assign]

    def __call__(self) -> None:
        last, start = self.store.last_index(), time.monotonic()
        self.on_loop.append(threading.current_thread() is threading.main_thread())
        self.started.set()
        time.sleep(SLOW_SYNC)
        self.real()
        with self.lock:
            self.calls.append((last, start, time.monotonic()))


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
            closed_at: list[float] = []
            real_close = leader.store.close

            def close() -> None:
                closed_at.append(time.monotonic())
                real_close()

            leader.store.close = close  # type: ignore[method-assign]
            writes = [asyncio.ensure_future(leader.propose(_insert(k))) for k in range(20)]
            assert await asyncio.to_thread(slow.started.wait, 10), "no fsync off the loop"
            await asyncio.sleep(SLOW_SYNC / 3)  # the fsync is now in flight on its thread
            await leader.stop(transfer=False)
            await asyncio.gather(*writes, return_exceptions=True)
            assert slow.calls, "no fsync ran off the loop"
            assert closed_at and closed_at[0] >= max(end for _, _, end in slow.calls)
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_one_big_entry_is_synced_off_the_loop_and_one_small_entry_on_it(tmp_path: Path) -> None:
    """A lone small entry is synced on the loop (one client waits; the hop would cost it about
    100 us); a lone entry of a megabyte or more, a bulk INSERT, on the sync thread, so that the
    loop does not stall for its fsync."""
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path)
        try:
            leader, slow = await _slowed_leader(nodes)
            await leader.propose(_insert(1))
            assert slow.on_loop == [True]
            big = encode(Command((Stmt("INSERT INTO t VALUES (?)", (b"x" * (1 << 20),)),)))
            index, _ = await leader.propose_indexed(big)
            assert slow.on_loop == [True, False]
            assert slow.calls[-1][0] == index
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())
