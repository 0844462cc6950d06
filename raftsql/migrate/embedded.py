"""A migration Target over an embedded DB-API connection (``raftsql.connect``), so an
application that embeds raftsql can migrate its schema at start-up without a Postgres
listener. Migration files are PostgreSQL SQL, so the connection must use dialect="postgres";
it is switched to autocommit because the runner sends BEGIN/COMMIT itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from raftsql.dbapi import Connection, InterfaceError


class DbapiTarget:
    def __init__(self, connection: Connection) -> None:
        if connection.dialect != "postgres":
            raise InterfaceError("migrations are PostgreSQL SQL: connect with dialect='postgres'")
        connection.isolation_level = None
        self.connection = connection

    def _execute(self, sql: str, args: tuple[Any, ...]) -> None:
        conn = self.connection
        if args:
            conn.execute(sql, args)
            return
        stmts = conn._prepare(sql)  # several statements, all inside the runner's transaction

        async def run_all() -> None:
            for stmt in stmts:
                await conn._run(stmt, (), implicit=False)

        with conn._lock:
            conn._call(run_all())

    async def execute(self, sql: str, *args: Any) -> None:
        await asyncio.to_thread(self._execute, sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        def fetch() -> list[tuple[Any, ...]]:
            return [tuple(r) for r in self.connection.execute(sql, args).fetchall()]

        return await asyncio.to_thread(fetch)

    async def close(self) -> None:
        """The application owns the connection; nothing to do."""
