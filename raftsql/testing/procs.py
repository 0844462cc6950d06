"""Real multi-process clusters on loopback for integration, fault and compatibility tests.

Each node is a ``raftsql serve`` process with its own data dir and free ports. Node-to-node
traffic can go through a ``FaultProxy`` so tests can partition the cluster. Every process this
module starts is remembered by PID and ended in ``close()`` (SIGKILL if it does not stop), so a
failing test never leaves a node behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftsql.testing.faultproxy import FaultProxy

HOST = "127.0.0.1"


PORT_RANGE = (20000, 32000)
"""Ports for test servers: below Linux's ephemeral range (32768-60999 by default), so the kernel
never hands one of them to a client connection or to another ``bind(port 0)`` between our check
and the node's own bind; above the fixed ports of ``raftsql dev`` (6001-8003)."""


def _port_slice() -> range:
    """This process's share of PORT_RANGE: each pytest-xdist worker has a slice of its own, and
    every other process (a benchmark or script a test starts, a run without xdist) shares a
    fifth one, starting at a pid-chosen offset.

    Why: a subprocess inherits PYTEST_XDIST_WORKER, and a process without it picked a slice
    by pid, so a benchmark started by a test handed out ports, from a random offset, in a
    worker's slice. Once in CI a node found its raft port, handed out by free_port a moment
    before, taken (EADDRINUSE); what took it was not found, and this closes one way."""
    lo, hi = PORT_RANGE
    width = (hi - lo) // 5
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if "pytest" in sys.modules and worker.startswith("gw") and worker[2:].isdigit():
        n = int(worker[2:]) % 4
    else:
        n = 4
    start = lo + n * width
    return range(start, start + width)


_next_port: list[int] = []


def free_port() -> int:
    """A port nobody listens on, handed out in turn from this process's slice (never twice in a
    row of ``len(slice)``). Why not ``bind(0)``: that port is free only until the socket closes;
    the kernel may give it to the next ``bind(0)`` (two nodes of one cluster got the same HTTP
    port) or to a client connection before the node binds it."""
    ports = _port_slice()
    if not _next_port:
        _next_port.append(ports.start + os.getpid() % len(ports))
    for _ in range(len(ports)):
        port = _next_port[0]
        _next_port[0] = ports.start + (port + 1 - ports.start) % len(ports)
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue  # in use (or in TIME_WAIT): the next one
            return port
    raise RuntimeError(f"no free port in {ports}")


