"""A small write/read client over the Postgres wire (asyncpg) for the cluster tests.

Each write's outcome is classified the way a Jepsen history does: ``ok`` (acknowledged),
``fail`` (definitely not applied: 40001, 57P03, 25006 or a refused connection) or ``unknown``
(may or may not have happened: timeouts, a connection lost after sending, 40003). The
acceptance checks only ever demand that acknowledged writes survive.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import asyncpg

DEFINITE_FAILURES = {"40001", "57P03", "25006", "25P02", "53300"}


@dataclass
class Outcomes:
    ok: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)


async def connect(dsn: str, timeout: float = 5.0) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, timeout=timeout, statement_cache_size=0)


async def execute(dsn: str, sql: str, timeout: float = 10.0) -> str:
    conn = await connect(dsn)
    try:
        return await conn.execute(sql, timeout=timeout)
    finally:
        await conn.close()


async def write_many(dsns: list[str], keys: list[str], concurrency: int = 16,
                     table: str = "kv", timeout: float = 10.0,
                     seed: int = 0) -> Outcomes:
    """Insert one row per key through connections spread over every node; never raises."""
    out = Outcomes()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for k in keys:
        queue.put_nowait(k)
    rng = random.Random(seed)

    async def worker(n: int) -> None:
        conn: asyncpg.Connection | None = None
        while not queue.empty():
            key = queue.get_nowait()
            if conn is None or conn.is_closed():
                try:
                    conn = await connect(rng.choice(dsns))
                except (TimeoutError, OSError, asyncpg.PostgresError):
                    out.failed.add(key)
                    conn = None
                    await asyncio.sleep(0.05)
                    continue
            try:
                await conn.execute(f"INSERT INTO {table} (k, v) VALUES ('{key}', {n})",
                                   timeout=timeout)
                out.ok.add(key)
            except asyncpg.PostgresError as exc:
                code = getattr(exc, "sqlstate", "")
                (out.failed if code in DEFINITE_FAILURES else out.unknown).add(key)
                if getattr(exc, "severity", "") == "FATAL":  # 57P01 at shutdown: the end of it
                    conn.terminate()
                    conn = None
            except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.InternalClientError):
                # InternalClientError: asyncpg took a FATAL (57P01 from a node shutting down,
                # as PostgreSQL sends) while idle, and the connection is not usable
                out.unknown.add(key)
                # close it now: an abandoned asyncpg connection torn down by the garbage
                # collector while the loop closes can crash the interpreter
                conn.terminate()
                conn = None
        if conn is not None and not conn.is_closed():
            await conn.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return out


async def keys_on(dsn: str, table: str = "kv") -> list[str]:
    """Every key on one node's own state (a stale read: what that node applied)."""
    conn = await connect(dsn)
    try:
        await conn.execute("SET raftsql.read_consistency = 'stale'")
        rows = await conn.fetch(f"SELECT k FROM {table} ORDER BY k")
        return [r[0] for r in rows]
    finally:
        await conn.close()
