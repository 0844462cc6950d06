"""The three workloads of the fault suite: what each client operation is in SQL, and how the
recorded history is judged.

- ``register``: per-key read / write / compare-and-set on ``registers(k, v)``; judged by the
  Wing-Gong/Lowe linearizability checker (linearizable.py). Every written value is unique, so a
  read of an overwritten value after the overwrite completed cannot be linearized.
- ``set``: inserts of unique elements; after healing, every node's own final state is read.
  Judged like Jepsen's set workload: every acknowledged add present, nothing never attempted.
- ``bank``: 10 accounts, transfers in interactive transactions (BEGIN / UPDATE / UPDATE /
  COMMIT); every read of all balances must sum to the constant total, none negative
  (Jepsen's bank workload: serializability of the transfers shows as a constant sum).
"""

from __future__ import annotations

import itertools
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from raftsql.testing.jepsen.clients import DefiniteFailure
from raftsql.testing.linearizable import check_register
from raftsql.testing.ophistory import History, Operation, OpType

Body = Callable[[asyncpg.Connection], Awaitable[Any]]


@dataclass
class CheckResult:
    """A workload's verdict: ``valid`` True / False / None (unknown), the first anomaly as one
    line, and counters for the report."""

    valid: bool | None
    anomaly: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "UNKNOWN" if self.valid is None else ("VALID" if self.valid else "INVALID")


class Workload(ABC):
    """One workload: schema, operation generator, SQL of each operation, final reads, check."""

    name: str

    @abstractmethod
    async def setup(self, conn: asyncpg.Connection) -> None:
        """Create and fill the tables (through the leader, before any fault)."""

    @abstractmethod
    def generate(self, rng: random.Random, reader: bool = False) -> tuple[str, Any, Any]:
        """The next operation: ``(f, key, value)``; only reads for a read-only process."""

    @abstractmethod
    def body(self, f: str, key: Any, value: Any) -> Body:
        """The coroutine that performs the operation on a connection and returns its result."""

    async def final(self, history: History, dsns: dict[int, str]) -> None:
        """Reads after healing and convergence (default: none)."""
        return None

    @abstractmethod
    def check(self, history: History, time_limit: float) -> CheckResult:
        """Judge the history."""


def _status_count(status: str) -> int:
    """The row count of a command tag such as ``UPDATE 1``."""
    return int(status.rsplit(" ", 1)[-1])


# ---------------------------------------------------------------------------------- register


class RegisterWorkload(Workload):
    """Read / write / cas on a few integer registers; values are unique across the run."""

    name = "register"

    def __init__(self, keys: int = 5) -> None:
        self.keys = keys
        self._values = itertools.count(1)
        self._seen: dict[int, deque[int]] = {k: deque([0], maxlen=4) for k in range(keys)}

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute("CREATE TABLE registers (k int PRIMARY KEY, v int)")
        for k in range(self.keys):
            await conn.execute("INSERT INTO registers (k, v) VALUES ($1, 0)", k)

    def generate(self, rng: random.Random, reader: bool = False) -> tuple[str, Any, Any]:
        key = rng.randrange(self.keys)
        roll = rng.random()
        if reader or roll < 0.5:
            return "read", key, None
        if roll < 0.75:
            return "write", key, next(self._values)
        # a recently seen value as the expected one, so that many CAS can succeed
        return "cas", key, [rng.choice(self._seen[key]), next(self._values)]

    def body(self, f: str, key: Any, value: Any) -> Body:
        seen = self._seen[key]

        async def read(conn: asyncpg.Connection) -> Any:
            v = await conn.fetchval("SELECT v FROM registers WHERE k = $1", key)
            if v is not None:
                seen.append(v)
            return v

        async def write(conn: asyncpg.Connection) -> Any:
            status = await conn.execute("UPDATE registers SET v = $1 WHERE k = $2", value, key)
            if _status_count(status) != 1:
                raise RuntimeError(f"write matched {status!r}")  # the row is always there
            seen.append(value)
            return value

        async def cas(conn: asyncpg.Connection) -> Any:
            old, new = value
            status = await conn.execute(
                "UPDATE registers SET v = $1 WHERE k = $2 AND v = $3", new, key, old
            )
            if _status_count(status) == 0:
                raise DefiniteFailure("cas: value differs")
            seen.append(new)
            return value

        return {"read": read, "write": write, "cas": cas}[f]

    def check(self, history: History, time_limit: float) -> CheckResult:
        res = check_register(history, initial=0, time_limit=time_limit)
        stats = {
            "keys": res.keys,
            "configurations": res.configurations,
            "check_seconds": round(res.elapsed, 2),
        }
        if res.valid:
            return CheckResult(True, stats=stats)
        if res.valid is None:
            return CheckResult(None, res.explanation, stats)
        op = res.op.describe() if res.op is not None else "?"
        return CheckResult(False, res.explanation or f"key {res.key!r}: {op}", stats)


# --------------------------------------------------------------------------------------- set


