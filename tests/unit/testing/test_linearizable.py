"""The register linearizability checker (raftsql.testing.linearizable).

Sources of truth:
- Herlihy and Wing, "Linearizability: a correctness condition for concurrent objects" (1990),
  section 2 (definition) and 3.3 (locality, which justifies checking key by key);
- Jepsen's completion semantics (jepsen.io, "Consistency models"; Knossos README): ok happened,
  fail did not, info may have happened at any time after invocation, or never;
- the naive oracle in lin_oracle.py, which enumerates every order (STYLE rule 7).
"""

from __future__ import annotations

import io
import random
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lin_oracle import oracle_linearizable, reference_wgl

from raftsql.testing.histgen import (
    MUTATIONS,
    RegisterWorkload,
    generate_register_history,
    mutate_drop_write,
    mutate_flip_cas,
    mutate_stale_read,
    mutate_unwritten_read,
)
from raftsql.testing.linearizable import check_register
from raftsql.testing.ophistory import Op, OpType, dump_jsonl, load_jsonl, pair


def hist(*events: tuple[Any, ...]) -> list[Op]:
    """Events as (process, type, f, value[, key]) in real-time order; key defaults to "x"."""
    ops = []
    for index, ev in enumerate(events):
        process, kind, f, value = ev[:4]
        key = ev[4] if len(ev) > 4 else "x"
        ops.append(Op(process, OpType(kind), f, key, value, index, index))
    return ops


def valid(events: list[Op], initial: Any = None) -> bool | None:
    result = check_register(events, initial=initial)
    assert result.valid == oracle_linearizable(pair(events), initial), "checker != oracle"
    return result.valid


# -- hand-made histories ---------------------------------------------------------------------


def test_sequential_write_then_read_is_linearizable() -> None:
    assert valid(
        hist(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        )
    )


def test_read_of_initial_value_before_any_write() -> None:
    assert valid(hist((0, "invoke", "read", None), (0, "ok", "read", None)))
    assert valid(hist((0, "invoke", "read", None), (0, "ok", "read", 0)), initial=0)


def test_stale_read_is_not_linearizable() -> None:
    # write 1, then write 2, both acknowledged; a later read still sees 1 (section 2: the
    # read was invoked after write 2 returned, so it must follow it).
    events = hist(
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (0, "invoke", "write", 2),
        (0, "ok", "write", 2),
        (1, "invoke", "read", None),
        (1, "ok", "read", 1),
    )
    result = check_register(events)
    assert result.valid is False
    assert result.key == "x"
    assert result.op is not None and result.op.f == "read" and result.op.output == 1
    assert [o.value for o in result.prefix] == [1, 2]
    assert result.state == 2
    assert "cannot be linearized" in result.explanation
    assert not oracle_linearizable(pair(events))


def test_lost_write_is_not_linearizable() -> None:
    # An acknowledged write whose effect a later read does not see.
    assert not valid(
        hist(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        )
    )


def test_two_successful_cas_from_the_same_old_value() -> None:
    # Concurrent cas 0->1 and cas 0->2 cannot both succeed: whichever goes second sees != 0.
    assert not valid(
        hist(
            (0, "invoke", "write", 0),
            (0, "ok", "write", 0),
            (1, "invoke", "cas", (0, 1)),
            (2, "invoke", "cas", (0, 2)),
            (1, "ok", "cas", (0, 1)),
            (2, "ok", "cas", (0, 2)),
        )
    )
    # ...while one success and one definite failure is fine.
    assert valid(
        hist(
            (0, "invoke", "write", 0),
            (0, "ok", "write", 0),
            (1, "invoke", "cas", (0, 1)),
            (2, "invoke", "cas", (0, 2)),
            (1, "ok", "cas", (0, 1)),
            (2, "fail", "cas", (0, 2)),
            (3, "invoke", "read", None),
            (3, "ok", "read", 1),
        )
    )


