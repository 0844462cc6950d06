"""Linearizability checker for a key-value register (read, write, compare-and-set).

Algorithm: Wing & Gong's backtracking search over the history (Wing and Gong, "Testing and
verifying concurrent objects", 1993) with Lowe's memoization of (linearized set, state)
configurations (Lowe, "Testing for linearizability", 2017), the scheme Porcupine and Knossos
use. The history is checked one key at a time: linearizability is local (Herlihy and Wing 1990,
section 3.3), so a multi-key register history is linearizable iff each per-key sub-history is.
Porcupine calls this P-compositionality.

How the Jepsen completion types enter the search:

- ``fail`` operations definitely did not happen and are dropped.
- ``info`` (and never-completed) operations have no return event: they may be linearized at any
  point after their invocation, and an unlinearized one is the same as one that never happened,
  so the search succeeds once every ``ok`` operation is linearized. An ``info`` read constrains
  nothing and is dropped. An ``info`` write or cas whose written value nobody observes (no ``ok``
  read returns it and no cas expects it) cannot help any linearization and is dropped too; that
  keeps the 2^k blow-up of k pending writes away in histories full of timeouts.
- ``ok`` operations must be linearized between invocation and completion.

Real-time order is the history index order (see ``ophistory.py``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from raftsql.testing.ophistory import History, Op, Operation, OpType, freeze, pair

READ, WRITE, CAS = 0, 1, 2
_KINDS = {"read": READ, "write": WRITE, "cas": CAS}

Verdict = Literal["valid", "invalid", "unknown"]


@dataclass(frozen=True)
class LinearizabilityResult:
    """The checker's answer.

    ``valid`` is ``True``, ``False``, or ``None`` when the time budget ran out first (Jepsen's
    ``:unknown``); ``None`` is falsy on purpose so ``if result.valid`` never passes an unknown.
    When invalid: ``key`` is the offending key, ``op`` the operation that could not be
    linearized, ``prefix`` the longest linearizable prefix found (in linearization order),
    ``state`` the register after it, and ``explanation`` a sentence for humans.
    """

    valid: bool | None
    key: Hashable | None = None
    op: Operation | None = None
    prefix: tuple[Operation, ...] = ()
    state: Any = None
    explanation: str = ""
    keys: int = 0
    operations: int = 0
    configurations: int = 0
    elapsed: float = 0.0
    unknown_keys: tuple[Hashable, ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        return "unknown" if self.valid is None else ("valid" if self.valid else "invalid")


def check_register(
    history: History | Iterable[Op] | Iterable[Operation],
    *,
    initial: Any = None,
    time_limit: float | None = 60.0,
) -> LinearizabilityResult:
    """Check a register history (``f`` in read/write/cas) for linearizability, key by key.

    ``initial`` is every key's value before the history (``None``: a read of a missing row).
    Operations with another ``f`` raise ``ValueError``. ``time_limit`` (seconds, shared by all
    keys) turns a search that would run too long into ``valid=None``.
    """
    started = time.monotonic()
    deadline = None if time_limit is None else started + time_limit
    ops = _operations(history)
    by_key: dict[Hashable, list[Operation]] = defaultdict(list)
    for op in ops:
        if op.f not in _KINDS:
            raise ValueError(f"not a register operation: {op.describe()}")
        by_key[op.key].append(op)
    unknown: list[Hashable] = []
    configurations = 0
    for key, key_ops in by_key.items():
        search = _KeySearch(key, key_ops, freeze(initial))
        verdict = search.run(deadline)
        configurations += search.configurations
        if verdict is None:
            unknown.append(key)
            continue
        if not verdict:
            return search.failure(
                keys=len(by_key),
                operations=len(ops),
                configurations=configurations,
                elapsed=time.monotonic() - started,
            )
    return LinearizabilityResult(
        valid=None if unknown else True,
        keys=len(by_key),
        operations=len(ops),
        configurations=configurations,
        elapsed=time.monotonic() - started,
        unknown_keys=tuple(unknown),
        explanation=(f"time limit reached on keys {unknown!r}" if unknown else ""),
    )


def _operations(history: History | Iterable[Op] | Iterable[Operation]) -> list[Operation]:
    if isinstance(history, History):
        return history.operations()
    items = list(history)
    if items and isinstance(items[0], Op):
        return pair(items)  # type: ignore[arg-type]
    return items  # type: ignore[return-value]


def relevant(ops: list[Operation]) -> list[Operation]:
    """Drop what cannot constrain a linearization (see the module docstring), to a fixpoint.

    An ``info`` write or cas of value v is kept only if something could observe v after the
    op was invoked: an ``ok`` read of v or cas expecting v that returns after that invocation,
    or a kept ``info`` cas expecting v (which may itself take effect arbitrarily late).
    """
    kept = [
        op for op in ops
        if op.status is not OpType.FAIL and not (op.f == "read" and op.status is not OpType.OK)
    ]
    while True:
        seen_until: dict[Any, float] = {}  # value -> latest real time it may still be observed
        for op in kept:
            if op.f == "read" or op.f == "cas":
                v = freeze(op.output if op.f == "read" else op.value[0])
                seen_until[v] = max(seen_until.get(v, -1.0), op.returns_at)
        before = len(kept)
        kept = [
            op for op in kept
            if op.status is OpType.OK or seen_until.get(_written(op), -1.0) > op.call
        ]
        if len(kept) == before:
            return kept


def _written(op: Operation) -> Any:
    return freeze(op.value[1] if op.f == "cas" else op.value)


class _KeySearch:
    """The WGL search over one key's operations.

    Entries form a doubly linked list in real-time order: call entry ``i`` (0 <= i < n) and
    return entry ``n + i`` for each ``ok`` operation ``i``; ``info`` operations have no return
    entry. ``head`` and ``tail`` are sentinels. Linearizing an operation lifts both of its entries
    out of the list; backtracking puts them back.
    """

    def __init__(self, key: Hashable, ops: list[Operation], initial: Any) -> None:
        self.key = key
        self.initial = initial
        self.all_ops = ops
        self.ops = relevant(ops)
        self.configurations = 0
        self.best: tuple[list[int], int, Any] | None = None  # (prefix ids, blocked op, state)

    def run(self, deadline: float | None) -> bool | None:
        ops = self.ops
        n = len(ops)
        kind = [_KINDS[op.f] for op in ops]
        arg_a: list[Any] = []
        arg_b: list[Any] = []
        for op in ops:
            if op.f == "read":
                arg_a.append(freeze(op.output))
                arg_b.append(None)
            elif op.f == "write":
                arg_a.append(freeze(op.value))
                arg_b.append(None)
            else:
                arg_a.append(freeze(op.value[0]))
                arg_b.append(freeze(op.value[1]))
        is_ok = [1 if op.status is OpType.OK else 0 for op in ops]
        # Symmetry reduction: once invoked, info operations with the same effect are
        # interchangeable, so only the earliest-invoked unused one of each class is tried.
        # That keeps each class's used set a prefix and the memo from counting subsets.
        gate = [0] * n  # bit of the previous info op in the same class (0: none)
        last_in_class: dict[tuple[int, Any, Any], int] = {}
        for i in sorted(range(n), key=lambda j: ops[j].call):
            if not is_ok[i]:
                cls = (kind[i], arg_a[i], arg_b[i])
                if cls in last_in_class:
                    gate[i] = 1 << last_in_class[cls]
                last_in_class[cls] = i
        remaining = sum(is_ok)
        if remaining == 0:
            return True

        head, tail = 2 * n, 2 * n + 1
        events = [(op.call, i) for i, op in enumerate(ops)]
        events += [(op.complete, n + i) for i, op in enumerate(ops) if is_ok[i]]
        events.sort()
        nxt = [tail] * (2 * n + 2)
        prv = [head] * (2 * n + 2)
        last = head
        for _, entry in events:
            nxt[last] = entry
            prv[entry] = last
            last = entry
        nxt[last] = tail
        prv[tail] = last

        bit = [1 << i for i in range(n)]
        # Memo (Lowe): (ok ops linearized, state) -> info-op sets already reached with it. A
        # configuration is skipped if a reached one has the same ok set and state and used a
        # subset of its info ops: that one had every option this one has, and more. With the
        # class gates above, "subset" is the same as "used fewer of every class".
        seen: dict[tuple[int, Any], list[int]] = {}
        stack: list[tuple[int, Any]] = []
        state = self.initial
        lin_ok = lin_info = 0
        entry = nxt[head]
        steps = 0
        while True:
            steps += 1
            if steps & 0xFFF == 0 and deadline is not None and time.monotonic() > deadline:
                return None
            if entry < n:  # a call entry: try to linearize operation `entry` now
                i = entry
                k = kind[i]
                if k == WRITE:
                    new_state = arg_a[i]
                elif state == arg_a[i]:
                    new_state = state if k == READ else arg_b[i]
                else:
                    entry = nxt[entry]
                    continue
                if is_ok[i]:
                    new_ok, new_info = lin_ok | bit[i], lin_info
                elif new_state == state or (gate[i] and not lin_info & gate[i]):
                    # An info op that changes nothing is dominated by leaving it unused.
                    entry = nxt[entry]
                    continue
                else:
                    new_ok, new_info = lin_ok, lin_info | bit[i]
                reached = seen.setdefault((new_ok, new_state), [])
                if any(not u & ~new_info for u in reached):
                    entry = nxt[entry]
                    continue
                reached.append(new_info)
                self.configurations += 1
                stack.append((i, state))
                state, lin_ok, lin_info = new_state, new_ok, new_info
                remaining -= is_ok[i]
                if remaining == 0:
                    return True
                # lift call and return entries out of the list
                nxt[prv[i]] = nxt[i]
                prv[nxt[i]] = prv[i]
                if is_ok[i]:
                    r = n + i
                    nxt[prv[r]] = nxt[r]
                    prv[nxt[r]] = prv[r]
                entry = nxt[head]
            else:
                # A return entry (the tail is unreachable while an ok operation remains):
                # operation entry - n must already be linearized. Backtrack.
                assert entry != tail, "ran off the list with ok operations left"
                if self.best is None or len(stack) > len(self.best[0]):
                    self.best = ([j for j, _ in stack], entry - n, state)
                if not stack:
                    return False
                i, state = stack.pop()
                if is_ok[i]:
                    lin_ok ^= bit[i]
                    remaining += 1
                    r = n + i
                    nxt[prv[r]] = r
                    prv[nxt[r]] = r
                else:
                    lin_info ^= bit[i]
                nxt[prv[i]] = i
                prv[nxt[i]] = i
                entry = nxt[i]

    def failure(self, **stats: Any) -> LinearizabilityResult:
        assert self.best is not None
        prefix_ids, blocked, state = self.best
        prefix = tuple(self.ops[j] for j in prefix_ids)
        op = self.ops[blocked]
        return LinearizabilityResult(
            valid=False,
            key=self.key,
            op=op,
            prefix=prefix,
            state=state,
            explanation=self._explain(op, prefix, state),
            **stats,
        )

    def _explain(self, op: Operation, prefix: tuple[Operation, ...], state: Any) -> str:
        written = {self.initial} | {
            _written(o) for o in self.all_ops if o.f != "read" and o.status is not OpType.FAIL
        }
        lead = (
            f"key {self.key!r}: {op.describe()} cannot be linearized. The longest linearizable "
            f"prefix has {len(prefix)} operation(s) and leaves the register at {state!r}; "
        )
        if op.f == "read" and freeze(op.output) not in written:
            return lead + f"{op.output!r} was never written to this key."
        if op.f == "cas" and freeze(op.value[0]) not in written:
            return lead + f"the cas expects {op.value[0]!r}, which was never written to this key."
        if op.f == "write":
            return (
                lead + "every order that places this write in its window contradicts a later read."
            )
        want = op.output if op.f == "read" else op.value[0]
        return lead + (
            f"no order of the operations concurrent with it gives the register {want!r} "
            "before it returned (a stale read, a lost write or a double cas)."
        )
