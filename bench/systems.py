"""The three systems the comparison benchmark starts: raftsql, PostgreSQL 15 and etcd.

Each is a context manager that starts real processes on 127.0.0.1 in a temporary directory
with fsync on, exposes the PIDs whose process trees are charged for CPU and memory, and ends
exactly the processes it started (by PID). Why all three in one run: on a shared machine the
load changes minute to minute, so baselines measured on another day (or even another hour)
cannot be compared with raftsql's figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import procstats

from raftsql.testing.pgserver import PgServer, PgServerUnavailable
from raftsql.testing.procs import HOST, ProcessCluster, free_port


class RaftsqlSystem:
    """An ``nodes``-node ``raftsql serve`` cluster; clients connect to the leader's Postgres
    port (``dsn``), or to every node in turn (``dsns``: follower reads)."""

    name = "raftsql"

    def __init__(self, nodes: int = 3, tick_ms: int = 50, max_connections: int = 100) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="raftsql-cmp-"))
        self.cluster = ProcessCluster(self.base, nodes, tick_ms=tick_ms)
        self.leader = 0
        self.max_connections = max_connections

    def __enter__(self) -> RaftsqlSystem:
        # sessions per node, like PostgreSQL's max_connections (docs/clients.md); the nodes
        # inherit this process's environment
        before = os.environ.get("RAFTSQL_MAX_CONNECTIONS")
        os.environ["RAFTSQL_MAX_CONNECTIONS"] = str(self.max_connections)
        try:
            self.cluster.start()
        finally:
            if before is None:
                del os.environ["RAFTSQL_MAX_CONNECTIONS"]
            else:
                os.environ["RAFTSQL_MAX_CONNECTIONS"] = before
        self.leader = self.cluster.wait_for_leader(30.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.close()
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        return [n.proc.pid for n in self.cluster.nodes.values() if n.proc is not None]

    @property
    def dsn(self) -> str:
        return self.cluster.nodes[self.leader].pg_dsn

    @property
    def dsns(self) -> list[str]:
        """Every node's Postgres address, the leader's first."""
        ids = [self.leader] + [i for i in self.cluster.nodes if i != self.leader]
        return [self.cluster.nodes[i].pg_dsn for i in ids]

    def leader_metrics(self) -> dict[str, float]:
        """The leader's counters from /status (fsyncs, proposals), to check group commit, and
        the CPU seconds of its event-loop thread (the main thread), the serial part of its
        work (docs/benchmarks.md, "Reading the figures")."""
        st = self.cluster.status(self.leader) or {}
        m = st.get("metrics", {})
        proc = self.cluster.nodes[self.leader].proc
        loop_cpu = procstats.thread_cpu_seconds(proc.pid, proc.pid) if proc is not None else 0.0
        return {"fsyncs": float(m.get("fsyncs", 0)), "proposals": float(m.get("proposals", 0)),
                "loop_cpu": loop_cpu}

    @property
    def pgbench_args(self) -> list[str]:
        node = self.cluster.nodes[self.leader]
        return ["-h", HOST, "-p", str(node.pg_port), "-U", "raftsql", "raftsql"]


class PostgresSystem:
    """One PostgreSQL 15 with the durability a replicated store is compared against: fsync
    on, synchronous_commit on (the server's defaults; the test helper turns fsync off)."""

    name = "postgres"

    def __init__(self, max_connections: int = 120) -> None:
        self.server = PgServer(
            settings={
                "fsync": "on",
                "synchronous_commit": "on",
                "max_connections": str(max_connections),
                "shared_buffers": "128MB",
            }
        )

    def __enter__(self) -> PostgresSystem:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def pids(self) -> list[int]:
        return [self.server.pid] if self.server.pid is not None else []

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.server.port}/postgres"

    @property
    def pgbench_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.server.port), "-U", "postgres", "postgres"]


class EtcdUnavailable(RuntimeError):
    """No etcd binary, or the cluster did not elect a leader in time."""


class EtcdSystem:
    """A ``members``-member etcd cluster (Debian's etcd-server); clients use the leader's JSON
    gateway (``leader_port``) or every member's in turn (``ports``)."""

    name = "etcd"

    def __init__(self, members: int = 3) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            raise EtcdUnavailable("etcd is not installed (apt-get install etcd-server)")
        self.binary = binary
        self.base = Path(tempfile.mkdtemp(prefix="raftsql-etcd-"))
        self.client_ports = [free_port() for _ in range(members)]
        self.peer_ports = [free_port() for _ in range(members)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.leader_port = 0

    def __enter__(self) -> EtcdSystem:
        cluster = ",".join(f"e{i}=http://{HOST}:{p}" for i, p in enumerate(self.peer_ports))
        for i, (cport, pport) in enumerate(zip(self.client_ports, self.peer_ports, strict=True)):
            log = open(self.base / f"e{i}.log", "ab")  # noqa: SIM115 - lives with the process
            self.procs.append(
                subprocess.Popen(
                    [
                        self.binary,
                        "--name", f"e{i}",
                        "--data-dir", str(self.base / f"e{i}"),
                        "--listen-client-urls", f"http://{HOST}:{cport}",
                        "--advertise-client-urls", f"http://{HOST}:{cport}",
                        "--listen-peer-urls", f"http://{HOST}:{pport}",
                        "--initial-advertise-peer-urls", f"http://{HOST}:{pport}",
                        "--initial-cluster", cluster,
                        "--initial-cluster-state", "new",
                        "--log-level", "error",
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
            log.close()
        try:
            self.leader_port = self._wait_leader(30.0)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _status(self, port: int) -> dict[str, object]:
        req = urllib.request.Request(
            f"http://{HOST}:{port}/v3/maintenance/status", data=b"{}", method="POST"
        )
        with urllib.request.urlopen(req, timeout=1.0) as resp:
            return dict(json.loads(resp.read()))

    def _wait_leader(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for port in self.client_ports:
                with contextlib.suppress(OSError, ValueError):
                    st = self._status(port)
                    header = st.get("header")
                    if isinstance(header, dict) and st.get("leader") == header.get("member_id"):
                        return port
            time.sleep(0.2)
        raise EtcdUnavailable("etcd elected no leader in time")

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs = []
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def ports(self) -> list[int]:
        """Every member's client port, the leader's first."""
        return [self.leader_port] + [p for p in self.client_ports if p != self.leader_port]


__all__ = [
    "EtcdSystem",
    "EtcdUnavailable",
    "PgServerUnavailable",
    "PostgresSystem",
    "RaftsqlSystem",
]
