"""The migrations runner against a real 3-node cluster of ``raftsql serve`` processes, over
the Postgres wire (asyncpg).

Sources of truth: the task's acceptance list (each migration one transaction and one log entry,
applied exactly once by concurrent runners, tampered files refused, a failing migration leaves
no trace on any node), docs/transactions.md (a transaction is validated optimistically at apply:
40001 when a table it read was written after its snapshot) and ARCHITECTURE.md "Errors".
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raftsql import migrate
from raftsql.migrate.runner import AsyncpgTarget
from raftsql.testing.procs import ProcessCluster

pytest.importorskip("raftsql.server.frontend")
asyncpg = pytest.importorskip("asyncpg")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ProcessCluster]:
    c = ProcessCluster(tmp_path / "cluster", 3)
    try:
        c.start()
        c.wait_for_leader(60)  # a loaded 2-core box
        yield c
    finally:
        c.close()


def copy_examples(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", d)
    return d


async def on_node(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """A stale (local) read on one node: what that node's own SQLite holds."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET raftsql.read_consistency = 'stale'")
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def every_node(cluster: ProcessCluster, sql: str, *args: Any) -> list[list[tuple[Any, ...]]]:
    cluster.wait_converged(60)
    return [asyncio.run(on_node(n.pg_dsn, sql, *args)) for n in cluster.nodes.values()]


