"""Apply, revert and list migrations on a raftsql cluster over the Postgres wire.

Each migration is ONE transaction: BEGIN; is the version recorded already?; the migration's
statements; INSERT INTO raftsql_migrations; COMMIT. raftsql proposes a transaction at COMMIT as
one log entry that every node applies all or nothing (docs/transactions.md), so a migration is
never half applied on any node. Two runners started at once both read raftsql_migrations
inside their transactions; the state machine validates transactions optimistically in log
order, so the second COMMIT fails with 40001 (the table it read was written after its
snapshot), and its retry sees the row and skips: each migration is applied exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from raftsql.migrate.files import Migration, load

DEFAULT_DSN = "postgresql://raftsql@127.0.0.1:6001/raftsql"
DEFAULT_DIR = "migrations"
TABLE = "raftsql_migrations"
CREATE_TABLE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (version bigint PRIMARY KEY, "
                "name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL)")
RETRYABLE = frozenset({"40001", "40003", "57P03", "57P01"})
RETRY_SECONDS = 60.0
"""How long one migration keeps retrying safe failures (a leader election, a conflict)."""
CONNECT_ATTEMPTS = 20

Out = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


class MigrationError(RuntimeError):
    """A migration run that must stop: a changed applied file, a failing migration, a
    missing down section."""


class ChecksumMismatch(MigrationError):
    pass


class MigrationFailed(MigrationError):
    def __init__(self, migration: Migration, sqlstate: str | None, message: str) -> None:
        super().__init__(f"{migration.label} failed and was rolled back on every node "
                         f"({sqlstate or 'error'}: {message}); nothing of it was applied")
        self.migration = migration
        self.sqlstate = sqlstate


class Target(Protocol):
    """Where migrations run: a session on the cluster (asyncpg over the Postgres wire)."""

    async def execute(self, sql: str, *args: Any) -> None:
        """Run SQL; without args it may hold several statements (simple query)."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]: ...

    async def close(self) -> None: ...


