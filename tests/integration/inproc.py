"""Three real RaftNodes (RocksDB log, TCP transport on 127.0.0.1, SQLite state machine) in the
test's own event loop, for tests that need to reach into a node (its store, its lease cache)
rather than drive separate processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from raftsql.node.driver import NodeConfig, RaftNode
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.testing.procs import HOST, free_port


async def start_nodes(tmp: Path, read_timeout: float = 5.0,
                      node_options: dict[str, Any] | None = None, **sm_options: Any
                      ) -> tuple[list[RaftNode], list[SqlStateMachine]]:
    """``node_options``: further NodeConfig fields; ``sm_options``: the state machine's."""
    peers = {i: (HOST, free_port()) for i in (1, 2, 3)}
    nodes, sms = [], []
    for i in (1, 2, 3):
        sm = SqlStateMachine(tmp / f"n{i}" / "sql", **sm_options)
        cfg = NodeConfig(node_id=i, data_dir=tmp / f"n{i}", raft_listen=peers[i], peers=peers,
                         read_timeout=read_timeout, **(node_options or {}))
        node = RaftNode(cfg, sm)
        await node.start()
        nodes.append(node)
        sms.append(sm)
    return nodes, sms


async def stop_nodes(nodes: list[RaftNode], sms: list[SqlStateMachine]) -> None:
    for n in nodes:
        await n.stop(transfer=False)
    for sm in sms:
        sm.close()


async def wait_leader(nodes: list[RaftNode], timeout: float = 20.0) -> RaftNode:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for n in nodes:
            if n.is_leader():
                return n
        await asyncio.sleep(0.05)
    raise TimeoutError("no leader")


async def start_single_voter(data: Path, port: int, **cfg: Any
                             ) -> tuple[RaftNode, SqlStateMachine]:
    """A one-voter cluster on ``port`` whose data lives in ``data``, started and leading."""
    sm = SqlStateMachine(data / "sql")
    node = RaftNode(NodeConfig(node_id=1, data_dir=data, raft_listen=(HOST, port),
                               peers={1: (HOST, port)}, **cfg), sm)
    await node.start()
    deadline = time.monotonic() + 20
    while not node.is_leader():
        assert time.monotonic() < deadline, "the single voter did not elect itself"
        await asyncio.sleep(0.02)
    return node, sm