def test_applies_the_examples_and_status_lists_applied_and_pending(
        cluster: ProcessCluster, tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    (d / "0003_add_phone.sql").write_text(
        "ALTER TABLE users ADD COLUMN phone text;\n-- migrate:down\n"
        "ALTER TABLE users DROP COLUMN phone;\n")
    lines: list[str] = []
    assert migrate.up(cluster.nodes[2].pg_dsn, d, to=2, out=lines.append) == [1, 2]
    progress = [line for line in lines if not line.startswith("  ")]  # minus retry notes
    assert progress == ["applying 0001_create_users ...", "applied 0001_create_users",
                     "applying 0002_create_orders ...", "applied 0002_create_orders"]
    for rows in every_node(cluster, "SELECT version, name FROM raftsql_migrations ORDER BY 1"):
        assert rows == [(1, "create_users"), (2, "create_orders")]
    for rows in every_node(cluster, "SELECT count(*) FROM orders"):
        assert rows == [(0,)]
    states = [(r.version, r.state) for r in migrate.status(cluster.nodes[1].pg_dsn, d)]
    assert states == [(1, "applied"), (2, "applied"), (3, "pending")]

    cli = subprocess.run(
        [sys.executable, "-m", "raftsql.cli", "migrate", "status", "--dsn",
         cluster.nodes[3].pg_dsn, "--dir", str(d)],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert cli.returncode == 0, cli.stderr
    table = cli.stdout.splitlines()
    assert table[0].split() == ["version", "name", "state", "applied_at"]
    assert table[1].split()[:3] == ["0001", "create_users", "applied"]
    assert table[3].split() == ["0003", "add_phone", "pending"]

    dry = subprocess.run(
        [sys.executable, "-m", "raftsql.cli", "migrate", "up", "--dry-run", "--dsn",
         cluster.nodes[1].pg_dsn, "--dir", str(d)],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert dry.returncode == 0 and "would apply 0003_add_phone" in dry.stdout
    assert [r.state for r in migrate.status(cluster.nodes[1].pg_dsn, d)][-1] == "pending"

    assert migrate.up(cluster.nodes[1].pg_dsn, d, out=lines.append) == [3]
    assert migrate.down(cluster.nodes[3].pg_dsn, d, to=0, out=lines.append) == [3, 2, 1]
    for rows in every_node(cluster, "SELECT count(*) FROM raftsql_migrations"):
        assert rows == [(0,)]
    with pytest.raises(asyncpg.UndefinedTableError):
        asyncio.run(on_node(cluster.nodes[1].pg_dsn, "SELECT * FROM users"))


def counting_migrations(d: Path, n: int) -> Path:
    """0001 creates a table; 0002..n each insert their version: a migration applied twice
    would leave its version twice (the table has no key to stop it)."""
    d.mkdir()
    (d / "0001_log.sql").write_text("CREATE TABLE applied_log (version int NOT NULL);\n")
    for v in range(2, n + 1):
        (d / f"{v:04d}_step.sql").write_text(f"INSERT INTO applied_log VALUES ({v});\n")
    return d


class GatedTarget(AsyncpgTarget):
    """Holds its first COMMIT until released, to force the race deterministically."""

    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        self.at_commit = asyncio.Event()
        self.release = asyncio.Event()

    async def execute(self, sql: str, *args: Any) -> None:
        if sql == "COMMIT" and not self.release.is_set():
            self.at_commit.set()
            await self.release.wait()
        await super().execute(sql, *args)


def test_two_runners_at_once_apply_each_migration_once(cluster: ProcessCluster,
                                                       tmp_path: Path) -> None:
    d = counting_migrations(tmp_path / "m", 6)

    async def race() -> tuple[list[int], list[int], list[str]]:
        slow_out: list[str] = []
        slow = GatedTarget(await asyncpg.connect(cluster.nodes[1].pg_dsn))
        slow_run = asyncio.create_task(migrate.up_async(
            directory=d, target=slow, out=slow_out.append))
        await asyncio.wait_for(slow.at_commit.wait(), 30)  # inside migration 1, before COMMIT
        fast = await migrate.up_async(cluster.nodes[2].pg_dsn, d, out=lambda _l: None)
        slow.release.set()
        slow_done = await asyncio.wait_for(slow_run, 60)
        await slow.close()
        return slow_done, fast, slow_out

    slow_done, fast_done, slow_out = asyncio.run(race())
    assert fast_done == [1, 2, 3, 4, 5, 6] and slow_done == []
    assert any("40001" in line for line in slow_out), slow_out  # its COMMIT conflicted
    assert sum("skipped" in line for line in slow_out) == 6
    for rows in every_node(cluster, "SELECT version, count(*) FROM applied_log GROUP BY 1 "
                                    "ORDER BY 1"):
        assert rows == [(v, 1) for v in range(2, 7)]

    # and two free-running runners on different nodes, concurrently
    e = counting_migrations(tmp_path / "n", 1)
    for v in range(7, 13):
        (e / f"{v:04d}_step.sql").write_text(f"INSERT INTO applied_log VALUES ({v});\n")
    shutil.copy(d / "0001_log.sql", e / "0001_log.sql")

    async def both() -> list[list[int]]:
        return list(await asyncio.gather(
            migrate.up_async(cluster.nodes[1].pg_dsn, e, out=lambda _l: None),
            migrate.up_async(cluster.nodes[3].pg_dsn, e, out=lambda _l: None)))

    a, b = asyncio.run(both())
    assert sorted(a + b) == list(range(7, 13)) and not set(a) & set(b)
    for rows in every_node(cluster, "SELECT count(*), count(DISTINCT version) FROM applied_log"):
        assert rows == [(11, 11)]


def test_tampered_migration_is_refused(cluster: ProcessCluster, tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    dsn = cluster.nodes[1].pg_dsn
    migrate.up(dsn, d, out=lambda _l: None)
    path = d / "0001_create_users.sql"
    path.write_text(path.read_text().replace("name text NOT NULL", "name text"))
    (d / "0003_more.sql").write_text("CREATE TABLE more (a int);\n")
    with pytest.raises(migrate.ChecksumMismatch, match="was changed after it was applied"):
        migrate.up(dsn, d, out=lambda _l: None)
    cli = subprocess.run([sys.executable, "-m", "raftsql.cli", "migrate", "up", "--dsn", dsn,
                          "--dir", str(d)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert cli.returncode == 1
    assert "0001_create_users.sql was changed after it was applied" in cli.stderr
    states = {r.version: r.state for r in migrate.status(dsn, d)}
    assert states == {1: "changed", 2: "applied", 3: "pending"}  # nothing was applied
    status_cli = subprocess.run([sys.executable, "-m", "raftsql.cli", "migrate", "status",
                                 "--dsn", dsn, "--dir", str(d)], capture_output=True, text=True,
                                timeout=60, cwd=ROOT)
    assert status_cli.returncode == 1 and "changed" in status_cli.stdout

    shutil.copy(ROOT / "migrations" / "0001_create_users.sql", path)  # restored
    assert migrate.up(dsn, d, out=lambda _l: None) == [3]
    with pytest.raises(migrate.MigrationError, match="no '-- migrate:down' section"):
        migrate.down(dsn, d, out=lambda _l: None)
    assert [r.state for r in migrate.status(dsn, d)] == ["applied"] * 3


def test_failing_migration_leaves_no_trace_on_any_node(cluster: ProcessCluster,
                                                       tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    (d / "0003_broken.sql").write_text(
        "CREATE TABLE audit (id int PRIMARY KEY, what text);\n"
        "INSERT INTO audit VALUES (1, 'created');\n"
        "INSERT INTO users (email, name) VALUES ('a@example.com', 'A');\n"
        "INSERT INTO no_such_table VALUES (1);\n")
    (d / "0004_after.sql").write_text("CREATE TABLE after_broken (a int);\n")
    lines: list[str] = []
    with pytest.raises(migrate.MigrationFailed) as e:
        migrate.up(cluster.nodes[3].pg_dsn, d, out=lines.append)
    assert e.value.sqlstate == "42P01" and "0003_broken" in str(e.value)
    assert "applied 0002_create_orders" in lines and "applied 0003_broken" not in lines
    for rows in every_node(cluster, "SELECT max(version) FROM raftsql_migrations"):
        assert rows == [(2,)]
    for rows in every_node(cluster, "SELECT count(*) FROM users"):
        assert rows == [(0,)]
    for node in cluster.nodes.values():
        for table in ("audit", "after_broken"):
            with pytest.raises(asyncpg.UndefinedTableError):
                asyncio.run(on_node(node.pg_dsn, f"SELECT * FROM {table}"))
