"""A leader keeps its leadership through work that holds every node's event loop for a while.

Source of truth: Raft thesis 3.4 / 9.3 (elections are for a leader that failed; a spurious one
costs a round of unavailability and fails every write in flight) and etcd's ticker, which drops
ticks a busy node did not take, so a follower never campaigns at once after its own stall.
What held the loops: `pgbench -i` COPYs 100,000 rows in one statement; before the fix the
leader executed all its chunks without yielding and every node then applied the entry in one
go, and the followers, handed all the missed ticks at once, elected a new leader (the term
went 2 -> 3 in each of 3 runs of bench/compare.py's set-up).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from raftsql.testing.procs import HOST, ProcessCluster


@pytest.mark.timeout(180)
@pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench is not installed")
def test_pgbench_init_keeps_the_leader_and_term(cluster: ProcessCluster) -> None:
    leader = cluster.wait_for_leader(10.0)
    term = cluster.statuses()[leader]["term"]
    env = dict(os.environ, PGHOST=HOST, PGPORT=str(cluster.nodes[leader].pg_port),
               PGUSER="raftsql", PGDATABASE="raftsql", PGCONNECT_TIMEOUT="10")
    for _ in range(2):
        init = subprocess.run(["pgbench", "-i", "-s", "1", "-q"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert init.returncode == 0, init.stderr
    statuses = cluster.statuses()
    assert {st["leader_id"] for st in statuses.values()} == {leader}, statuses
    assert {st["term"] for st in statuses.values()} == {term}, statuses
