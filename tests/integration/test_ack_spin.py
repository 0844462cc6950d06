"""A leader waiting for the acks of one client's write keeps its loop polling for a bounded time
(RaftNode._maybe_spin, docs/operations.md `--ack-spin-us`).

What must hold: the spin never holds the loop (other tasks run during it); it is bounded per
entry, not per wake-up; it happens only on the leader, only with at most one proposal waiting,
and not at all when turned off. Three real RaftNodes (RocksDB log, TCP transport on 127.0.0.1,
SQLite state machine) run in this event loop; stopping both followers makes the acks never come,
so the bound is what ends the spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from inproc import start_nodes, stop_nodes, wait_leader

from raftsql.node.driver import RaftNode
from raftsql.sql.command import Command, Stmt, encode

SPIN = 0.03


def _insert(k: int) -> bytes:
    return encode(Command((Stmt("INSERT INTO t VALUES (?)", (k,)),)))


async def _leader_with_table(nodes: list[RaftNode]) -> RaftNode:
    leader = await wait_leader(nodes)
    await leader.propose(encode(Command((Stmt("CREATE TABLE t (k INTEGER PRIMARY KEY)"),))))
    return leader


async def _leader_alone(nodes: list[RaftNode]) -> RaftNode:
    """The leader, once a table exists, with both followers stopped: no ack comes any more."""
    leader = await _leader_with_table(nodes)
    for n in nodes:
        if n is not leader:
            await n.stop(transfer=False)
    return leader


@pytest.mark.timeout(90)
def test_lone_writes_spin_on_the_leader_only_and_commit(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path, node_options={"ack_spin": SPIN})
        try:
            leader = await _leader_with_table(nodes)
            for k in range(20):  # each is answered once committed and applied
                await leader.propose(_insert(k))
            assert leader.metrics.ack_spin_seconds > 0
            assert [n.metrics.ack_spin_seconds for n in nodes if n is not leader] == [0.0, 0.0]
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_the_spin_is_bounded_per_entry_and_the_loop_runs_during_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path, node_options={"ack_spin": SPIN})
        try:
            leader = await _leader_alone(nodes)
            beats: list[float] = []

            async def heartbeat() -> None:  # another task on the leader's loop
                while True:
                    beats.append(time.perf_counter())
                    await asyncio.sleep(0.001)

            beating = asyncio.create_task(heartbeat())
            spun = leader.metrics.ack_spin_seconds
            started = time.perf_counter()
            first = asyncio.ensure_future(leader.propose(_insert(1)))
            await asyncio.sleep(0.15)  # ticks wake the Raft task meanwhile: no new bound
            once = leader.metrics.ack_spin_seconds - spun
            assert SPIN * 0.9 <= once <= SPIN * 1.5, once
            assert sum(started < b < started + SPIN for b in beats) >= 5, (
                "the loop did not run other tasks while it spun")
            first.cancel()
            second = asyncio.ensure_future(leader.propose(_insert(2)))  # a new entry: a new bound
            await asyncio.sleep(0.15)
            twice = leader.metrics.ack_spin_seconds - spun
            assert SPIN * 1.8 <= twice <= SPIN * 3, twice
            second.cancel()
            beating.cancel()
            for task in (first, second, beating):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())


@pytest.mark.timeout(90)
@pytest.mark.parametrize("spin, writes", [(SPIN, 2), (0.0, 1)])
def test_no_spin_with_two_writes_waiting_or_when_off(
        tmp_path: Path, spin: float, writes: int) -> None:
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path, node_options={"ack_spin": spin})
        try:
            leader = await _leader_alone(nodes)
            spun = leader.metrics.ack_spin_seconds
            pending = asyncio.gather(*(leader.propose(_insert(k)) for k in range(writes)))
            await asyncio.sleep(0.15)
            assert leader.metrics.ack_spin_seconds == spun
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())
