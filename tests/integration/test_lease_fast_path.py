"""The driver's cached-lease read path (raftsql/node/driver.py, RaftNode._cache_lease).

Source of truth: Raft thesis section 6.4.1 (reads with leases): a leader may answer a read
from its own state without a round trip only while its lease holds, and only with a read
index at least the commit index it knew when the read arrived; once a quorum stops
acknowledging it, the lease runs out and no read may be served locally.
Three real RaftNodes (RocksDB log, TCP transport on 127.0.0.1, SQLite state machine) run in
this event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from raftsql.node.driver import NodeConfig, RaftNode
from raftsql.node.errors import NodeError
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.sql.command import Command, Stmt, encode
from raftsql.testing.procs import HOST, free_port


async def _start(tmp: Path) -> tuple[list[RaftNode], list[SqlStateMachine]]:
    peers = {i: (HOST, free_port()) for i in (1, 2, 3)}
    nodes, sms = [], []
    for i in (1, 2, 3):
        sm = SqlStateMachine(tmp / f"n{i}" / "sql")
        cfg = NodeConfig(node_id=i, data_dir=tmp / f"n{i}", raft_listen=peers[i], peers=peers,
                         read_timeout=1.0)
        node = RaftNode(cfg, sm)
        await node.start()
        nodes.append(node)
        sms.append(sm)
    return nodes, sms


async def _leader(nodes: list[RaftNode], timeout: float = 20.0) -> RaftNode:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for n in nodes:
            if n.is_leader():
                return n
        await asyncio.sleep(0.05)
    raise TimeoutError("no leader")


@pytest.mark.timeout(90)
def test_lease_reads_skip_the_loop_and_stop_when_the_quorum_is_gone(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes, sms = await _start(tmp_path)
        try:
            leader = await _leader(nodes)
            index, _ = await leader.propose_indexed(
                encode(Command((Stmt("CREATE TABLE t (k INTEGER PRIMARY KEY)"),))))
            # a write acknowledged before the read is covered by the read index
            fast0 = leader.metrics.lease_fast_reads
            read_index = 0
            for _ in range(50):
                read_index = await leader.read_barrier("lease")
                if leader.metrics.lease_fast_reads > fast0:
                    break
                await asyncio.sleep(0.02)
            assert leader.metrics.lease_fast_reads > fast0, "the cached lease was never used"
            assert read_index >= index
            assert leader.reads.applied >= read_index

            # the followers stop: no heartbeat is acknowledged, so the lease must run out and
            # lease reads must fail rather than be answered from the cache
            for n in nodes:
                if n is not leader:
                    await n.stop(transfer=False)
            await asyncio.sleep(leader.cfg.tick_interval * leader.cfg.election_tick * 2)
            fast1 = leader.metrics.lease_fast_reads
            with pytest.raises(NodeError):
                await leader.read_barrier("lease", timeout=1.0)
            assert leader.metrics.lease_fast_reads == fast1
        finally:
            for n in nodes:
                await n.stop(transfer=False)
            for sm in sms:
                sm.close()

    asyncio.run(scenario())