@dataclass
class NodeProc:
    node_id: int
    data_dir: Path
    raft_port: int
    pg_port: int
    http_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    join: bool = False

    @property
    def pg_dsn(self) -> str:
        return f"postgresql://raftsql@{HOST}:{self.pg_port}/raftsql"

    @property
    def http_addr(self) -> str:
        return f"{HOST}:{self.http_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class ProcessCluster:
    """``n`` voters (ids 1..n), optionally behind a fault proxy; more can join later."""

    def __init__(
        self,
        base_dir: Path,
        n: int = 3,
        *,
        proxy: bool = False,
        tick_ms: int = 50,
        election_tick: int = 10,
        snapshot_entries: int | None = None,
        secret: bytes | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.tick_ms = tick_ms
        self.election_tick = election_tick
        self.snapshot_entries = snapshot_entries
        self.extra_args = extra_args or []
        self.proxy = FaultProxy() if proxy else None
        self.secret_file: Path | None = None
        if secret is not None:
            self.secret_file = self.base_dir / "secret"
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self.secret_file.write_bytes(secret)
        self.nodes: dict[int, NodeProc] = {}
        for i in range(1, n + 1):
            self._define(i)
        self._initial = list(range(1, n + 1))

    def _define(self, node_id: int, join: bool = False) -> NodeProc:
        node = NodeProc(
            node_id,
            self.base_dir / f"node{node_id}",
            free_port(),
            free_port(),
            free_port(),
            self.base_dir / f"node{node_id}.log",
            join=join,
        )
        self.nodes[node_id] = node
        if self.proxy is not None:
            for other in self.nodes.values():
                if other.node_id != node_id:
                    self.proxy.add_link(other.node_id, node_id, (HOST, node.raft_port))
                    self.proxy.add_link(node_id, other.node_id, (HOST, other.raft_port))
        return node

    def raft_addr_as_seen_by(self, src: int, dst: int) -> str:
        """The address node ``src`` dials to reach ``dst`` (through the proxy if any)."""
        if self.proxy is not None and src != dst:
            return f"{HOST}:{self.proxy.ports[(src, dst)]}"
        return f"{HOST}:{self.nodes[dst].raft_port}"

    def command(self, node_id: int) -> list[str]:
        node = self.nodes[node_id]
        # a joining node dials every member defined so far; the others learn its address from
        # the membership change that adds it
        members = [i for i in self.nodes if i != node_id] if node.join else self._initial
        peers = ",".join(f"{i}={self.raft_addr_as_seen_by(node_id, i)}" for i in members)
        cmd = [
            sys.executable,
            "-P",  # the code comes from PYTHONPATH (this checkout), never the current directory
            "-m",
            "raftsql.cli",
            "serve",
            "--node-id",
            str(node_id),
            "--data-dir",
            str(node.data_dir),
            "--raft-listen",
            f"{HOST}:{node.raft_port}",
            "--pg-listen",
            f"{HOST}:{node.pg_port}",
            "--http-listen",
            f"{HOST}:{node.http_port}",
            "--peers",
            peers,
            "--tick-ms",
            str(self.tick_ms),
            "--election-tick",
            str(self.election_tick),
            *(["--snapshot-entries", str(self.snapshot_entries)]
              if self.snapshot_entries is not None else []),
            *self.extra_args,
        ]
        if node.join:
            cmd.append("--join")
        if self.secret_file is not None:
            cmd += ["--secret-file", str(self.secret_file)]
        return cmd

    # ------------------------------------------------------------------ process control

    def start(self, node_id: int | None = None) -> None:
        ids = [node_id] if node_id is not None else list(self.nodes)
        for i in ids:
            node = self.nodes[i]
            if node.running:
                continue
            node.data_dir.mkdir(parents=True, exist_ok=True)
            log = open(node.log_path, "ab")  # noqa: SIM115 - lives as long as the process
            env = dict(os.environ)
            env["PYTHONPATH"] = (
                str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
            )
            node.proc = subprocess.Popen(self.command(i), stdout=log, stderr=log, env=env)
            log.close()

    def add_node(self, node_id: int) -> NodeProc:
        """Define and start a new, empty node that waits to be added (``--join``)."""
        node = self._define(node_id, join=True)
        self.start(node_id)
        return node

    def kill(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        node = self.nodes[node_id]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                try:
                    node.proc.wait(15)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(5)

    def pause(self, node_id: int) -> None:
        self.kill(node_id, signal.SIGSTOP)

    def resume(self, node_id: int) -> None:
        self.kill(node_id, signal.SIGCONT)

    def restart(self, node_id: int) -> None:
        self.kill(node_id)
        self.start(node_id)

    def wipe(self, node_id: int) -> None:
        import shutil

        self.kill(node_id)
        shutil.rmtree(self.nodes[node_id].data_dir, ignore_errors=True)

    def close(self) -> None:
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    node.proc.send_signal(signal.SIGCONT)
                    node.proc.terminate()
        deadline = time.monotonic() + 10
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                try:
                    node.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(5)
        if self.proxy is not None:
            self.proxy.close()

    def __enter__(self) -> ProcessCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ observation

    def http(self, node_id: int, path: str, method: str = "GET", timeout: float = 2.0) -> Any:
        req = urllib.request.Request(f"http://{self.nodes[node_id].http_addr}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read() or b"{}")

    def status(self, node_id: int) -> dict[str, Any] | None:
        if not self.nodes[node_id].running:
            return None
        try:
            return self.http(node_id, "/status", timeout=1.0)
        except (OSError, ValueError):
            return None

    def statuses(self) -> dict[int, dict[str, Any]]:
        out = {}
        for i in self.nodes:
            st = self.status(i)
            if st is not None:
                out[i] = st
        return out

    def leader(self, among: list[int] | None = None) -> int | None:
        """The leader that a majority of the reachable nodes agree on, if any."""
        sts = self.statuses()
        ids = among if among is not None else list(sts)
        for i in ids:
            st = sts.get(i)
            if st and st["role"] == "leader":
                return i
        return None

    def wait_for_leader(
        self, timeout: float = 10.0, among: list[int] | None = None, exclude: int | None = None
    ) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader(among)
            if leader is not None and leader != exclude:
                return leader
            time.sleep(0.02)
        raise TimeoutError(f"no leader within {timeout}s: {self.statuses()}")

    def wait_converged(self, timeout: float = 30.0, ids: list[int] | None = None) -> int:
        """Wait until the given nodes have applied the same index; return it."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            sts = self.statuses()
            ids_ = ids if ids is not None else [i for i, n in self.nodes.items() if n.running]
            applied = {i: sts[i]["applied_index"] for i in ids_ if i in sts}
            commits = {i: sts[i]["commit_index"] for i in ids_ if i in sts}
            last = {"applied": applied, "commits": commits}
            if (
                len(applied) == len(ids_)
                and len(set(applied.values())) == 1
                and max(commits.values()) == next(iter(applied.values()))
            ):
                return next(iter(applied.values()))
            time.sleep(0.05)
        raise TimeoutError(f"nodes did not converge within {timeout}s: {last}")

    def logs(self, node_id: int) -> str:
        try:
            return self.nodes[node_id].log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
