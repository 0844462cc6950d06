"""The replicated command and result formats: versioned msgpack, never pickle.

A `Command` is what the leader proposes and what every node's state machine applies: one or
more already-translated SQLite statements with '?' parameters, plus, for an interactive
transaction, the index its snapshot was taken at and the tables it read and wrote (the
optimistic conflict check, docs/transactions.md). A `StmtResult` is what applying one statement
produced. Results are stored for deduplicated retries (thesis section 6.3), so they are
serialisable too.

Wire layout (STYLE.md rule 10): one version byte, then a msgpack array with explicit positions.
Parameters are None, bool, int (64-bit), float, str or bytes. Values SQLite has no type for
travel as text in the form PostgreSQL prints them: Decimal as its exact string ('12.50'),
dates, times and timestamps as ISO 8601 text, UUID as the canonical 36-character string,
JSON as its text. The frontend converts before building a `Stmt`; `encode` refuses anything else
so a float-rounded Decimal can never slip into the log.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgpack

COMMAND_VERSION = 2
"""Version 2 added `proposed_at`; version 1 commands (without it) still decode, with 0."""
RESULT_VERSION = 1

Param = None | bool | int | float | str | bytes
Value = None | int | float | str | bytes
_PARAM_TYPES = (type(None), bool, int, float, str, bytes)
_PARAM_TYPE_SET = frozenset(_PARAM_TYPES)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class CommandDecodeError(ValueError):
    """Bytes that are not a command or result this version understands (garbage, a newer
    version, a wrong shape). Deterministic: every node decoding the same bytes raises it."""


class NewerCommandError(CommandDecodeError):
    """A command in a format a later release writes: a version byte above ours before a
    msgpack array. Applying it as a failed entry, as garbage is, would leave this node's state
    apart from its upgraded peers', so the state machine stops instead (docs/operations.md,
    "Upgrades")."""


class CommandEncodeError(ValueError):
    """A value that has no place in the replicated format (e.g. a Decimal or a 2**70 int)."""


@dataclass(slots=True)
class Stmt:
    """One SQLite statement with its positional '?' parameters.

    `expect` is set on the statements of an interactive transaction: the digest
    (`result_digest`) of the result the client saw when the statement ran. At apply the
    transaction commits only if every statement, run again at the commit point, gives exactly
    that result (docs/transactions.md); empty means "no check".

    Not frozen, but never changed once made, as `Command` and `StmtResult`: a frozen
    dataclass's __init__ costs four times as much (object.__setattr__ per field), and one of
    each is made per write on every node (issue 8)."""

    sql: str
    params: tuple[Param, ...] = ()
    expect: bytes = b""


@dataclass(slots=True)
class Command:
    """What one Raft log entry carries for the SQL state machine.

    base_index, read_tables and write_tables are set only by interactive transactions: at
    apply, the command fails with 40001 if any of those tables was written by an entry after
    base_index. An autocommit command leaves them empty and is never checked.

    proposed_at is the proposing node's applied index when the request was made, which is
    below the index of any log entry carrying it: a copy that reaches the log more than the
    state machine's session window later is refused, and that is what lets the state machine
    forget a client's session after the window (docs/transactions.md, "Session expiry"). 0
    means no limit: the request's session is then kept for good (a named client).
    """

    stmts: tuple[Stmt, ...]
    base_index: int = 0
    read_tables: frozenset[str] = field(default_factory=frozenset)
    write_tables: frozenset[str] = field(default_factory=frozenset)
    proposed_at: int = 0

    @property
    def is_transaction(self) -> bool:
        return bool(self.read_tables or self.write_tables)


@dataclass(slots=True)
class StmtResult:
    """The outcome of one statement, identical on every node that applied the entry.

    columns are (name, declared type or None) pairs, as SQLite reports them; error is
    (sqlstate, message) when the statement failed (and then the entry changed nothing).
    """

    columns: tuple[tuple[str, str | None], ...] = ()
    rows: tuple[tuple[Value, ...], ...] = ()
    rowcount: int = 0
    lastrowid: int | None = None
    error: tuple[str, str] | None = None

    @classmethod
    def failed(cls, sqlstate: str, message: str) -> StmtResult:
        return cls(error=(sqlstate, message))


def result_digest(result: StmtResult) -> bytes:
    """What a client observed of a statement: its rows and its row count. Insert ids are not
    part of it: PostgreSQL clients never see them, and they are provisional in a transaction.

    A result without rows (an UPDATE, INSERT or DELETE: four of pgbench's five statements per
    transaction) has one digest per row count, computed once; it is taken twice per statement,
    when it runs and when it is applied, on every node."""
    if not result.rows:
        return _no_rows_digest(result.rowcount)
    return _digest(result.rowcount, [list(row) for row in result.rows])


def _digest(rowcount: int, rows: list[list[Value]]) -> bytes:
    body = msgpack.packb([rowcount, rows], use_bin_type=True)
    return hashlib.blake2b(body, digest_size=16).digest()


@functools.lru_cache(maxsize=1024)
def _no_rows_digest(rowcount: int) -> bytes:
    return _digest(rowcount, [])


def _check_param(value: Any) -> Param:
    if not isinstance(value, _PARAM_TYPES):
        raise CommandEncodeError(
            f"parameter of type {type(value).__name__} cannot be replicated; "
            "send Decimal, dates, UUID and JSON as text"
        )
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _INT_MAX:
        raise CommandEncodeError(f"integer {value} does not fit in 64 bits")
    return value


def _pack(version: int, body: Any) -> bytes:
    try:
        packed: bytes = msgpack.packb(body, use_bin_type=True)
    except (TypeError, OverflowError, ValueError) as exc:
        raise CommandEncodeError(str(exc)) from exc
    return bytes([version]) + packed


def _unpack(data: bytes, versions: tuple[int, ...], what: str) -> Any:
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) < 2:
        raise CommandDecodeError(f"{what}: too short")
    if data[0] not in versions:
        raise CommandDecodeError(f"{what}: unknown version {data[0]}")
    try:
        return msgpack.unpackb(bytes(data[1:]), raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise CommandDecodeError(f"{what}: {exc.__class__.__name__}: {exc}") from exc


_COMMAND_VERSIONS = (1, COMMAND_VERSION)


def encode(cmd: Command) -> bytes:
    """Command -> bytes. Raises CommandEncodeError on values the format cannot carry."""
    stmts = []
    for stmt in cmd.stmts:
        if not isinstance(stmt.sql, str):
            raise CommandEncodeError("sql must be a str")
        raw = [stmt.sql, [_check_param(p) for p in stmt.params]]
        if stmt.expect:
            raw.append(stmt.expect)
        stmts.append(raw)
    body = [stmts, cmd.base_index, sorted(cmd.read_tables), sorted(cmd.write_tables),
            cmd.proposed_at]
    return _pack(COMMAND_VERSION, body)


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise CommandDecodeError(what)


def _refuse_newer(data: bytes) -> None:
    """Raise NewerCommandError if `data` looks like a later release's command, else the
    CommandDecodeError of garbage."""
    try:
        body = _unpack(data, (data[0],), "command")
    except CommandDecodeError:  # not msgpack at all
        raise CommandDecodeError(f"command: unknown version {data[0]}") from None
    if type(body) is list:
        raise NewerCommandError(f"command: format {data[0]} is newer than this release's "
                                f"({COMMAND_VERSION}); upgrade this node")
    raise CommandDecodeError(f"command: unknown version {data[0]}")


def decode(data: bytes) -> Command:
    """bytes -> Command, raising CommandDecodeError on anything malformed (never another type).

    Every follower decodes every entry, so the checks are written inline (one isinstance per
    value, no helper call per check): they were a fifth of a follower's apply time."""
    if data[:1] and data[0] > COMMAND_VERSION:
        _refuse_newer(data)
    body = _unpack(data, _COMMAND_VERSIONS, "command")
    size = 4 if data[0] == 1 else 5
    if not (type(body) is list and len(body) == size):
        raise CommandDecodeError(f"command: expected a {size}-element array")
    raw_stmts, base_index, reads, writes = body[:4]
    proposed_at = body[4] if size == 5 else 0
    if type(raw_stmts) is not list:
        raise CommandDecodeError("command: stmts is not an array")
    if not (type(base_index) is int and base_index >= 0):
        raise CommandDecodeError("command: bad base_index")
    if not (type(proposed_at) is int and proposed_at >= 0):
        raise CommandDecodeError("command: bad proposed_at")
    for tables in (reads, writes):  # empty but in interactive transactions
        if type(tables) is not list or (tables and not all(type(t) is str for t in tables)):
            raise CommandDecodeError("command: table lists must be arrays of strings")
    stmts = []
    for raw in raw_stmts:
        if type(raw) is not list or not 2 <= len(raw) <= 3:
            raise CommandDecodeError("command: stmt is not [sql, params(, expect)]")
        sql, params = raw[0], raw[1]
        if type(sql) is not str or type(params) is not list:
            raise CommandDecodeError("command: bad stmt")
        for p in params:
            if type(p) not in _PARAM_TYPE_SET:
                raise CommandDecodeError("command: bad parameter")
        expect = raw[2] if len(raw) == 3 else b""
        if type(expect) is not bytes or len(expect) not in (0, 16):
            raise CommandDecodeError("command: bad expect")
        stmts.append(Stmt(sql, tuple(params), expect))
    return Command(tuple(stmts), base_index, frozenset(reads), frozenset(writes), proposed_at)


