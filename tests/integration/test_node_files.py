"""A running `raftsql serve` keeps its SQLite database to itself (cli.keep_sqlite_files_to_this_
process: SQLite's unix-excl VFS), as RocksDB keeps the Raft log: another process cannot read it
until the node stops, and then finds every committed row there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import apsw
import asyncpg
import pytest

from raftsql.testing.procs import ProcessCluster


@pytest.mark.timeout(120)
def test_another_process_reads_the_database_only_once_the_node_is_stopped(
        tmp_path: Path) -> None:
    with ProcessCluster(tmp_path, 3) as c:
        c.start()
        leader = c.wait_for_leader(timeout=20)

        async def write() -> None:
            conn = await asyncpg.connect(c.nodes[leader].pg_dsn, timeout=10)
            try:
                await conn.execute("CREATE TABLE kept (k integer PRIMARY KEY)")
                await conn.execute("INSERT INTO kept VALUES (1), (2), (3)")
            finally:
                await conn.close()

        asyncio.run(write())
        c.wait_converged(timeout=20)
        follower = next(i for i in c.nodes if i != leader)
        path = str(c.nodes[follower].data_dir / "sql" / "state.sqlite")

        outside = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        try:
            with pytest.raises(apsw.BusyError):
                outside.execute("SELECT count(*) FROM kept").fetchall()
        finally:
            outside.close()

        c.kill(follower)
        outside = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        try:
            assert outside.execute("SELECT count(*) FROM kept").fetchall() == [(3,)]
        finally:
            outside.close()
