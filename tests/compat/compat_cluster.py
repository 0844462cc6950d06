"""A real 3-node raftsql cluster of `raftsql serve` processes on free 127.0.0.1 ports, for the
client compatibility tests. Started by a module-scoped fixture (conftest.py) and ended by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from raftsql.testing.procs import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    data_dir: Path
    size: int = 3
    users_file: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    cluster_id: str = field(default_factory=lambda: f"compat-{os.getpid()}-{time.time_ns()}")
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    raft_ports: dict[int, int] = field(default_factory=dict)
    pg_ports: dict[int, int] = field(default_factory=dict)
    http_ports: dict[int, int] = field(default_factory=dict)

    def start(self, timeout: float = 30.0) -> None:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        # below the ephemeral range: a bind(0) port was once taken by another process's
        # connection before the node bound it (EADDRINUSE, no leader in 30 s)
        ports = [free_port() for _ in range(3 * self.size)]
        ids = range(1, self.size + 1)
        for i in ids:
            self.raft_ports[i], self.pg_ports[i], self.http_ports[i] = ports[3 * (i - 1):3 * i]
        peers = ",".join(f"{i}=127.0.0.1:{self.raft_ports[i]}" for i in ids)
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   **self.env)
        for i in ids:
            cmd = [sys.executable, "-m", "raftsql.cli", "serve", "--node-id", str(i),
                   "--data-dir", str(self.data_dir / f"n{i}"),
                   "--raft-listen", f"127.0.0.1:{self.raft_ports[i]}",
                   "--pg-listen", f"127.0.0.1:{self.pg_ports[i]}",
                   "--http-listen", f"127.0.0.1:{self.http_ports[i]}", "--peers", peers,
                   "--log-level", "WARNING", "--tick-ms", "200",
                   "--cluster-id", self.cluster_id]
            if self.users_file is not None:
                cmd += ["--users-file", str(self.users_file)]
            log = open(self.data_dir / f"n{i}.log", "wb")  # noqa: SIM115
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = {(st or {}).get("leader_id") for st in map(self.status, self.procs)}
            if len(leaders) == 1 and None not in leaders and all(
                    self._pg_open(p) for p in self.pg_ports.values()):
                return
            for i, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"node {i} exited: {self.log(i)[-2000:]}")
            time.sleep(0.2)
        raise TimeoutError("cluster did not elect a leader")

    def log(self, node: int) -> str:
        return (self.data_dir / f"n{node}.log").read_text(errors="replace")

    @staticmethod
    def _pg_open(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def status(self, node: int) -> dict | None:
        try:
            url = f"http://127.0.0.1:{self.http_ports[node]}/status"
            with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 (loopback)
                return json.loads(r.read())
        except OSError:
            return None

    def leader_id(self) -> int | None:
        for i in self.procs:
            st = self.status(i)
            if st and st.get("leader_id") is not None and st.get("role") == "leader":
                return int(st["node_id"]) if "node_id" in st else i
        return None

    def leader_port(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader_id()
            if leader is not None:
                return self.pg_ports[leader]
            time.sleep(0.1)
        raise TimeoutError("no leader")

    def follower_port(self) -> int:
        leader = self.leader_id()
        return next(p for i, p in self.pg_ports.items() if i != leader)

    def dsn(self, port: int | None = None, user: str = "raftsql") -> str:
        return f"postgresql://{user}@127.0.0.1:{port or self.leader_port()}/raftsql"

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