def encode_results(results: list[StmtResult] | tuple[StmtResult, ...]) -> bytes:
    """Results -> bytes, for the deduplication table. The tuples go to msgpack as they are:
    it packs a tuple as the array a list would be.

    Every node stores a result per entry, and most entries are one statement whose result is
    its row count alone (an UPDATE, a DELETE, an upsert that updated): those bytes are encoded
    once per row count (1.54 -> 0.23 µs an entry, issue 8)."""
    if len(results) == 1:
        only = results[0]
        if (only.lastrowid is None and only.error is None and not only.rows
                and not only.columns):
            return _count_only_result(only.rowcount)
    return _pack(RESULT_VERSION, [[r.columns, r.rows, r.rowcount, r.lastrowid, r.error]
                                  for r in results])


@functools.lru_cache(maxsize=1024)
def _count_only_result(rowcount: int) -> bytes:
    return _pack(RESULT_VERSION, [[(), (), rowcount, None, None]])


def decode_results(data: bytes) -> list[StmtResult]:
    """bytes -> results; CommandDecodeError on anything malformed."""
    body = _unpack(data, (RESULT_VERSION,), "results")
    _expect(isinstance(body, list), "results: expected an array")
    out = []
    try:
        for columns, rows, rowcount, lastrowid, error in body:
            out.append(
                StmtResult(
                    columns=tuple((str(n), t) for n, t in columns),
                    rows=tuple(tuple(row) for row in rows),
                    rowcount=int(rowcount),
                    lastrowid=lastrowid,
                    error=(str(error[0]), str(error[1])) if error is not None else None,
                )
            )
    except (TypeError, ValueError, IndexError) as exc:
        raise CommandDecodeError(f"results: bad shape: {exc}") from exc
    return out
