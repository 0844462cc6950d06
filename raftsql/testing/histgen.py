"""Register histories from a simulated concurrent execution, and mutations that break them.

The generator is a small discrete-event simulation of clients talking to a correct
(linearizable) key-value register: every operation takes effect atomically at one instant
between its invocation and its completion (its linearization point), so every history it
produces is linearizable by construction. That makes it the positive oracle for the checker.

Faults follow Jepsen's completion semantics: a *fail* never takes effect; an *info* takes
effect with probability 1/2, possibly after the info was recorded (a timed-out request that
commits later), and retires its process.

The mutations rewrite a valid history so that it is invalid *by argument*, not by hope: each
one leaves an ``ok`` operation that observes a value no linearization can supply.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

from raftsql.testing.ophistory import History, Op, Operation, OpType, pair


@dataclass(frozen=True)
class RegisterWorkload:
    """Shape of a generated register history.

    ``values=None`` draws unique values for writes and cas (every written value is distinct,
    which the mutations need); an int draws from ``range(values)``, which makes many orders
    plausible and the search harder. Latencies are in abstract time units.
    """

    processes: int = 5
    keys: tuple[Hashable, ...] = ("x",)
    ops: int = 100
    values: int | None = 5
    mix: tuple[float, float, float] = (0.5, 0.3, 0.2)  # read, write, cas
    p_fail: float = 0.0
    p_info: float = 0.0
    latency: int = 10
    initial: Any = None


def generate_register_history(rng: random.Random, w: RegisterWorkload) -> History:
    """Run the simulation and return the recorded history (its clock is simulated time)."""
    now = [0]
    history = History(clock=lambda: now[0])
    state: dict[Hashable, Any] = {k: w.initial for k in w.keys}
    written: dict[Hashable, list[Any]] = {k: [w.initial] for k in w.keys}
    fresh = itertools.count(1)
    seq = itertools.count()
    events: list[tuple[int, int, str, Any]] = []
    result: dict[int, tuple[OpType, Any]] = {}
    calls: dict[int, Op] = {}
    invoked = 0
    next_process = itertools.count(w.processes)

    def schedule(at: int, what: str, payload: Any) -> None:
        heapq.heappush(events, (at, next(seq), what, payload))

    def value(key: Hashable) -> Any:
        v = next(fresh) if w.values is None else rng.randrange(w.values)
        written[key].append(v)
        return v

    for p in range(w.processes):
        schedule(rng.randrange(w.latency + 1), "invoke", p)
    while events:
        now[0], _, what, payload = heapq.heappop(events)
        if what == "invoke":
            if invoked >= w.ops:
                continue
            invoked += 1
            process = payload
            key = rng.choice(w.keys)
            f = rng.choices(("read", "write", "cas"), weights=w.mix)[0]
            if f == "read":
                arg = None
            elif f == "write":
                arg = value(key)
            else:
                old = state[key] if rng.random() < 0.5 else rng.choice(written[key])
                arg = (old, value(key))
            op_id = history.invoke(process, f, key, arg)
            calls[op_id] = Op(process, OpType.INVOKE, f, key, arg, now[0], op_id)
            roll = rng.random()
            effect_at = now[0] + rng.randrange(w.latency + 1)
            done_at = effect_at + rng.randrange(w.latency + 1)
            if roll < w.p_fail:
                result[op_id] = (OpType.FAIL, None)
            elif roll < w.p_fail + w.p_info:
                result[op_id] = (OpType.INFO, None)
                if rng.random() < 0.5:  # it takes effect, maybe after the info is recorded
                    schedule(now[0] + rng.randrange(3 * w.latency + 1), "effect", op_id)
            else:
                schedule(effect_at, "effect", op_id)
            schedule(done_at, "complete", op_id)
        elif what == "effect":
            call = calls[payload]
            status, out = result.get(payload, (OpType.OK, None))
            if call.f == "read":
                out = state[call.key]
            elif call.f == "write":
                state[call.key] = call.value
            elif state[call.key] == call.value[0]:
                state[call.key] = call.value[1]
            elif status is OpType.OK:
                status = OpType.FAIL  # a cas that found another value: definitely not applied
            if payload not in result or result[payload][0] is OpType.OK:
                result[payload] = (status, out)
        else:  # complete
            op_id = payload
            status, out = result.get(op_id, (OpType.OK, None))
            process = calls[op_id].process
            if status is OpType.OK:
                if calls[op_id].f == "read":
                    history.ok(op_id, out)
                else:
                    history.ok(op_id)
            elif status is OpType.FAIL:
                history.fail(op_id, "simulated")
            else:
                history.info(op_id, "simulated timeout")
                process = next(next_process)
            schedule(now[0] + rng.randrange(w.latency + 1), "invoke", process)
    return history


# -- mutations that are violations by construction ------------------------------------------


def _completion(ops: list[Op], operation: Operation) -> int:
    assert operation.complete is not None
    return next(i for i, op in enumerate(ops) if op.index == operation.complete)


def _written(o: Operation) -> Any:
    return tuple(o.value)[1] if o.f == "cas" else o.value


def _write_counts(operations: list[Operation]) -> Counter[tuple[Hashable, Any]]:
    """How many operations (of any status) try to write each (key, value)."""
    return Counter((o.key, _written(o)) for o in operations if o.f in ("write", "cas"))


def _observed(operations: list[Operation]) -> set[tuple[Hashable, Any]]:
    return {(o.key, o.output) for o in operations if o.f == "read" and o.status is OpType.OK}


def mutate_unwritten_read(ops: list[Op], rng: random.Random) -> list[Op] | None:
    """An ok read now returns a value nobody ever wrote: it has no linearization point."""
    reads = [o for o in pair(ops) if o.f == "read" and o.status is OpType.OK]
    if not reads:
        return None
    target = rng.choice(reads)
    out = list(ops)
    i = _completion(ops, target)
    out[i] = replace(out[i], value="never-written")
    return out


def mutate_drop_write(ops: list[Op], rng: random.Random, initial: Any = None) -> list[Op] | None:
    """Remove an ok write whose value is written by nobody else but observed by an ok read."""
    operations = pair(ops)
    counts, observed = _write_counts(operations), _observed(operations)
    candidates = [
        w
        for w in operations
        if w.f == "write"
        and w.status is OpType.OK
        and w.value != initial
        and counts[(w.key, w.value)] == 1
        and (w.key, w.value) in observed
    ]
    if not candidates:
        return None
    w = rng.choice(candidates)
    return [op for op in ops if op.index not in (w.call, w.complete)]


def mutate_flip_cas(ops: list[Op], rng: random.Random, initial: Any = None) -> list[Op] | None:
    """An ok cas whose unique new value was later read is reported as failed instead."""
    operations = pair(ops)
    counts, observed = _write_counts(operations), _observed(operations)
    candidates = [
        c
        for c in operations
        if c.f == "cas"
        and c.status is OpType.OK
        and _written(c) != initial
        and counts[(c.key, _written(c))] == 1
        and (c.key, _written(c)) in observed
    ]
    if not candidates:
        return None
    c = rng.choice(candidates)
    out = list(ops)
    i = _completion(ops, c)
    out[i] = replace(out[i], type=OpType.FAIL)
    return out


def mutate_stale_read(ops: list[Op], rng: random.Random, initial: Any = None) -> list[Op] | None:
    """An ok read returns a value that real time proves was already overwritten.

    Needs ok writes W1 (value v, the only writer of v, v != initial) and W2 (another value)
    with W1 completed before W2 was invoked and W2 completed before the read was invoked: every
    linearization orders W1 < W2 < read, and nothing writes v again.
    """
    operations = pair(ops)
    counts = _write_counts(operations)
    candidates = []
    for key in {o.key for o in operations}:
        writes = [
            o for o in operations if o.key == key and o.f == "write" and o.status is OpType.OK
        ]
        unique = [w for w in writes if w.value != initial and counts[(key, w.value)] == 1]
        if not unique:
            continue
        w1 = min(unique, key=lambda w: w.returns_at)
        after = [w.returns_at for w in writes if w.call > w1.returns_at and w.value != w1.value]
        if not after:
            continue
        settled = min(after)
        candidates += [
            (r, w1.value)
            for r in operations
            if r.key == key
            and r.f == "read"
            and r.status is OpType.OK
            and r.call > settled
            and r.output != w1.value
        ]
    if not candidates:
        return None
    r, v = rng.choice(sorted(candidates, key=lambda c: c[0].call))
    out = list(ops)
    i = _completion(ops, r)
    out[i] = replace(out[i], value=v)
    return out


MUTATIONS = (mutate_unwritten_read, mutate_drop_write, mutate_flip_cas, mutate_stale_read)
