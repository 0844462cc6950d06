"""README.md, followed literally against a live cluster (issue 6, part 5).

Source of truth: the README itself. The quickstart's first command is `make dev`; the Makefile's
`dev` target runs `raftsql dev`, so this test runs that command (``python -m raftsql.cli dev``,
with a port offset so it never collides with a developer's cluster), waits for the URLs it
prints, connects to the first one with the real psql binary, then executes every block that
README.md and docs/clients.md mark with ``<!-- example -->``, in order, against that cluster:
``sql`` blocks through psql with ON_ERROR_STOP, ``python`` blocks in a fresh interpreter,
``sh`` blocks with bash (``raftsql`` on PATH runs this checkout's CLI). The only change made to
a block is shifting the documented ports (6001-6003, 7001-7003, 8001-8003) by the offset.
Finally SIGINT (Ctrl-C) must stop every node the command started.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = ("README.md", "docs/clients.md")
EXAMPLE = re.compile(r"^<!-- example -->\n```(\w+)\n(.*?)^```", re.S | re.M)
BASES = (6001, 7001, 8001)

pytestmark = [
    pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed"),
    pytest.mark.xdist_group("readme"),  # one cluster, blocks in document order, one worker
]


@dataclass
class Block:
    source: str
    line: int
    lang: str
    code: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.lang}"


def example_blocks() -> list[Block]:
    out = []
    for name in DOC_FILES:
        text = (ROOT / name).read_text()
        for m in EXAMPLE.finditer(text):
            out.append(Block(name, text.count("\n", 0, m.start()) + 2, m.group(1), m.group(2)))
    return out


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_offset() -> int:
    """An offset whose nine ports are free and below the ephemeral range (32768+)."""
    for _ in range(50):
        off = random.randrange(10_000, 24_000, 10)
        if all(_free(b + off + i) for b in BASES for i in range(3)):
            return off
    raise RuntimeError("no free port block")


def _shift(code: str, offset: int) -> str:
    return re.sub(r"\b127\.0\.0\.1:([678]00[1-3])\b",
                  lambda m: f"127.0.0.1:{int(m.group(1)) + offset}", code)


@dataclass
class Dev:
    proc: subprocess.Popen[str]
    urls: list[str]
    offset: int
    workdir: Path
    env: dict[str, str]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _psql(url: str, sql: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                          input=sql, capture_output=True, text=True, timeout=30, env=env)


def _wait_until_every_node_knows_the_leader(urls: list[str], env: dict[str, str]) -> None:
    """`raftsql dev` prints the URLs as it starts the nodes, before they listen. An example
    run in that window failed with "connection refused" (CI on a slow machine): pytest-xdist
    may run another module's tests between two of a module's on the same worker, so the
    module's cluster can be started again at any example, not only before the first."""
    deadline = time.monotonic() + 40
    for url in urls:
        while True:
            res = _psql(url, "SELECT leader_id FROM raftsql_status;", env)
            if res.returncode == 0 and res.stdout.split()[2].isdigit():
                break
            assert time.monotonic() < deadline, f"{url}: no leader known: {res}"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "migrations", work / "migrations")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "raftsql"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m raftsql.cli \"$@\"\n")
    shim.chmod(0o755)
    # `python` in examples = this interpreter. A script, not a symlink: run through a link in
    # another directory, a venv's interpreter does not find its pyvenv.cfg and loses its packages
    python = bin_dir / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    offset = _pick_offset()
    proc = subprocess.Popen(
        [sys.executable, "-m", "raftsql.cli", "dev", "--data-dir", str(work / "data"),
         "--port-offset", str(offset)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=work, env=env)
    try:
        assert proc.stdout is not None
        urls: list[str] = []
        deadline = time.monotonic() + 30
        while len(urls) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("postgresql://"):
                urls.append(line.strip())
        assert len(urls) == 3, f"raftsql dev printed {urls}"
        _wait_until_every_node_knows_the_leader(urls, env)
        yield Dev(proc, urls, offset, work, env)
    finally:
        pids = _children(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_quickstart_is_make_dev_then_make_test() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("```", 2)[1]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == [
        "make dev", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndev:", 1)[1].split("\n\n", 1)[0]
    assert "bin/raftsql dev" in recipe  # what this test runs in its place


def run_block(dev: Dev, block: Block) -> subprocess.CompletedProcess[str]:
    """Run one marked block as its language's runner would; ports shifted, nothing else."""
    code = _shift(block.code, dev.offset)
    if block.lang == "sql":
        return _psql(dev.urls[0], code, dev.env)
    if block.lang == "python":
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, cwd=dev.workdir, env=dev.env)
    if block.lang == "sh":
        return subprocess.run(["bash", "-euo", "pipefail", "-c", code], capture_output=True,
                              text=True, timeout=60, cwd=dev.workdir, env=dev.env)
    pytest.fail(f"{block}: no runner for {block.lang!r} blocks")


def test_readme_has_each_kind_of_example() -> None:
    langs = [b.lang for b in example_blocks() if b.source == "README.md"]
    assert {"sql", "python", "sh"} <= set(langs) and len(langs) >= 6


def _check_dev_prints_a_url_per_node_and_psql_connects(dev: Dev) -> None:
    """The fixture waited until every node knew the leader; psql then reads it at once."""
    ports = [int(u.rsplit(":", 1)[1].split("/")[0]) for u in dev.urls]
    assert ports == [6001 + dev.offset + i for i in range(3)]
    res = _psql(dev.urls[0], "SELECT count(*) FROM raftsql_status "
                             "WHERE leader_id IS NOT NULL;", dev.env)
    assert res.returncode == 0 and res.stdout.split()[-3] == "1", res


def _check_ctrl_c_stops_every_node(dev: Dev) -> None:
    nodes = _children(dev.proc.pid)
    assert len(nodes) == 3, nodes
    dev.proc.send_signal(signal.SIGINT)
    assert dev.proc.wait(20) == 0
    for pid in nodes:
        assert not Path(f"/proc/{pid}").exists(), f"node process {pid} still runs"


def test_walkthrough(dev: Dev) -> None:
    """The README followed literally, in order, as one test (the examples build on each
    other, so they must not be scheduled apart): `raftsql dev` prints a URL per node and psql
    connects; every marked block of README.md and docs/clients.md runs, in document order;
    Ctrl-C then stops every node."""
    _check_dev_prints_a_url_per_node_and_psql_connects(dev)
    for block in example_blocks():
        res = run_block(dev, block)
        assert res.returncode == 0, f"{block} failed:\n{res.stdout}\n{res.stderr}"
    _check_ctrl_c_stops_every_node(dev)
