"""A node whose Raft loop fails ends its process with a non-zero status, instead of serving on
while it applies nothing more.

Sources of truth: docs/operations.md ("Upgrades": a node that meets a command of a later
format stops rather than record it as a failed entry; "Monitoring": `/healthz` answers while
the process serves); etcd, which exits on a fatal error in its Raft loop so that a supervisor
restarts or replaces it. The failure here is the realistic one: a node older than its log,
which holds a committed command of a later format (NewerCommandError).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from raftsql.server.app import NodeServer, ServeOptions
from raftsql.sql.command import Command, Stmt, encode
from raftsql.testing.procs import HOST, free_port

LATER_FORMAT = b"\x03" + msgpack.packb([[["INSERT INTO t VALUES (1)", []]], 0, [], [], 1, "x"])


def _options(data: Path, raft_port: int) -> ServeOptions:
    return ServeOptions(node_id=1, data_dir=data, raft_listen=(HOST, raft_port), pg_listen=None,
                        http_listen=None, peers={1: (HOST, raft_port)}, tick_ms=20,
                        election_tick=5)


@pytest.mark.timeout(120)
def test_a_failed_raft_loop_ends_the_node_and_its_process(tmp_path: Path) -> None:
    data, raft_port = tmp_path / "node1", free_port()

    async def in_process() -> None:
        server = NodeServer(_options(data, raft_port))
        serving = asyncio.create_task(server.run_until_signalled())
        for _ in range(500):
            if server.node.is_leader():
                break
            await asyncio.sleep(0.02)
        assert server.node.is_leader()
        await server.node.propose(encode(Command((Stmt("CREATE TABLE t (k INTEGER)"),))))
        with pytest.raises(Exception):  # noqa: B017 - the loop failed: NoLeaderError
            await server.node.propose(LATER_FORMAT)
        assert await asyncio.wait_for(serving, 20) is False  # stopped, by itself

    asyncio.run(in_process())

    # The same log, served by `raftsql serve`: it applies the entry again at start, fails, and
    # exits with status 1.
    cmd = [sys.executable, "-m", "raftsql.cli", "serve", "--node-id", "1", "--data-dir",
           str(data), "--raft-listen", f"{HOST}:{raft_port}", "--pg-listen",
           f"{HOST}:{free_port()}", "--peers", f"1={HOST}:{raft_port}", "--tick-ms", "20",
           "--election-tick", "5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "newer than this release's" in err and "its Raft loop failed" in err, err
