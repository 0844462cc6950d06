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
from inproc import start_nodes, stop_nodes, wait_leader

from raftsql.node.errors import NodeError
from raftsql.sql.command import Command, Stmt, encode


@pytest.mark.timeout(90)
def test_lease_reads_skip_the_loop_and_stop_when_the_quorum_is_gone(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path, read_timeout=1.0)
        try:
            leader = await wait_leader(nodes)
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
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())
