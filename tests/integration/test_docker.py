"""docker/compose.yaml and docker/Dockerfile, checked without a Docker engine (issue 6, part 4).

Sources of truth: the real CLI (every service's command must pass `raftsql serve ... --check`,
which runs the same validation as a real start: ARCHITECTURE.md "Connection defaults" refuses
trust authentication on a non-loopback listener), the Compose specification (secrets are
mounted at /run/secrets/<name>; `<<` merge keys) and the Dockerfile reference (USER,
HEALTHCHECK exit status 0 = healthy, 1 = unhealthy).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

from raftsql.testing.procs import free_port  # noqa: E402

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def _host_command(compose: dict[str, Any], name: str, data: Path) -> list[str]:
    """The service's command with container paths mapped to the files they come from."""
    svc = compose["services"][name]
    secrets = {f"/run/secrets/{s}": str(DOCKER / compose["secrets"][s]["file"])
               for s in svc["secrets"]}
    volume_dirs = {v.split(":")[1] for v in svc["volumes"]}
    out = []
    for arg in svc["command"]:
        arg = str(arg)
        out.append(secrets.get(arg, str(data) if arg in volume_dirs else arg))
    return out


def _check(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raftsql.cli", *cmd, "--check"],
                          capture_output=True, text=True, timeout=30)


def test_every_service_command_is_accepted_by_the_real_cli(tmp_path: Path) -> None:
    compose = _compose()
    assert len(compose["services"]) == 3
    for name in compose["services"]:
        cmd = _host_command(compose, name, tmp_path / name)
        assert cmd[0] == "serve" and _flag(cmd, "--pg-listen") == "0.0.0.0:5432"
        res = _check(cmd)
        assert res.returncode == 0, (name, res.stderr)
        # teeth: the same command without its users file is refused (trust off loopback)
        i = cmd.index("--users-file")
        refused = _check(cmd[:i] + cmd[i + 2:])
        assert refused.returncode == 2 and "--users-file" in refused.stderr


def test_the_services_form_one_cluster_with_their_own_volumes() -> None:
    compose = _compose()
    services = compose["services"]
    peers = {_flag([str(a) for a in s["command"]], "--peers") for s in services.values()}
    assert len(peers) == 1, "every node must be given the same initial voters"
    listed = dict(p.split("=") for p in peers.pop().split(","))
    ids = set()
    for s in services.values():
        cmd = [str(a) for a in s["command"]]
        node_id = _flag(cmd, "--node-id")
        ids.add(node_id)
        port = _flag(cmd, "--raft-listen").rsplit(":", 1)[1]
        assert listed[node_id] == f"{s['hostname']}:{port}"
        assert _flag(cmd, "--data-dir") == s["volumes"][0].split(":")[1]
        assert s["build"]["dockerfile"] == "docker/Dockerfile"
    assert ids == set(listed)
    volumes = [s["volumes"][0].split(":")[0] for s in services.values()]
    assert len(set(volumes)) == len(volumes) and set(volumes) <= set(compose["volumes"])
    host_ports = [p.rsplit(":", 2)[-2] for s in services.values() for p in s["ports"]]
    assert len(set(host_ports)) == len(host_ports)


def _instructions() -> list[tuple[str, str]]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_runs_as_non_root_on_python_3_11_slim() -> None:
    ins = _instructions()
    assert ins[0] == ("FROM", "python:3.11-slim")
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    run = " ".join(rest for word, rest in ins if word == "RUN")
    assert "pip install ." in run and "useradd --system --uid 10001" in run


def test_healthcheck_probes_readyz_of_a_real_node(tmp_path: Path) -> None:
    """Run the HEALTHCHECK command itself: 1 with nothing listening, 0 once a node is ready."""
    (health,) = [rest for word, rest in _instructions() if word == "HEALTHCHECK"]
    cmd = json.loads(health[health.index("CMD") + 3:].strip())
    assert cmd[0] == "python" and "/readyz" in cmd[-1]
    compose = _compose()
    http_port = _flag([str(a) for a in compose["services"]["node1"]["command"]],
                      "--http-listen").rsplit(":", 1)[1]
    assert f":{http_port}/readyz" in cmd[-1]
    port = free_port()
    probe = [sys.executable, *cmd[1:-1], cmd[-1].replace(f":{http_port}/", f":{port}/")]
    assert subprocess.run(probe, capture_output=True, timeout=10).returncode == 1
    raft = free_port()
    node = subprocess.Popen(
        [sys.executable, "-m", "raftsql.cli", "serve", "--node-id", "1", "--data-dir",
         str(tmp_path / "n1"), "--raft-listen", f"127.0.0.1:{raft}", "--pg-listen",
         f"127.0.0.1:{free_port()}", "--http-listen", f"127.0.0.1:{port}",
         "--peers", f"1=127.0.0.1:{raft}", "--tick-ms", "20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        rc = 1
        while rc != 0 and time.monotonic() < deadline:
            rc = subprocess.run(probe, capture_output=True, timeout=10).returncode
            time.sleep(0.1)
        assert rc == 0, "the HEALTHCHECK never passed against a ready node"
    finally:
        node.terminate()
        node.wait(15)


def test_documented_demo_password_matches_the_users_file() -> None:
    """compose.yaml's header and docs/operations.md give the demo DSN; the users file must
    hold that user, hashed to SCRAM-SHA-256 by the real loader."""
    from raftsql.server.auth import Users

    header = (DOCKER / "compose.yaml").read_text()
    user, password = re.search(r"postgresql://(\w+):([\w-]+)@", header).groups()
    creds = Users.load(DOCKER / "users.txt").lookup(user)
    assert creds is not None and creds.method == "scram-sha-256"
    line = next(x for x in (DOCKER / "users.txt").read_text().splitlines()
                if x.startswith(user + ":"))
    assert shlex.split(line)[0] == f"{user}:{password}"
