"""Operation histories for Jepsen-style tests: record, pair, dump and load.

A history is the list of events concurrent clients produced, in the real-time order in which
they were recorded. Each client operation contributes an ``invoke`` event and, later, one
completion event. The completion types carry Jepsen's (and Knossos's) meaning, which every
checker in this package relies on:

- ``ok``: the operation happened, somewhere between its invocation and this completion;
- ``fail``: the operation definitely did not happen;
- ``info``: unknown. It may have happened at any point after its invocation, even after the
  ``info`` event was recorded (a timed-out write can still commit later), or never. Its
  completion time is therefore "infinity". An invocation with no completion at all is treated
  the same way.

Like Jepsen, a *process* is a single-threaded logical client: it has at most one operation
outstanding, so completions pair with invocations by process. A process whose operation ended in
``info`` is retired, because its outcome may still be in flight; the workload continues with a
fresh process id (Jepsen uses ``p + concurrency``). Recording enforces both rules.

The real-time order used by the checkers is the event ``index`` (its position in the history),
not ``time``: events are appended under one lock, so the index order is a linear extension of
real time even when two clocks read the same nanosecond.

(This module is the generic recorder for workload checkers; ``history.py`` is the simulator's
online checker of client operations against the committed log.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any

Process = int | str


class OpType(StrEnum):
    """The four event types of a Jepsen history."""

    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Op:
    """One event of a history: an invocation or a completion.

    ``value`` is the argument on ``invoke`` (for ``cas`` the pair ``[old, new]``) and the result
    on ``ok`` (the value read for ``read``). ``time`` is a monotonic clock in nanoseconds and is
    informational; ``index`` is the position in the history and defines real-time order.
    """

    process: Process
    type: OpType
    f: str
    key: Hashable | None
    value: Any
    time: int
    index: int
    error: str | None = None

    def to_json(self) -> str:
        """One JSON object on one line (the JSON-lines record)."""
        record = asdict(self)
        record["type"] = str(self.type)
        if record["error"] is None:
            del record["error"]
        return json.dumps(record, separators=(",", ":"), default=_json_default)

    @classmethod
    def from_json(cls, line: str) -> Op:
        d = json.loads(line)
        return cls(
            process=d["process"],
            type=OpType(d["type"]),
            f=d["f"],
            key=freeze(d.get("key")),
            value=d.get("value"),
            time=int(d.get("time", 0)),
            index=int(d["index"]),
            error=d.get("error"),
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """An invocation paired with its completion: what the checkers reason about.

    ``status`` is ``ok``, ``fail`` or ``info`` (a missing completion becomes ``info``).
    ``call`` and ``complete`` are history indexes; ``complete`` is ``None`` when the invocation
    never completed. ``output`` is the completion's value (meaningful for ``ok`` only).
    """

    process: Process
    f: str
    key: Hashable | None
    value: Any
    output: Any
    status: OpType
    call: int
    complete: int | None
    error: str | None = None

    @property
    def returns_at(self) -> float:
        """The real-time bound by which the operation took effect: infinity unless ``ok``."""
        if self.status is OpType.OK and self.complete is not None:
            return self.complete
        return float("inf")

    def describe(self) -> str:
        """One stable line: ``p3 read 'x' -> 5 ok [17..20]`` (STYLE rule 14)."""
        if self.f == "read":
            body = f"read {self.key!r} -> {self.output!r}"
        elif self.f == "cas" and _is_pair(self.value):
            body = f"cas {self.key!r} {self.value[0]!r}->{self.value[1]!r}"
        else:
            body = f"{self.f} {self.key!r} {self.value!r}"
            if self.status is OpType.OK and self.output != self.value:
                body += f" -> {self.output!r}"
        end = "?" if self.complete is None else str(self.complete)
        err = f" ({self.error})" if self.error else ""
        return f"p{self.process} {body} {self.status}{err} [{self.call}..{end}]"


class HistoryError(ValueError):
    """The history breaks a recording rule (two outstanding operations, a bad pairing...)."""


_SAME: Any = object()


class History:
    """A thread-safe recorder of one history.

    Every method appends under a ``threading.Lock`` held for a few microseconds and never
    blocks otherwise, so it is safe from threads and from asyncio coroutines alike (no
    ``await`` is needed or possible inside). ``clock`` defaults to ``time.monotonic_ns``; a
    simulator passes its own clock so histories replay exactly.
    """

    def __init__(self, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._ops: list[Op] = []
        self._open: dict[Process, int] = {}  # process -> index of its outstanding invoke
        self._retired: set[Process] = set()

    def invoke(
        self, process: Process, f: str, key: Hashable | None = None, value: Any = None
    ) -> int:
        """Record an invocation and return its op id (its history index)."""
        with self._lock:
            if process in self._open:
                raise HistoryError(f"process {process!r} already has an operation outstanding")
            if process in self._retired:
                raise HistoryError(f"process {process!r} crashed (info); use a fresh process id")
            index = len(self._ops)
            self._ops.append(Op(process, OpType.INVOKE, f, key, value, self._clock(), index))
            self._open[process] = index
            return index

    def ok(self, op_id: int, value: Any = _SAME) -> None:
        """The operation happened; ``value`` is its result (defaults to the invoked value)."""
        self._complete(op_id, OpType.OK, value, None)

    def fail(self, op_id: int, error: str | None = None) -> None:
        """The operation definitely did not take effect."""
        self._complete(op_id, OpType.FAIL, _SAME, error)

    def info(self, op_id: int, error: str | None = None) -> None:
        """The outcome is unknown; the process is retired."""
        self._complete(op_id, OpType.INFO, _SAME, error)

    def _complete(self, op_id: int, kind: OpType, value: Any, error: str | None) -> None:
        with self._lock:
            if not 0 <= op_id < len(self._ops) or self._ops[op_id].type is not OpType.INVOKE:
                raise HistoryError(f"op id {op_id} is not an invocation")
            call = self._ops[op_id]
            if self._open.get(call.process) != op_id:
                raise HistoryError(f"op id {op_id} is already complete")
            del self._open[call.process]
            if kind is OpType.INFO:
                self._retired.add(call.process)
            out = call.value if value is _SAME else value
            index = len(self._ops)
            self._ops.append(
                Op(call.process, kind, call.f, call.key, out, self._clock(), index, error)
            )

    def operation(
        self, process: Process, f: str, key: Hashable | None = None, value: Any = None
    ) -> OperationScope:
        """Context manager around one call: an exception that escapes it records ``info``.

        ``with history.operation(p, "write", "x", 3) as op: await c.write(); op.ok()``.
        """
        return OperationScope(self, self.invoke(process, f, key, value))

    @property
    def ops(self) -> tuple[Op, ...]:
        with self._lock:
            return tuple(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def operations(self) -> list[Operation]:
        return pair(self.ops)

    def dump(self, target: str | Path | IO[str]) -> None:
        dump_jsonl(self.ops, target)


class OperationScope:
    """Returned by ``History.operation``; completes the operation exactly once."""

    def __init__(self, history: History, op_id: int) -> None:
        self.history = history
        self.op_id = op_id
        self.done = False

    def ok(self, value: Any = _SAME) -> None:
        self.history.ok(self.op_id, value)
        self.done = True

    def fail(self, error: str | None = None) -> None:
        self.history.fail(self.op_id, error)
        self.done = True

    def info(self, error: str | None = None) -> None:
        self.history.info(self.op_id, error)
        self.done = True

    def __enter__(self) -> OperationScope:
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.done:
            return
        # An exception we know nothing about may have hit after the effect: outcome unknown.
        self.info(repr(exc) if exc is not None else "not completed")
        if exc is None:
            raise HistoryError(f"op {self.op_id} left its scope without ok/fail/info")


def pair(ops: Iterable[Op]) -> list[Operation]:
    """Pair invocations with completions (by process), in invocation order.

    Raises ``HistoryError`` on a completion without an open invocation, a completion whose
    ``f``/``key`` differ from its invocation, or a second invocation by a busy process.
    """
    open_: dict[Process, Op] = {}
    done: dict[int, Operation] = {}
    order: list[int] = []
    for op in sorted(ops, key=lambda o: o.index):
        if op.type is OpType.INVOKE:
            if op.process in open_:
                raise HistoryError(f"process {op.process!r} invoked twice at index {op.index}")
            open_[op.process] = op
            order.append(op.index)
            continue
        call = open_.pop(op.process, None)
        if call is None:
            raise HistoryError(f"completion without invocation at index {op.index}")
        if call.f != op.f or call.key != op.key:
            raise HistoryError(f"completion at index {op.index} does not match its invocation")
        done[call.index] = Operation(
            call.process,
            call.f,
            call.key,
            call.value,
            op.value,
            op.type,
            call.index,
            op.index,
            op.error,
        )
    for call in open_.values():
        done[call.index] = Operation(
            call.process, call.f, call.key, call.value, None, OpType.INFO, call.index, None
        )
    return [done[i] for i in order]


def as_operations(history: History | Iterable[Op] | Iterable[Operation]) -> list[Operation]:
    """What every checker accepts: a ``History``, its events, or already paired operations."""
    if isinstance(history, History):
        return history.operations()
    items = list(history)
    if items and isinstance(items[0], Op):
        return pair(items)  # type: ignore[arg-type]
    return items  # type: ignore[return-value]


def dump_jsonl(ops: Iterable[Op], target: str | Path | IO[str]) -> None:
    """Write one JSON object per line. Tuples become lists (JSON has no tuples)."""
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8") as fh:
            dump_jsonl(ops, fh)
        return
    for op in ops:
        target.write(op.to_json())
        target.write("\n")


def load_jsonl(source: str | Path | IO[str]) -> list[Op]:
    """Read a JSON-lines history written by ``dump_jsonl`` (blank lines are skipped)."""
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8") as fh:
            return load_jsonl(fh)
    return [Op.from_json(line) for line in source if line.strip()]


def freeze(value: Any) -> Any:
    """Make a JSON value hashable: lists become tuples, dicts become sorted item tuples."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    return value


def _is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON-serializable: {value!r}")
