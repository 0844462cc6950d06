"""The operations endpoint and `raftsql status` tell the truth about a live cluster
(issue 6 acceptance): /metrics parses with the Prometheus text parser, and /status and the CLI
agree with the cluster's real state while nodes are killed and restarted."""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from raftsql.testing.procs import ProcessCluster


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raftsql.cli", *args],
                          capture_output=True, text=True, timeout=30)


def _cli_status(c: ProcessCluster, *flags: str) -> tuple[int, str]:
    p = _cli("status", *flags, "--http", ",".join(n.http_addr for n in c.nodes.values()))
    return p.returncode, p.stdout


def _rows(table: str) -> dict[str, list[str]]:
    """node id -> cells of its row in `raftsql status` output."""
    lines = table.strip().splitlines()
    assert lines[0].split()[:3] == ["node", "role", "term"], table
    return {line.split()[0]: line.split() for line in lines[1:]}


@pytest.mark.timeout(120)
def test_metrics_parse_with_the_prometheus_parser(tmp_path: Path) -> None:
    with ProcessCluster(tmp_path, 3) as c:
        c.start()
        leader = c.wait_for_leader(timeout=20)
        url = f"http://{c.nodes[leader].http_addr}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
            assert resp.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name in ("raftsql_proposals", "raftsql_fsyncs", "raftsql_applied_entries",
                     "raftsql_term", "raftsql_commit_index", "raftsql_is_leader",
                     "raftsql_errors", "raftsql_client_sessions"):
            assert name in families, sorted(families)
        is_leader = families["raftsql_is_leader"].samples[0].value
        assert is_leader == 1.0
        term = families["raftsql_term"].samples[0].value
        assert term == c.status(leader)["term"]
        # `raftsql serve` freezes its start-up heap (cli.freeze_start_up_heap), so the cyclic
        # GC's full collections no longer walk it; the collector's own counters are exported
        frozen = families["raftsql_gc_frozen_objects"].samples[0].value
        assert frozen > 10_000, frozen
        generations = {s.labels["generation"] for s in families["python_gc_collections"].samples}
        assert generations == {"0", "1", "2"}


@pytest.mark.timeout(180)
def test_status_and_cli_agree_with_the_cluster_through_kills_and_restarts(tmp_path: Path) -> None:
    with ProcessCluster(tmp_path, 3) as c:
        c.start()
        leader = c.wait_for_leader(timeout=20)
        c.wait_converged()
        code, out = _cli_status(c)
        rows = _rows(out)
        assert code == 0, out
        assert rows[str(leader)][1] == "leader"
        assert all(r[3] == str(leader) for r in rows.values()), out  # everyone names it

        c.kill(leader)
        others = [i for i in c.nodes if i != leader]
        new = c.wait_for_leader(timeout=10, among=others)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            code, out = _cli_status(c)
            rows = {k: v for k, v in _rows(out).items() if k != "?"}
            if rows.get(str(new), [None, None])[1] == "leader" and all(
                    rows[str(i)][3] == str(new) for i in others):
                break
            time.sleep(0.2)
        assert code == 1, "a dead node must make `raftsql status` fail"
        assert "unreachable" in out and c.nodes[leader].http_addr in out
        code, out = _cli_status(c, "--json")
        assert code == 1, "and `raftsql status --json` as well (docs/operations.md)"
        assert "unreachable" in out
        assert rows[str(new)][1] == "leader", out
        for i in others:
            st = c.status(i)
            assert st is not None and st["leader_id"] == new
        new_term = c.status(new)["term"]

        c.start(leader)
        c.wait_converged(timeout=30)
        code, out = _cli_status(c)
        rows = _rows(out)
        assert code == 0, out
        assert {r[1] for r in rows.values()} == {"leader", "follower"}
        assert [r for r in rows.values() if r[1] == "leader"][0][0] == str(new)
        assert all(int(r[2]) >= new_term for r in rows.values())
        # `raftsql cluster` goes through the leader; given only followers' HTTP addresses it
        # says which node leads instead of "no reachable leader"
        followers = ",".join(n.http_addr for i, n in c.nodes.items() if i != new)
        p = _cli("cluster", "transfer", "--http", followers)
        assert p.returncode == 1
        assert f"node {new} leads, and its HTTP address is not among --http" in p.stderr
        statuses = c.statuses()
        assert {st["commit_index"] for st in statuses.values()} == {
            st["applied_index"] for st in statuses.values()}


@pytest.mark.timeout(120)
def test_shutdown_tells_connected_clients_57p01(tmp_path: Path) -> None:
    """SIGTERM: every connected client gets FATAL 57P01 before its connection closes, as from
    a PostgreSQL shutdown (docs/consistency.md: reconnect to another node). An idle session
    and one inside a transaction both get it."""
    def message(kind: bytes, body: bytes) -> bytes:
        return kind + struct.pack("!i", len(body) + 4) + body

    with ProcessCluster(tmp_path, 1) as c:
        c.start()
        leader = c.wait_for_leader(timeout=20)
        socks = []
        for first in (b"", b"BEGIN\0"):
            s = socket.create_connection(("127.0.0.1", c.nodes[leader].pg_port), timeout=10)
            startup = struct.pack("!i", 196608) + b"user\0raftsql\0database\0raftsql\0\0"
            s.sendall(struct.pack("!i", len(startup) + 4) + startup)
            if first:
                s.sendall(message(b"Q", first))
            seen = b""
            while not seen.endswith(b"Z\x00\x00\x00\x05" + (b"T" if first else b"I")):
                seen += s.recv(65536)
            socks.append(s)
        c.kill(leader, signal.SIGTERM)
        for s in socks:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
            assert data[:1] == b"E", data
            assert b"SFATAL\0" in data and b"C57P01\0" in data, data
