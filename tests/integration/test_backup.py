"""`raftsql backup` and `raftsql restore` on real processes (issue 6, part 3).

Sources of truth: Raft thesis section 6.4 (a ReadIndex read reflects every write acknowledged
before it began: the backup is such a read, so it must hold every write acknowledged before the
backup command started), Raft paper section 7 (a node whose log starts after a snapshot serves
from the snapshot's state; a new member catches up by InstallSnapshot), and docs/operations.md
"Backup and restore" (what restore promises: the new cluster reports the backup's checksum
until its first write, and accepts writes).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import apsw
import pytest
from kvclient import connect, execute, keys_on

from raftsql.server.backup import BackupError, verify_backup
from raftsql.testing.procs import ProcessCluster

pytest.importorskip("raftsql.server.frontend", reason="the Postgres frontend is not built yet")


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raftsql.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


class Writer(threading.Thread):
    """Inserts k00000, k00001, ... one at a time and records when each was acknowledged."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.acked: dict[str, float] = {}
        self.attempted: set[str] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        conn = await connect(self.dsn)
        try:
            i = 0
            while not self.stop.is_set():
                key = f"k{i:05d}"
                self.attempted.add(key)
                await conn.execute(f"INSERT INTO kv (k, v) VALUES ('{key}', {i})", timeout=10)
                self.acked[key] = time.monotonic()
                i += 1
        finally:
            await conn.close()


def _rows_in_file(path: Path) -> set[str]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {str(r[0]) for r in conn.execute("SELECT k FROM kv")}
    finally:
        conn.close()


def _peers(c: ProcessCluster, node_id: int) -> str:
    return c.command(node_id)[c.command(node_id).index("--peers") + 1]


@pytest.mark.timeout(120)
def test_backup_under_writes_restores_into_a_new_cluster(tmp_path: Path) -> None:
    backup = tmp_path / "backup.sqlite"
    with ProcessCluster(tmp_path / "old", 3) as old:
        old.start()
        leader = old.wait_for_leader(timeout=20)
        asyncio.run(execute(old.nodes[leader].pg_dsn, "CREATE TABLE kv (k TEXT PRIMARY KEY, "
                                                       "v INTEGER)"))
        writer = Writer(old.nodes[leader].pg_dsn)
        writer.start()
        while len(writer.acked) < 30:
            time.sleep(0.02)
        started = time.monotonic()
        follower = next(i for i in old.nodes if i != leader)
        addrs = ",".join(old.nodes[i].http_addr for i in [follower, leader])
        res = _cli("backup", "--http", addrs, "--out", str(backup))
        time.sleep(0.3)  # keep writing after the backup too
        writer.stop.set()
        writer.join(15)
        assert res.returncode == 0, res.stderr + old.logs(follower)
        assert "bytes" in res.stderr  # the progress bar
        report = json.loads(res.stdout)
        live = _cli("backup", "--data-dir", str(old.nodes[leader].data_dir), "--out",
                    str(tmp_path / "refused.sqlite"))
        assert live.returncode == 1 and "in use" in live.stderr  # never copy a running node
    offline = _cli("backup", "--data-dir", str(old.nodes[leader].data_dir), "--out",
                   str(tmp_path / "offline.sqlite"))
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["applied_index"] >= report["applied_index"]
    assert writer.acked.keys() <= _rows_in_file(tmp_path / "offline.sqlite")

    verified = verify_backup(backup)
    assert report["checksum"] == verified.checksum and report["integrity"] == "ok"
    assert report["applied_index"] == verified.applied_index >= report["read_index"]
    rows = _rows_in_file(backup)
    before = {k for k, t in writer.acked.items() if t < started}
    assert len(before) >= 30 and before <= rows, sorted(before - rows)[:5]  # thesis 6.4
    assert rows <= writer.attempted

    with ProcessCluster(tmp_path / "new", 3) as new:
        for i, node in new.nodes.items():
            r = _cli("restore", "--from", str(backup), "--data-dir", str(node.data_dir),
                     "--node-id", str(i), "--peers", _peers(new, i))
            assert r.returncode == 0, r.stderr
        again = _cli("restore", "--from", str(backup), "--data-dir", str(new.nodes[1].data_dir),
                     "--node-id", "1", "--peers", _peers(new, 1))
        assert again.returncode == 1 and "exists" in again.stderr  # never over a live node
        new.start()
        leader = new.wait_for_leader(timeout=20)
        new.wait_converged(timeout=20)
        sums = {i: new.http(i, "/checksum") for i in new.nodes}
        assert {s["checksum"] for s in sums.values()} == {verified.checksum}, sums
        assert min(s["applied_index"] for s in sums.values()) > verified.applied_index
        assert set(asyncio.run(keys_on(new.nodes[leader].pg_dsn))) == rows

        asyncio.run(execute(new.nodes[leader].pg_dsn,
                            "INSERT INTO kv (k, v) VALUES ('after-restore', 1)"))
        new.add_node(4)  # a new member catches up from the restored snapshot (paper 7)
        r = _cli("cluster", "add", "--node", "4", "--addr", f"127.0.0.1:{new.nodes[4].raft_port}",
                 "--http", ",".join(n.http_addr for i, n in new.nodes.items() if i != 4))
        assert r.returncode == 0, r.stdout + r.stderr
        new.wait_converged(timeout=30)
        sums = {i: new.http(i, "/checksum")["checksum"] for i in new.nodes}
        assert len(set(sums.values())) == 1, sums
        assert "after-restore" in asyncio.run(keys_on(new.nodes[4].pg_dsn))


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    """verify_backup runs PRAGMA integrity_check and reads the raftsql metadata first."""
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(BackupError):
        verify_backup(bad)
    r = _cli("restore", "--from", str(bad), "--data-dir", str(tmp_path / "d"), "--node-id", "1",
             "--peers", "1=127.0.0.1:1")
    assert r.returncode == 1 and not (tmp_path / "d" / "raft").exists()


def test_file_body_streams_with_its_length_and_always_runs_on_close(tmp_path: Path) -> None:
    """HttpServer's FileBody (RFC 9112 section 6.3: a body delimited by content-length): the
    client gets every byte; ``on_close`` runs after a complete response AND after a client
    that hung up mid-body, so a backup's temp file never outlives its request."""
    import os
    import socket
    import urllib.request

    from raftsql.server.http import FileBody, HttpServer

    data = os.urandom(3 * (1 << 20) + 17)
    closed: list[str] = []
    served: list[str] = []

    async def main() -> None:
        async def big(_q: dict[str, str]):  # type: ignore[no-untyped-def]
            # named by request, not by the closes so far: the first response's on_close may
            # run after the second request arrived (the client had read every byte already)
            path = tmp_path / f"body-{len(served)}"
            served.append(path.name)
            path.write_bytes(data)
            return 200, "application/octet-stream", FileBody(
                path, [("x-test", "1")], lambda: closed.append(path.name))

        server = HttpServer({("GET", "/big"): big})
        await server.start("127.0.0.1", 0)
        port = server.bound_port

        def fetch() -> tuple[bytes, str | None]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/big", timeout=10) as resp:
                return resp.read(), resp.headers["content-length"]

        body, length = await asyncio.to_thread(fetch)
        assert body == data and length == str(len(data))

        def hang_up() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
                s.recv(1000)

        await asyncio.to_thread(hang_up)
        deadline = time.monotonic() + 10
        while len(closed) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await server.close()

    asyncio.run(main())
    assert sorted(closed) == served == ["body-0", "body-1"]
