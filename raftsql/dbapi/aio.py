"""An asyncio flavour of the embedded driver, shaped like aiosqlite.

Why this is thin: the node already runs on its own loop thread, and the synchronous driver
hands work to it and blocks. Here every blocking call runs in a worker thread
(``asyncio.to_thread``), so the application's loop never blocks and the transaction rules, error
mapping and parameter handling are exactly the synchronous driver's.

    conn = await raftsql.dbapi.aio.connect("data")
    async with conn:                       # closes at the end, like aiosqlite
        cur = await conn.execute("SELECT ?", (1,))
        rows = await cur.fetchall()
        await conn.commit()
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from raftsql.dbapi import connect as _connect
from raftsql.dbapi.connection import Connection, Cursor


class AsyncCursor:
    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def execute(self, sql: str, parameters: Any = ()) -> AsyncCursor:
        await asyncio.to_thread(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> AsyncCursor:
        await asyncio.to_thread(self._cursor.executemany, sql, list(seq_of_parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()  # rows are already in memory

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class AsyncConnection:
    def __init__(self, connection: Connection) -> None:
        self.sync = connection

    @property
    def in_transaction(self) -> bool:
        return self.sync.in_transaction

    async def cursor(self) -> AsyncCursor:
        return AsyncCursor(self.sync.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> AsyncCursor:
        return await (await self.cursor()).execute(sql, parameters)

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> AsyncCursor:
        return await (await self.cursor()).executemany(sql, seq_of_parameters)

    async def executescript(self, script: str) -> None:
        await asyncio.to_thread(self.sync.executescript, script)

    async def commit(self) -> None:
        await asyncio.to_thread(self.sync.commit)

    async def rollback(self) -> None:
        await asyncio.to_thread(self.sync.rollback)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


async def connect(*args: Any, **kwargs: Any) -> AsyncConnection:
    """``raftsql.connect`` with the same arguments, without blocking the event loop."""
    return AsyncConnection(await asyncio.to_thread(_connect, *args, **kwargs))
