"""Memory and on-disk size of each raftsql node as its database and write count grow.

Why per node and both RSS and PSS: a leader and a follower do different work (the leader keeps
proposals, the tail cache and per-peer progress), and a node's memory after many writes is what
tells a leak from a working set; RSS is what the kernel charges a container for, PSS divides the
pages a process shares with others (the Python interpreter's, shared libraries'). Read from
/proc (Linux only).

This module is the measuring half of bench/restart_bench.py (which prints these figures at every
stage). Run on its own it loads a cluster in stages and measures memory without restarting any
node, so every figure is of a process that took all the writes:

    python3 bench/memory_bench.py [--rows 1000000] [--writes 1000000,3000000] [--clients 64]
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class NodeMemory:
    rss_mib: float
    pss_mib: float
    anon_mib: float
    """Private anonymous memory (the Python heap, SQLite's and RocksDB's caches)."""


def _kib(path: str, field: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def node_memory(pid: int) -> NodeMemory:
    rollup = f"/proc/{pid}/smaps_rollup"
    return NodeMemory(
        rss_mib=_kib(f"/proc/{pid}/status", "VmRSS:") / 1024,
        pss_mib=_kib(rollup, "Pss:") / 1024,
        anon_mib=_kib(rollup, "Anonymous:") / 1024,
    )


def dir_mib(path: Path) -> float:
    """Bytes of every file under ``path`` (what a backup or a copy of it would move)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total / 2**20


@dataclass
class DiskSizes:
    sqlite_mib: float
    """state.sqlite plus its WAL: the database a snapshot copies."""
    rocksdb_mib: float
    """The Raft log and hard state (RocksDB files)."""
    snapshots_mib: float
    """Snapshot files kept next to the log."""


def disk_sizes(data_dir: Path) -> DiskSizes:
    sql = data_dir / "sql"
    sqlite = sum(
        p.stat().st_size for p in sql.glob("state.sqlite*") if p.is_file()
    ) / 2**20 if sql.exists() else 0.0
    return DiskSizes(sqlite, dir_mib(data_dir / "raft" / "rocksdb"),
                     dir_mib(data_dir / "raft" / "snapshots"))


def reopen_seconds(data_dir: Path) -> dict[str, float]:
    """Time to open a stopped node's stores in this process, the first two things a restarting
    node does: the SQLite state machine, then the RocksDB log store (which reads its metadata
    and finds the first and last entry). The node must not be running (RocksDB's lock)."""
    from raftsql.node.sqlsm import SqlStateMachine
    from raftsql.storage.log_store import RocksLogStore

    t0 = time.perf_counter()
    sm = SqlStateMachine(data_dir / "sql")
    t1 = time.perf_counter()
    store = RocksLogStore(data_dir / "raft")
    t2 = time.perf_counter()
    out = {"sqlite_open_s": t1 - t0, "rocksdb_open_s": t2 - t1,
           "log_entries": float(store.last_index() - store.first_index() + 1)}
    store.close()
    sm.close()
    return out


def import_seconds(modules: str, repeats: int = 3) -> float:
    """Interpreter start plus importing ``modules`` (best of ``repeats``): ``raftsql serve``
    imports raftsql.cli and raftsql.server.app before it opens anything, and the Postgres
    frontend (raftsql.server.frontend) after its node has started."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {modules}"], check=True, cwd=root,
                       env={**os.environ, "PYTHONPATH": str(root)})
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    import restart_bench

    args = list(sys.argv[1:] if argv is None else argv)
    if "--writes" not in args:
        args += ["--writes", "0"]
    return restart_bench.main([*args, "--scenarios", "none"])


if __name__ == "__main__":
    sys.exit(main())