class SetWorkload(Workload):
    """Unique inserts; the final state of every node is read after healing."""

    name = "set"

    def __init__(self) -> None:
        self._elements = itertools.count(1)

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute("CREATE TABLE elements (e int PRIMARY KEY)")

    def generate(self, rng: random.Random, reader: bool = False) -> tuple[str, Any, Any]:
        return "add", None, next(self._elements)  # the set workload reads only at the end

    def body(self, f: str, key: Any, value: Any) -> Body:
        async def add(conn: asyncpg.Connection) -> Any:
            await conn.execute("INSERT INTO elements (e) VALUES ($1)", value)
            return value

        return add

    async def final(self, history: History, dsns: dict[int, str]) -> None:
        await _final_reads(
            history, dsns, "SELECT e FROM elements ORDER BY e", lambda rows: [r[0] for r in rows]
        )

    def check(self, history: History, time_limit: float) -> CheckResult:
        from raftsql.testing.jepsen.checks import check_set

        return check_set(history.operations())


# -------------------------------------------------------------------------------------- bank


class BankWorkload(Workload):
    """Transfers between accounts in interactive transactions; reads of all balances."""

    name = "bank"

    def __init__(self, accounts: int = 10, balance: int = 100) -> None:
        self.accounts = accounts
        self.total = accounts * balance
        self.balance = balance

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        for i in range(self.accounts):
            await conn.execute(
                "INSERT INTO accounts (id, balance) VALUES ($1, $2)", i, self.balance
            )

    def generate(self, rng: random.Random, reader: bool = False) -> tuple[str, Any, Any]:
        if reader or rng.random() < 0.5:
            return "read", None, None
        src, dst = rng.sample(range(self.accounts), 2)
        return "transfer", None, [src, dst, rng.randint(1, 5)]

    def body(self, f: str, key: Any, value: Any) -> Body:
        if f == "read":

            async def read(conn: asyncpg.Connection) -> Any:
                rows = await conn.fetch("SELECT id, balance FROM accounts ORDER BY id")
                return [[r[0], r[1]] for r in rows]

            return read

        src, dst, amount = value

        async def transfer(conn: asyncpg.Connection) -> Any:
            # Nothing before COMMIT is sent can commit, so any error up to there is a fail.
            try:
                await conn.execute("BEGIN")
                debit = await conn.execute(
                    "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1",
                    amount,
                    src,
                )
                if _status_count(debit) == 0:
                    await conn.execute("ROLLBACK")
                    raise DefiniteFailure("insufficient funds")
                await conn.execute(
                    "UPDATE accounts SET balance = balance + $1 WHERE id = $2", amount, dst
                )
            except DefiniteFailure:
                raise
            except Exception as exc:  # noqa: BLE001
                raise DefiniteFailure(
                    f"before COMMIT: {type(exc).__name__} {exc}"[:100], keep_connection=False
                ) from exc
            status = await conn.execute("COMMIT")
            if status != "COMMIT":
                raise DefiniteFailure(f"COMMIT answered {status!r}", keep_connection=False)
            return value

        return transfer

    async def final(self, history: History, dsns: dict[int, str]) -> None:
        await _final_reads(
            history,
            dsns,
            "SELECT id, balance FROM accounts ORDER BY id",
            lambda rows: [[r[0], r[1]] for r in rows],
        )

    def check(self, history: History, time_limit: float) -> CheckResult:
        from raftsql.testing.jepsen.checks import check_bank

        return check_bank(history.operations(), self.total, self.accounts)


# ------------------------------------------------------------------------------ final reads


async def _final_reads(
    history: History, dsns: dict[int, str], sql: str, convert: Callable[[list[asyncpg.Record]], Any]
) -> None:
    """On every node: its own applied state (``stale``, after convergence), and one
    linearizable read. Each is a ``read`` op of process ``final-n<id>-<level>``."""
    for node_id, dsn in sorted(dsns.items()):
        for level in ("stale", "linearizable"):
            op = history.invoke(f"final-n{node_id}-{level}", "read", None, None)
            try:
                conn = await asyncpg.connect(dsn, timeout=5, statement_cache_size=0)
                try:
                    await conn.execute(f"SET raftsql.read_consistency = '{level}'")
                    rows = await conn.fetch(sql, timeout=10)
                finally:
                    conn.terminate()
            except Exception as exc:  # noqa: BLE001 - recorded, judged by the checker
                history.info(op, f"{type(exc).__name__} {exc}"[:100])
                continue
            history.ok(op, convert(rows))


def final_reads(ops: list[Operation]) -> list[Operation]:
    return [o for o in ops if isinstance(o.process, str) and o.process.startswith("final-")]


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "register": RegisterWorkload,
    "set": SetWorkload,
    "bank": BankWorkload,
}
"""Workload name -> factory. ``OpType`` is re-exported for the runner's counters."""

__all__ = ["WORKLOADS", "CheckResult", "OpType", "Workload", "final_reads"]
