"""A deliberately naive linearizability oracle for tiny register histories.

Source of truth: the definition itself (Herlihy and Wing 1990, section 2): a history is
linearizable iff some total order of its completed operations, plus any subset of its pending
ones, respects real-time order (a op that returned before another was invoked comes first) and
is a legal sequential run of the object. Here "completed" means ``ok``; ``info`` and missing
completions are pending (Jepsen semantics), ``fail`` never happened. Every subset and every
permutation is enumerated, so it is only usable for a handful of operations. It treats the
whole multi-key history as one map object, so agreeing with the per-key checker also checks
the locality argument.
"""

from __future__ import annotations

import itertools
from typing import Any

from raftsql.testing.ophistory import Operation, OpType, freeze


def _legal(seq: tuple[Operation, ...], initial: Any) -> bool:
    state: dict[Any, Any] = {}
    for op in seq:
        cur = state.get(op.key, initial)
        if op.f == "read":
            if op.status is OpType.OK and freeze(op.output) != cur:
                return False
        elif op.f == "write":
            state[op.key] = freeze(op.value)
        elif cur == freeze(op.value[0]):
            state[op.key] = freeze(op.value[1])
        elif op.status is OpType.OK:
            return False
        # a pending cas that finds another value happened as a failed cas: no effect
    return True


def _respects_real_time(seq: tuple[Operation, ...]) -> bool:
    return all(
        not later.returns_at < earlier.call
        for a, earlier in enumerate(seq)
        for later in seq[a + 1 :]
    )


def oracle_linearizable(operations: list[Operation], initial: Any = None) -> bool:
    ok = [o for o in operations if o.status is OpType.OK]
    pending = [o for o in operations if o.status is OpType.INFO]
    for r in range(len(pending) + 1):
        for chosen in itertools.combinations(pending, r):
            for seq in itertools.permutations(ok + list(chosen)):
                if _respects_real_time(seq) and _legal(seq, initial):
                    return True
    return False


def reference_wgl(operations: list[Operation], initial: Any = None) -> bool:
    """Plain Wing & Gong search with an exact memo and none of the checker's reductions.

    Slower than the checker (exponential in pending writes) but fast enough for a few dozen
    operations, far more than ``oracle_linearizable`` can enumerate. An operation may be
    linearized next iff it was invoked before the earliest return of the ok operations still
    waiting; pending operations never return; the search succeeds once every ok op is placed.
    """
    ops = [
        o
        for o in operations
        if o.status is not OpType.FAIL and not (o.f == "read" and o.status is not OpType.OK)
    ]
    ok = frozenset(i for i, o in enumerate(ops) if o.status is OpType.OK)
    failed: set[tuple[frozenset[int], tuple[Any, ...]]] = set()

    def step(state: dict[Any, Any], op: Operation) -> dict[Any, Any] | None:
        cur = state.get(op.key, initial)
        if op.f == "read":
            return state if freeze(op.output) == cur else None
        if op.f == "write":
            return {**state, op.key: freeze(op.value)}
        if cur == freeze(op.value[0]):
            return {**state, op.key: freeze(op.value[1])}
        return None  # a pending cas that finds another value is the same as never happening

    def search(done: frozenset[int], state: dict[Any, Any]) -> bool:
        if ok <= done:
            return True
        memo = (done, tuple(sorted(state.items(), key=repr)))
        if memo in failed:
            return False
        horizon = min(ops[i].returns_at for i in ok - done)
        for i, op in enumerate(ops):
            if i not in done and op.call < horizon:
                after = step(state, op)
                if after is not None and search(done | {i}, after):
                    return True
        failed.add(memo)
        return False

    return search(frozenset(), {})
