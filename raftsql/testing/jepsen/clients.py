"""Wire clients for the fault suite: one asyncpg connection per logical process, and the rule
that turns every outcome into a Jepsen completion type.

The classification is the contract of ARCHITECTURE.md, "Errors": ``40001``, ``57P03`` and
``25006`` are answered before anything was proposed, so the operation definitely did not
happen (``fail``). A connection that could not be opened never carried the operation either.
Everything else whose outcome the client cannot see (a timeout, a connection dropped after the
query was sent, ``40003`` statement_completion_unknown, any unexpected error) is ``info``: the
operation may still take effect later, and the checkers treat it so (ophistory.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from raftsql.testing.ophistory import History, OpType

DEFINITE_FAILURES = frozenset({"40001", "57P03", "25006"})
"""SQLSTATEs that promise the statement was not applied (ARCHITECTURE.md, "Errors")."""


class DefiniteFailure(Exception):
    """Raised by a workload when its own logic knows the operation did not happen (a CAS whose
    row count is 0, a transfer refused for lack of funds, a transaction that failed before its
    COMMIT was sent). ``keep_connection`` is False when the session may be unusable."""

    def __init__(self, why: str, *, keep_connection: bool = True) -> None:
        super().__init__(why)
        self.keep_connection = keep_connection


def classify(exc: BaseException) -> tuple[OpType, str]:
    """Map an exception raised while an operation was outstanding to ``fail`` or ``info``."""
    if isinstance(exc, DefiniteFailure):
        return OpType.FAIL, str(exc) or "definite failure"
    if isinstance(exc, asyncpg.PostgresError):
        code = getattr(exc, "sqlstate", None) or "?"
        kind = OpType.FAIL if code in DEFINITE_FAILURES else OpType.INFO
        return kind, f"{code} {str(exc)[:80]}"
    if isinstance(exc, TimeoutError):
        return OpType.INFO, "timeout"
    return OpType.INFO, f"{type(exc).__name__} {str(exc)[:80]}"


@dataclass
class Endpoint:
    """One node as a client sees it: its id and Postgres DSN."""

    node_id: int
    dsn: str


class ProcessClient:
    """A single-threaded logical client (a Jepsen *process*) bound to one node.

    ``run`` records the invocation, executes the operation and records its completion. A process
    whose operation ended in ``info`` is retired (its outcome may still be in flight), so the
    caller gets a fresh process id through ``next_process``; the connection is dropped too,
    because an operation that timed out may still occupy it.
    """

    def __init__(
        self,
        history: History,
        process: int,
        endpoint: Endpoint,
        *,
        read_level: str,
        op_timeout: float,
        connect_timeout: float = 2.0,
    ) -> None:
        self.history = history
        self.process = process
        self.endpoint = endpoint
        self.read_level = read_level
        self.op_timeout = op_timeout
        self.connect_timeout = connect_timeout
        self.conn: asyncpg.Connection | None = None

    async def connect(self) -> asyncpg.Connection:
        """Open the connection and set the session's read level (raises on failure)."""
        if self.conn is None or self.conn.is_closed():
            self.conn = None
            conn = await asyncpg.connect(
                self.endpoint.dsn, timeout=self.connect_timeout, statement_cache_size=0
            )
            try:
                await conn.execute(
                    f"SET raftsql.read_consistency = '{self.read_level}'",
                    timeout=self.connect_timeout,
                )
            except BaseException:
                conn.terminate()
                raise
            self.conn = conn
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.terminate()
            self.conn = None

    async def run(
        self, f: str, key: Any, value: Any, body: Callable[[asyncpg.Connection], Awaitable[Any]]
    ) -> OpType:
        """Invoke ``f`` on ``key`` with ``value``; ``body`` runs it and returns the result."""
        op = self.history.invoke(self.process, f, key, value)
        try:
            conn = await self.connect()
        except asyncio.CancelledError:
            self.drop()
            self.history.fail(op, "connect: cancelled")
            raise
        except Exception as exc:  # noqa: BLE001 - the operation was never sent: it did not happen
            self.drop()
            self.history.fail(op, f"connect: {type(exc).__name__}")
            return OpType.FAIL
        try:
            result = await asyncio.wait_for(body(conn), self.op_timeout)
        except asyncio.CancelledError:
            self.history.info(op, "cancelled")
            self.drop()
            raise
        except Exception as exc:  # noqa: BLE001 - every outcome must be recorded
            kind, why = classify(exc)
            if kind is OpType.FAIL:
                self.history.fail(op, why)
                keep = (
                    exc.keep_connection
                    if isinstance(exc, DefiniteFailure)
                    else isinstance(exc, asyncpg.PostgresError)
                )
                if not keep:
                    self.drop()
            else:
                self.history.info(op, why)
                self.drop()
            return kind
        self.history.ok(op, result)
        return OpType.OK

    def close(self) -> None:
        self.drop()
