"""A 3-node loopback cluster whose leader runs inside the benchmark process.

Nodes 2 and 3 are real `raftsql serve` processes; node 1 is a RaftNode in this process, made
the leader by asking the current one to transfer, so a benchmark can drive the node API
directly (no Postgres wire). Shared by bench/node_bench.py and bench/sql_bench.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from raftsql.node.driver import NodeConfig, RaftNode
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.testing.procs import ProcessCluster


async def make_leader(node: RaftNode, cluster: ProcessCluster) -> None:
    while not node.leader_id:
        await asyncio.sleep(0.05)
    while not node.is_leader():
        leader = node.leader_id
        if leader in (2, 3):
            await asyncio.to_thread(cluster.http, leader, "/cluster/transfer?id=1", "POST", 10)
        await asyncio.sleep(0.2)


async def start(base: Path) -> tuple[ProcessCluster, RaftNode, SqlStateMachine]:
    """Start the cluster; the caller closes the cluster and stops the node."""
    cluster = ProcessCluster(base, 3)
    for i in (2, 3):
        cluster.start(i)
    peers = {i: ("127.0.0.1", cluster.nodes[i].raft_port) for i in cluster.nodes}
    sm = SqlStateMachine(base / "node1" / "sql")
    node = RaftNode(NodeConfig(node_id=1, data_dir=base / "node1", raft_listen=peers[1],
                               peers=peers), sm)
    await node.start()
    await make_leader(node, cluster)
    return cluster, node, sm
