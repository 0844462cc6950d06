"""An embedded 3-member cluster: three separate Python processes, each a voter through
``raftsql.connect(node=...)``, survives kill -9 of the leader's process without losing an
acknowledged commit, and the killed member rejoins and catches up from its data directory.

Sources of truth: ARCHITECTURE.md "Command line (contract)" ("SIGKILL at any moment must lose
no acknowledged write") and the Raft paper section 5.4 (leader completeness: a committed entry
is in every later leader's log). One member also serves the Postgres frontend (pg_listen).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from raftsql.testing.procs import free_port

ROOT = Path(__file__).resolve().parents[2]

# The member program: one DB-API connection, commands as JSON lines on stdin.
MEMBER = r"""
import json, sys
import raftsql
cfg = json.loads(sys.argv[1])
con = raftsql.connect(node=cfg, read_consistency="linearizable")
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["op"] == "status":
            row = con.execute("SELECT role, leader_id FROM raftsql_status").fetchone()
            out = {"role": row[0], "leader": row[1]}
        elif req["op"] == "setup":
            con.execute("CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT, "
                        "at TEXT DEFAULT CURRENT_TIMESTAMP, "
                        "tag TEXT DEFAULT (lower(hex(randomblob(8)))), r INT, b BLOB)")
            out = {"ok": True}
        elif req["op"] == "noise":  # nondeterministic values the leader must fix
            con.execute("UPDATE kv SET r = random(), b = randomblob(4), "
                        "v = v || datetime('now') WHERE k % 3 = 0")
            con.commit()
            out = {"ok": True}
        elif req["op"] == "checksum":
            async def state():
                sm = con.node.server.sm
                return sm.applied_index(), sm.db.checksum()
            applied, checksum = con.node.call(state())
            out = {"applied": applied, "checksum": checksum}
        elif req["op"] == "write":
            con.execute("INSERT INTO kv (k, v) VALUES (?, ?)", (req["k"], f"v{req['k']}"))
            con.commit()
            out = {"ok": True}
        elif req["op"] == "read":
            con.read_consistency = req.get("level", "linearizable")
            out = {"keys": [k for (k,) in con.execute("SELECT k FROM kv ORDER BY k")]}
        elif req["op"] == "exit":
            con.close()
            print(json.dumps({"bye": True}), flush=True)
            break
    except raftsql.dbapi.Error as exc:
        con.rollback()
        out = {"error": exc.sqlstate, "message": str(exc)}
    print(json.dumps(out), flush=True)
"""


class Member:
    """One member process and a line reader with timeouts."""

    def __init__(self, node_id: int, cfg: dict[str, Any], log: Path) -> None:
        self.node_id = node_id
        self.cfg = cfg
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str] = queue.Queue()

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", MEMBER, json.dumps(self.cfg)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()
        assert self.receive(60).get("ready"), self.log.read_text()[-2000:]

    @staticmethod
    def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            return dict(json.loads(self.lines.get(timeout=timeout)))
        except queue.Empty:
            raise AssertionError(f"node {self.node_id} did not answer in {timeout}s") from None

    def ask(self, timeout: float = 30.0, **req: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self.receive(timeout)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if not self.alive:
            return
        try:
            self.ask(timeout=20, op="exit")
            assert self.proc is not None
            self.proc.wait(20)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self.kill()


def leader_among(members: list[Member], timeout: float = 60.0) -> Member:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            if m.alive and m.ask(op="status").get("role") == "leader":
                return m
        time.sleep(0.2)
    raise AssertionError("no leader elected")


def write(m: Member, k: int, timeout: float = 30.0) -> bool:
    """True when the commit was acknowledged; retried while it was safely not applied."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = m.ask(op="write", k=k)
        if r.get("ok"):
            return True
        if r.get("error") == "23505":  # an earlier attempt with unknown outcome did commit
            return True
        if r.get("error") not in ("40001", "57P03", "40003"):
            raise AssertionError(r)
        time.sleep(0.2)
    return False


def assert_same_state(members: list[Member], timeout: float = 60.0) -> None:
    """Every live member reaches byte-identical SQLite content at the same applied index
    (ARCHITECTURE.md "Determinism"), although the SQL used random(), randomblob(),
    datetime('now') and nondeterministic column defaults."""
    deadline = time.monotonic() + timeout
    while True:
        states = [m.ask(op="checksum") for m in members if m.alive]
        if len({(s["applied"], s["checksum"]) for s in states}) == 1:
            return
        if time.monotonic() > deadline:
            raise AssertionError(states)
        time.sleep(0.2)


@pytest.mark.timeout(240)
def test_embedded_cluster_survives_kill_9_of_the_leader(tmp_path: Path) -> None:
    ids = (1, 2, 3)
    raft = {i: free_port() for i in ids}
    peers = {str(i): f"127.0.0.1:{raft[i]}" for i in ids}
    pg_port = free_port()
    members = []
    for i in ids:
        cfg = {"node_id": i, "data_dir": str(tmp_path / f"m{i}"),
               "raft_listen": f"127.0.0.1:{raft[i]}", "peers": peers,
               "pg_listen": f"127.0.0.1:{pg_port}" if i == 1 else None}
        members.append(Member(i, cfg, tmp_path / f"m{i}.log"))
    try:
        for m in members:
            m.start()
        leader = leader_among(members)
        assert leader.ask(op="setup").get("ok")
        acked: list[int] = []
        follower = next(m for m in members if m is not leader)
        for k in range(1, 21):
            target = leader if k % 4 else follower  # a follower forwards its commit
            if write(target, k):
                acked.append(k)
        assert len(acked) == 20
        assert leader.ask(op="noise").get("ok")
        assert_same_state(members)

        leader.kill()
        survivors = [m for m in members if m is not leader]
        new_leader = leader_among(survivors)
        for k in range(21, 31):
            if write(new_leader, k):
                acked.append(k)
        for m in survivors:
            keys = m.ask(op="read")["keys"]
            assert set(acked) <= set(keys), (sorted(set(acked) - set(keys)), m.node_id)

        leader.start()  # rejoins from its own data dir and catches up
        deadline = time.monotonic() + 30
        while True:
            keys = leader.ask(op="read", level="stale")["keys"]
            if set(acked) <= set(keys) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert set(acked) <= set(keys)
        assert_same_state(members)

        asyncpg = pytest.importorskip("asyncpg")
        pytest.importorskip("raftsql.server.frontend")
        if members[0].alive:
            import asyncio

            async def via_pg() -> int:
                conn = await asyncpg.connect(f"postgresql://raftsql@127.0.0.1:{pg_port}/raftsql")
                try:
                    return int(await conn.fetchval("SELECT count(*) FROM kv"))
                finally:
                    await conn.close()

            assert asyncio.run(via_pg()) >= len(acked)
    finally:
        for m in members:
            m.stop()
        for m in members:
            m.kill()