class AsyncpgTarget:
    """A Target over one asyncpg connection to any node (writes are forwarded to the leader)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, dsn: str, out: Out = _print) -> AsyncpgTarget:
        import asyncpg  # type: ignore[import-untyped]

        for attempt in range(CONNECT_ATTEMPTS):
            try:
                return cls(await asyncpg.connect(dsn, timeout=10))
            except (OSError, asyncpg.PostgresError) as exc:
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise MigrationError(f"cannot connect to {dsn}: {exc}") from exc
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.conn.fetch(sql, *args)]

    async def close(self) -> None:
        await self.conn.close()


def sqlstate_of(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


@dataclass(frozen=True)
class StatusRow:
    version: int
    name: str
    state: str  # applied | pending | changed | missing-file
    applied_at: Any = None


async def _applied(target: Target) -> dict[int, tuple[str, str, Any]]:
    """version -> (name, checksum, applied_at); empty when the table does not exist yet."""
    try:
        rows = await target.fetch(f"SELECT version, name, checksum, applied_at FROM {TABLE} "
                                  "ORDER BY version")
    except Exception as exc:
        if sqlstate_of(exc) == "42P01":
            return {}
        raise
    return {int(v): (str(n), str(c), a) for v, n, c, a in rows}


def _verify(migrations: Sequence[Migration], applied: dict[int, tuple[str, str, Any]]) -> None:
    for mig in migrations:
        recorded = applied.get(mig.version)
        if recorded is not None and recorded[1] != mig.checksum:
            raise ChecksumMismatch(
                f"{mig.path.name} was changed after it was applied (checksum "
                f"{mig.checksum[:12]} != recorded {recorded[1][:12]}); an applied migration "
                "must not be edited: restore the file, or undo the change in a new migration")


async def _in_transaction(target: Target, mig: Migration, body: Callable[[], Any],
                          present: bool, out: Out) -> bool:
    """Run ``body`` in one transaction if the version's row is (not) ``present``; True if it
    ran and committed, False if another runner got there first. Retries what is safe."""
    deadline = asyncio.get_running_loop().time() + RETRY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            await target.execute("BEGIN")
            try:
                rows = await target.fetch(f"SELECT checksum FROM {TABLE} WHERE version = $1",
                                          mig.version)
                if bool(rows) != present:
                    await target.execute("ROLLBACK")
                    if rows and rows[0][0] != mig.checksum:
                        _verify([mig], {mig.version: (mig.name, str(rows[0][0]), None)})
                    return False
                await body()
                await target.execute("COMMIT")
                return True
            except BaseException:
                with contextlib.suppress(Exception):
                    await target.execute("ROLLBACK")
                raise
        except MigrationError:
            raise
        except Exception as exc:
            state = sqlstate_of(exc)
            if state in RETRYABLE and asyncio.get_running_loop().time() < deadline:
                out(f"  {mig.label}: {state} ({exc}); retrying")
                await asyncio.sleep(min(0.05 * 2 ** min(attempt, 5), 1.0))
                continue
            raise MigrationFailed(mig, state, str(exc)) from exc


async def up_async(dsn: str = DEFAULT_DSN, directory: str | Path = DEFAULT_DIR, *,
                   to: int | None = None, dry_run: bool = False, out: Out = _print,
                   target: Target | None = None) -> list[int]:
    """Apply pending migrations (up to version ``to``); returns the versions applied."""
    migrations = load(directory)
    own = target is None
    tgt = target or await AsyncpgTarget.connect(dsn, out)
    done: list[int] = []
    try:
        if not dry_run:
            await tgt.execute(CREATE_TABLE)
        applied = await _applied(tgt)
        _verify(migrations, applied)
        pending = [m for m in migrations if m.version not in applied
                   and (to is None or m.version <= to)]
        if not pending:
            out("up: nothing to apply")
        for mig in pending:
            if dry_run:
                out(f"would apply {mig.label}:")
                out("    " + mig.up.replace("\n", "\n    "))
                continue
            out(f"applying {mig.label} ...")

            async def body(mig: Migration = mig) -> None:
                await tgt.execute(mig.up)
                await tgt.execute(f"INSERT INTO {TABLE} (version, name, checksum, applied_at) "
                                  "VALUES ($1, $2, $3, now())", mig.version, mig.name,
                                  mig.checksum)

            if await _in_transaction(tgt, mig, body, present=False, out=out):
                out(f"applied {mig.label}")
                done.append(mig.version)
            else:
                out(f"skipped {mig.label}: already applied (by another runner)")
    finally:
        if own:
            await tgt.close()
    return done


async def down_async(dsn: str = DEFAULT_DSN, directory: str | Path = DEFAULT_DIR, *,
                     to: int | None = None, dry_run: bool = False, out: Out = _print,
                     target: Target | None = None) -> list[int]:
    """Revert applied migrations newer than ``to`` (default: only the latest), newest first;
    returns the versions reverted."""
    migrations = {m.version: m for m in load(directory)}
    own = target is None
    tgt = target or await AsyncpgTarget.connect(dsn, out)
    done: list[int] = []
    try:
        applied = await _applied(tgt)
        _verify(list(migrations.values()), applied)
        versions = sorted(applied, reverse=True)
        chosen = versions[:1] if to is None else [v for v in versions if v > to]
        if not chosen:
            out("down: nothing to revert")
        for version in chosen:
            mig = migrations.get(version)
            if mig is None:
                raise MigrationError(f"version {version} is applied but its file is missing")
            if mig.down is None:
                raise MigrationError(f"{mig.path.name} has no '-- migrate:down' section")
            if dry_run:
                out(f"would revert {mig.label}:")
                out("    " + mig.down.replace("\n", "\n    "))
                continue
            out(f"reverting {mig.label} ...")

            async def body(mig: Migration = mig) -> None:
                assert mig.down is not None
                await tgt.execute(mig.down)
                await tgt.execute(f"DELETE FROM {TABLE} WHERE version = $1", mig.version)

            if await _in_transaction(tgt, mig, body, present=True, out=out):
                out(f"reverted {mig.label}")
                done.append(version)
            else:
                out(f"skipped {mig.label}: not applied (reverted by another runner)")
    finally:
        if own:
            await tgt.close()
    return done


async def status_async(dsn: str = DEFAULT_DSN, directory: str | Path = DEFAULT_DIR, *,
                       target: Target | None = None) -> list[StatusRow]:
    """Every migration with its state: applied, pending, changed (checksum differs) or
    missing-file (recorded as applied, no file)."""
    migrations = {m.version: m for m in load(directory)}
    own = target is None
    tgt = target or await AsyncpgTarget.connect(dsn)
    try:
        applied = await _applied(tgt)
    finally:
        if own:
            await tgt.close()
    rows = []
    for version in sorted(set(migrations) | set(applied)):
        mig, rec = migrations.get(version), applied.get(version)
        if rec is None:
            assert mig is not None
            rows.append(StatusRow(version, mig.name, "pending"))
        elif mig is None:
            rows.append(StatusRow(version, rec[0], "missing-file", rec[2]))
        else:
            state = "applied" if rec[1] == mig.checksum else "changed"
            rows.append(StatusRow(version, mig.name, state, rec[2]))
    return rows


def format_status(rows: Sequence[StatusRow]) -> str:
    lines = [("version", "name", "state", "applied_at")]
    for r in rows:
        lines.append((f"{r.version:04d}", r.name, r.state,
                      "" if r.applied_at is None else str(r.applied_at)))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def up(dsn: str = DEFAULT_DSN, directory: str | Path = DEFAULT_DIR, **kw: Any) -> list[int]:
    """Synchronous ``up_async`` (not from inside a running event loop)."""
    return asyncio.run(up_async(dsn, directory, **kw))


def down(dsn: str = DEFAULT_DSN, directory: str | Path = DEFAULT_DIR, **kw: Any) -> list[int]:
    return asyncio.run(down_async(dsn, directory, **kw))


def status(dsn: str = DEFAULT_DSN, directory: str | Path = DEFAULT_DIR,
           **kw: Any) -> list[StatusRow]:
    return asyncio.run(status_async(dsn, directory, **kw))