def test_info_write_that_took_effect() -> None:
    assert valid(
        hist(
            (0, "invoke", "write", 1),
            (0, "info", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        )
    )


def test_info_write_that_did_not_take_effect() -> None:
    assert valid(
        hist(
            (0, "invoke", "write", 1),
            (0, "info", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        )
    )


def test_info_write_may_take_effect_after_the_info_was_recorded() -> None:
    # Knossos: an info op's completion time is infinity, so None-then-1 is fine...
    assert valid(
        hist(
            (0, "invoke", "write", 1),
            (0, "info", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        )
    )
    # ...but it takes effect at most once: 1 then None (nothing else writes) is not.
    assert not valid(
        hist(
            (0, "invoke", "write", 1),
            (0, "info", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        )
    )


def test_info_write_cannot_take_effect_before_its_invocation() -> None:
    assert not valid(
        hist(
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
            (0, "invoke", "write", 1),
            (0, "info", "write", 1),
        )
    )


def test_missing_completion_counts_as_info() -> None:
    assert valid(
        hist(
            (0, "invoke", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        )
    )


def test_failed_write_definitely_did_not_happen() -> None:
    events = hist(
        (0, "invoke", "write", 1),
        (0, "fail", "write", 1),
        (1, "invoke", "read", None),
        (1, "ok", "read", 1),
    )
    result = check_register(events)
    assert result.valid is False and "no operation that may have written" in result.explanation
    assert not oracle_linearizable(pair(events))


def test_info_read_carries_no_constraint() -> None:
    assert valid(
        hist(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "read", None),
            (1, "info", "read", 42),
        )
    )


def test_info_cas_applies_only_from_its_old_value() -> None:
    # cas 5->1 can never apply (5 never held), so the read of 1 is unexplained.
    assert not valid(
        hist(
            (0, "invoke", "write", 0),
            (0, "ok", "write", 0),
            (1, "invoke", "cas", (5, 1)),
            (1, "info", "cas", (5, 1)),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
        )
    )
    assert valid(
        hist(
            (0, "invoke", "write", 0),
            (0, "ok", "write", 0),
            (1, "invoke", "cas", (0, 1)),
            (1, "info", "cas", (0, 1)),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
        )
    )


def test_overlapping_writes_linearizable_in_only_one_order() -> None:
    # Two concurrent writes, then sequential reads 2, 1: needs write 2 before write 1 before
    # the first read, which contradicts reading 2 first.
    base = [
        (0, "invoke", "write", 1),
        (1, "invoke", "write", 2),
        (0, "ok", "write", 1),
        (1, "ok", "write", 2),
    ]
    assert valid(hist(*base, (2, "invoke", "read", None), (2, "ok", "read", 2)))
    assert valid(hist(*base, (2, "invoke", "read", None), (2, "ok", "read", 1)))
    assert not valid(
        hist(
            *base,
            (2, "invoke", "read", None),
            (2, "ok", "read", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
        )
    )


def test_read_concurrent_with_write_may_see_either_value() -> None:
    for seen in (None, 1):
        assert valid(
            hist(
                (0, "invoke", "write", 1),
                (1, "invoke", "read", None),
                (1, "ok", "read", seen),
                (0, "ok", "write", 1),
            )
        )


def test_keys_are_checked_independently_and_the_bad_key_is_named() -> None:
    events = hist(
        (0, "invoke", "write", 1, "a"),
        (0, "ok", "write", 1, "a"),
        (1, "invoke", "write", 1, "b"),
        (1, "ok", "write", 1, "b"),
        (2, "invoke", "read", None, "a"),
        (2, "ok", "read", 1, "a"),
        (3, "invoke", "read", None, "b"),
        (3, "ok", "read", None, "b"),
    )
    result = check_register(events)
    assert result.valid is False and result.key == "b" and result.keys == 2


def test_time_limit_returns_unknown_not_a_verdict() -> None:
    events = generate_register_history(
        random.Random(7), RegisterWorkload(processes=6, keys=("x",), ops=3000)
    ).ops
    result = check_register(events, time_limit=0.0)
    assert result.valid is None and result.verdict == "unknown" and not result.valid
    assert result.unknown_keys == ("x",)


# -- the naive oracle on arbitrary small histories ------------------------------------------


@st.composite
def small_histories(draw: st.DrawFn, pending_heavy: bool = False) -> list[Op]:
    """Arbitrary (mostly non-linearizable) well-formed histories of a few operations.

    ``pending_heavy``: one key, more operations, and mostly info/missing completions, the
    territory of the checker's pending-write reductions.
    """
    ops: list[Op] = []
    busy: dict[int, Op] = {}
    idle = [0, 1, 2]
    fresh = 3
    invocations = draw(st.integers(4, 8) if pending_heavy else st.integers(1, 6))
    keys = ["x"] if pending_heavy else ["x", "y"]
    outcomes = (
        [OpType.OK, OpType.OK, OpType.INFO, OpType.INFO, None]
        if pending_heavy
        else [OpType.OK, OpType.OK, OpType.FAIL, OpType.INFO, None]
    )
    started = 0
    while started < invocations or busy:
        can_invoke = started < invocations and idle
        if can_invoke and (not busy or draw(st.booleans())):
            p = idle.pop(draw(st.integers(0, len(idle) - 1)))
            f = draw(st.sampled_from(["read", "write", "cas"]))
            key = draw(st.sampled_from(keys))
            value = (
                None
                if f == "read"
                else (
                    draw(st.integers(0, 2))
                    if f == "write"
                    else (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                )
            )
            op = Op(p, OpType.INVOKE, f, key, value, len(ops), len(ops))
            busy[p] = op
            ops.append(op)
            started += 1
            continue
        p = draw(st.sampled_from(sorted(busy)))
        call = busy.pop(p)
        kind = draw(st.sampled_from(outcomes))
        if kind is None:  # never completes; the client moves on as a new process
            idle.append(fresh)
            fresh += 1
            continue
        out = draw(st.sampled_from([None, 0, 1, 2])) if call.f == "read" else call.value
        ops.append(Op(p, kind, call.f, call.key, out, len(ops), len(ops)))
        if kind is OpType.INFO:
            idle.append(fresh)
            fresh += 1
        else:
            idle.append(p)
    return ops


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_histories(), st.sampled_from([None, 0]))
def test_checker_agrees_with_the_naive_oracle(events: list[Op], initial: Any) -> None:
    expected = oracle_linearizable(pair(events), initial)
    assert check_register(events, initial=initial).valid is expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_histories(pending_heavy=True))
def test_checker_agrees_with_the_oracle_when_most_writes_are_pending(events: list[Op]) -> None:
    assert check_register(events).valid is oracle_linearizable(pair(events))


# -- generated histories and guaranteed violations ------------------------------------------


workloads = st.builds(
    RegisterWorkload,
    processes=st.integers(1, 8),
    keys=st.sampled_from([("x",), ("x", "y", "z")]),
    ops=st.integers(1, 150),
    values=st.sampled_from([None, 2, 5]),
    p_fail=st.sampled_from([0.0, 0.1]),
    p_info=st.sampled_from([0.0, 0.05, 0.3]),
    latency=st.integers(1, 12),
)


@settings(max_examples=60, deadline=None)
@given(workloads, st.integers(0, 2**32 - 1))
def test_histories_of_a_linearizable_register_pass(w: RegisterWorkload, seed: int) -> None:
    events = generate_register_history(random.Random(seed), w).ops
    result = check_register(events, time_limit=30)
    assert result.valid is True, result.explanation


@settings(max_examples=60, deadline=None)
@given(workloads, st.integers(0, 2**32 - 1), st.sampled_from(MUTATIONS))
def test_guaranteed_violations_fail(w: RegisterWorkload, seed: int, mutation: Any) -> None:
    events = list(generate_register_history(random.Random(seed), w).ops)
    mutated = mutation(events, random.Random(seed))
    if mutated is None:
        return  # no candidate for this mutation in this history
    result = check_register(mutated, time_limit=30)
    assert result.valid is False
    assert result.op is not None and result.op.status is OpType.OK


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(10, 40),
    st.sampled_from([0.0, 0.1, 0.25]),
    st.booleans(),
)
def test_checker_agrees_with_plain_wgl_on_mid_size_histories(
    seed: int, ops: int, p_info: float, retarget: bool
) -> None:
    """Generated histories, optionally with one read changed to another in-domain value
    (valid or not: the reference decides), against the reduction-free search."""
    rng = random.Random(seed)
    w = RegisterWorkload(processes=4, keys=("x",), ops=ops, values=3, p_info=p_info, p_fail=0.1)
    events = list(generate_register_history(rng, w).ops)
    reads = [i for i, o in enumerate(events) if o.type is OpType.OK and o.f == "read"]
    if retarget and reads:
        i = rng.choice(reads)
        old = events[i].value
        events[i] = Op(
            events[i].process,
            OpType.OK,
            "read",
            "x",
            rng.choice([v for v in (None, 0, 1, 2) if v != old]),
            events[i].time,
            events[i].index,
        )
    assert check_register(events).valid is reference_wgl(pair(events))


def test_each_mutation_finds_candidates_in_unique_value_histories() -> None:
    """Guard against the property test above passing vacuously."""
    events = list(
        generate_register_history(
            random.Random(3), RegisterWorkload(processes=5, keys=("x", "y"), ops=400, values=None)
        ).ops
    )
    for mutation in (mutate_unwritten_read, mutate_drop_write, mutate_flip_cas, mutate_stale_read):
        mutated = mutation(events, random.Random(1))
        assert mutated is not None, mutation.__name__
        assert check_register(mutated).valid is False, mutation.__name__


def test_stale_read_mutation_is_caught_by_the_search_not_the_precheck() -> None:
    events = list(
        generate_register_history(
            random.Random(5), RegisterWorkload(processes=5, keys=("x",), ops=300, values=None)
        ).ops
    )
    mutated = mutate_stale_read(events, random.Random(0))
    assert mutated is not None
    result = check_register(mutated)
    assert result.valid is False and result.prefix, result.explanation


def test_verdicts_survive_a_jsonl_round_trip() -> None:
    """JSON turns cas pairs into lists; the checker must read them the same way."""
    w = RegisterWorkload(processes=5, keys=("x", "y"), ops=300, values=3, p_info=0.1)
    events = list(generate_register_history(random.Random(11), w).ops)
    buf = io.StringIO()
    dump_jsonl(events, buf)
    loaded = load_jsonl(io.StringIO(buf.getvalue()))
    assert check_register(loaded).valid is check_register(events).valid is True
    bad = mutate_unwritten_read(events, random.Random(2))
    assert bad is not None
    buf = io.StringIO()
    dump_jsonl(bad, buf)
    assert check_register(load_jsonl(io.StringIO(buf.getvalue()))).valid is False


def test_acceptance_10000_ops_10_keys() -> None:
    """Brief acceptance: 10,000 operations, 10 keys, 8 concurrent processes (with faults).

    The time bound is a generous guard only; bench/lin_bench.py reports the real figure.
    """
    w = RegisterWorkload(
        processes=8, keys=tuple("abcdefghij"), ops=10_000, values=5, p_fail=0.02, p_info=0.05
    )
    events = generate_register_history(random.Random(10_000), w).ops
    assert sum(op.type is OpType.INVOKE for op in events) == 10_000
    started = time.monotonic()
    result = check_register(events, time_limit=60)
    assert result.valid is True and result.keys == 10
    assert time.monotonic() - started < 30
    bad = mutate_unwritten_read(list(events), random.Random(1))
    assert bad is not None and check_register(bad, time_limit=60).valid is False
