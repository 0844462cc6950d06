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

from raftsql.node.driver import NodeConfig, RaftNode
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.testing.procs import HOST, free_port

SLOW_SYNC = 0.15


async def _start(tmp: Path) -> tuple[list[RaftNode], list[SqlStateMachine]]:
    peers = {i: (HOST, free_port()) for i in (1, 2, 3)}
    nodes, sms = [], []
    for i in (1, 2, 3):
        sm = SqlStateMachine(tmp / f"n{i}" / "sql")
        cfg = NodeConfig(node_id=i, data_dir=tmp / f"n{i}", raft_listen=peers[i], peers=peers)
        node = RaftNode(cfg, sm)
        await node.start()
        nodes.append(node)
        sms.append(sm)
    return nodes, sms


async def _leader(nodes: list[RaftNode], timeout: float = 20.0) -> RaftNode:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in nodes:
            if n.is_leader():
                return n
        await asyncio.sleep(0.05)
    raise TimeoutError("no leader")


class SlowSync:
    """Wraps a store's ``sync_wal``: each call sleeps first (on the syncing thread) and records
    (last index written when it started, its end time)."""

    def __init__(self, node: RaftNode) -> None:
        self.store = node.store
        self.real = node.store.sync_wal
        self.calls: list[tuple[int, float, float]] = []  # (last index, start, end)
        self.lock = threading.Lock()
        self.started = threading.Event()
        node.store.sync_wal = self  # type: ignore[method-assign]

    def __call__(self) -> None:
        last, start = self.store.last_index(), time.monotonic()
        self.started.set()
        time.sleep(SLOW_SYNC)
        self.real()
        with self.lock:
            self.calls.append((last, start, time.monotonic()))


def _insert(k: int) -> bytes:
    return encode(Command((Stmt("INSERT INTO t VALUES (?)", (k,)),)))


@pytest.mark.timeout(90)
def test_the_loop_runs_during_the_leaders_fsync_and_nothing_is_answered_before_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        nodes, sms = await _start(tmp_path)
        try:
            leader = await _leader(nodes)
            await leader.propose(encode(Command((Stmt("CREATE TABLE t (k INTEGER PRIMARY KEY)"),))))
            slow = SlowSync(leader)
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

            assert slow.calls, "a Ready of several entries did not wait for its fsync off the loop"
            assert any(start < b < end for _, start, end in slow.calls for b in beats), (
                "the loop did not run while the leader's fsync was in flight")
            for index, at in answered:
                covering = [end for last, _, end in slow.calls if last >= index]
                assert covering and min(covering) <= at, (
                    f"entry {index} was answered before an fsync covering it had returned")
        finally:
            for n in nodes:
                await n.stop(transfer=False)
            for sm in sms:
                sm.close()

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_a_leader_stopped_during_its_fsync_closes_the_store_after_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes, sms = await _start(tmp_path)
        try:
            leader = await _leader(nodes)
            await leader.propose(encode(Command((Stmt("CREATE TABLE t (k INTEGER PRIMARY KEY)"),))))
            slow = SlowSync(leader)
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
            for n in nodes:
                await n.stop(transfer=False)
            for sm in sms:
                sm.close()

    asyncio.run(scenario())
