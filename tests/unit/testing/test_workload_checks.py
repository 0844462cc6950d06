"""Set and bank checkers (raftsql.testing.workload_checks).

Sources of truth: Jepsen's set checker (jepsen.checker/set: lost = acknowledged adds missing
from the final read, unexpected = elements never attempted, recovered = indeterminate adds that
are present) and bank workload (jepsen.tests.bank: every read sums to the total, no negative
balance); the completion semantics of Jepsen histories (fail = no effect, info = unknown).
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.testing.ophistory import History, Op, OpType, load_jsonl
from raftsql.testing.workload_checks import check_bank, check_list_append, check_set


def hist(*events: tuple[Any, ...]) -> list[Op]:
    return [Op(p, OpType(t), f, None, v, i, i) for i, (p, t, f, v) in enumerate(events)]


# -- set ------------------------------------------------------------------------------------


def test_every_acknowledged_add_in_the_final_read_is_valid() -> None:
    r = check_set(
        hist(
            (0, "invoke", "add", 1),
            (0, "ok", "add", 1),
            (1, "invoke", "add", 2),
            (1, "ok", "add", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", [1, 2]),
        )
    )
    assert r.valid is True and r.acknowledged == 2 and r.lost == ()


def test_lost_acknowledged_add() -> None:
    r = check_set(
        hist(
            (0, "invoke", "add", 1),
            (0, "ok", "add", 1),
            (1, "invoke", "add", 2),
            (1, "ok", "add", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", [2]),
        )
    )
    assert r.valid is False and r.lost == (1,) and "missing from the final read" in r.explanation


def test_phantom_element_never_added() -> None:
    r = check_set(
        hist(
            (0, "invoke", "add", 1),
            (0, "ok", "add", 1),
            (2, "invoke", "read", None),
            (2, "ok", "read", [1, 99]),
        )
    )
    assert r.valid is False and r.unexpected == (99,)


def test_info_adds_may_or_may_not_be_present() -> None:
    base = [(0, "invoke", "add", 1), (0, "info", "add", 1), (1, "invoke", "read", None)]
    present = check_set(hist(*base, (1, "ok", "read", [1])))
    absent = check_set(hist(*base, (1, "ok", "read", [])))
    assert present.valid is True and present.recovered == (1,)
    assert absent.valid is True and absent.recovered == ()


def test_failed_add_that_is_present_is_an_error() -> None:
    r = check_set(
        hist(
            (0, "invoke", "add", 1),
            (0, "fail", "add", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", [1]),
        )
    )
    assert r.valid is False and r.failed_present == (1,)


def test_add_concurrent_with_the_final_read_may_be_missing() -> None:
    r = check_set(
        hist(
            (1, "invoke", "read", None),
            (0, "invoke", "add", 1),
            (0, "ok", "add", 1),
            (1, "ok", "read", []),
        )
    )
    assert r.valid is True


def test_no_read_is_unknown() -> None:
    r = check_set(hist((0, "invoke", "add", 1), (0, "ok", "add", 1)))
    assert r.valid is None and not r.valid


def test_every_read_mode_catches_a_stale_intermediate_read() -> None:
    events = hist(
        (0, "invoke", "add", 1),
        (0, "ok", "add", 1),
        (1, "invoke", "read", None),
        (1, "ok", "read", []),
        (1, "invoke", "read", None),
        (1, "ok", "read", [1]),
    )
    assert check_set(events).valid is True
    r = check_set(events, every_read=True)
    assert r.valid is False and len(r.stale) == 1 and r.stale[0][1] == 1


def _set_run(seed: int, p_info: float, p_fail: float) -> tuple[History, set[int]]:
    """A correct set under concurrency: each add applies atomically at some point in its
    window (or, for info, maybe later or never); the final read returns the real contents."""
    rng = random.Random(seed)
    now = [0]
    history = History(clock=lambda: now[0])
    contents: set[int] = set()
    pending: list[tuple[int, int, bool, float]] = []  # (op id, element, applies, outcome roll)
    for element in range(40):
        process = element  # a fresh process per add keeps info retirement trivial
        op_id = history.invoke(process, "add", None, element)
        roll = rng.random()
        applies = roll >= p_fail and (roll >= p_fail + p_info or rng.random() < 0.5)
        pending.append((op_id, element, applies, roll))
        if len(pending) > 4 or rng.random() < 0.3:
            op_id, e, applies, outcome = pending.pop(rng.randrange(len(pending)))
            if applies:
                contents.add(e)
            _complete(history, op_id, p_info, p_fail, outcome)
        now[0] += 1
    for op_id, e, applies, outcome in pending:
        if applies:
            contents.add(e)
        _complete(history, op_id, p_info, p_fail, outcome)
    r = history.invoke("reader", "read")
    history.ok(r, sorted(contents))
    return history, contents


def _complete(history: History, op_id: int, p_info: float, p_fail: float, roll: float) -> None:
    if roll < p_fail:
        history.fail(op_id)
    elif roll < p_fail + p_info:
        history.info(op_id)
    else:
        history.ok(op_id)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.2]), st.sampled_from([0.0, 0.2]))
def test_correct_set_runs_pass_and_dropping_an_ack_fails(
    seed: int, p_info: float, p_fail: float
) -> None:
    history, contents = _set_run(seed, p_info, p_fail)
    assert check_set(history).valid is True
    acked = [o.value for o in history.operations() if o.f == "add" and o.status is OpType.OK]
    if acked:
        ops = list(history.ops)
        victim = random.Random(seed).choice(acked)
        ops[-1] = Op(
            "reader", OpType.OK, "read", None, sorted(contents - {victim}), 0, ops[-1].index
        )
        r = check_set(ops)
        assert r.valid is False and r.lost == (victim,)


# -- bank -----------------------------------------------------------------------------------


def test_reads_that_sum_to_the_total_are_valid() -> None:
    r = check_bank(
        hist(
            (0, "invoke", "transfer", {"from": "a", "to": "b", "amount": 5}),
            (0, "ok", "transfer", {"from": "a", "to": "b", "amount": 5}),
            (1, "invoke", "read", None),
            (1, "ok", "read", {"a": 5, "b": 15}),
        ),
        total=20,
        accounts=["a", "b"],
    )
    assert r.valid is True and r.reads == 1


def test_torn_read_breaks_the_total() -> None:
    r = check_bank(
        hist(
            (1, "invoke", "read", None),
            (1, "ok", "read", {"a": 5, "b": 10}),
        ),
        total=20,
    )
    assert r.valid is False and "sum to 15, not 20" in r.errors[0].reason


def test_negative_balance_only_when_forbidden() -> None:
    events = hist((1, "invoke", "read", None), (1, "ok", "read", {"a": -5, "b": 25}))
    assert check_bank(events, total=20).valid is False
    assert check_bank(events, total=20, allow_negative=True).valid is True


def test_missing_account_is_reported() -> None:
    r = check_bank(
        hist((1, "invoke", "read", None), (1, "ok", "read", {"a": 20})),
        total=20,
        accounts=["a", "b"],
    )
    assert r.valid is False and "accounts" in r.errors[0].reason


def test_bank_survives_a_json_round_trip_with_integer_accounts(tmp_path: Any) -> None:
    history = History()
    op = history.invoke(0, "read")
    history.ok(op, {0: 10, 1: 10})
    path = tmp_path / "bank.jsonl"
    history.dump(path)
    assert check_bank(load_jsonl(path), total=20, accounts=[0, 1]).valid is True


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_atomic_transfers_keep_every_read_whole(seed: int) -> None:
    rng = random.Random(seed)
    balances = {a: 10 for a in "abcd"}
    history = History()
    for step in range(60):
        if rng.random() < 0.5:
            src, dst = rng.sample(sorted(balances), 2)
            amount = rng.randint(0, 5)
            op = history.invoke(step, "transfer", None, {"from": src, "to": dst, "amount": amount})
            if balances[src] >= amount:  # the workload forbids overdrafts
                balances[src] -= amount
                balances[dst] += amount
                history.ok(op)
            else:
                history.fail(op, "insufficient funds")
        else:
            op = history.invoke(step, "read")
            history.ok(op, dict(balances))
    assert check_bank(history, total=40, accounts="abcd").valid in (True, None)


# -- list-append (Elle) ---------------------------------------------------------------------
# Source of truth: Kingsbury and Alvaro, "Elle" (VLDB 2020), sections 3-4, and Adya's
# anomaly definitions (G0, G1a, G1b, G1c, G-single, G2) as Elle infers them.


def txn_hist(*txns: tuple[Any, str, list[list[Any]]]) -> list[Op]:
    """Each (process, status, micro-ops) is one transaction, run one after another."""
    events: list[Op] = []
    for p, status, mops in txns:
        invoked = [[m[0], m[1], None if m[0] == "r" else m[2]] for m in mops]
        events.append(Op(p, OpType.INVOKE, "txn", None, invoked, 0, len(events)))
        events.append(Op(p, OpType(status), "txn", None, mops, 0, len(events)))
    return events


def test_serial_list_append_history_is_valid() -> None:
    r = check_list_append(
        txn_hist(
            (0, "ok", [["append", "x", 1]]),
            (1, "ok", [["r", "x", [1]], ["append", "x", 2]]),
            (2, "ok", [["r", "x", [1, 2]]]),
        )
    )
    assert r.valid, r.explanation


def test_g0_write_cycle() -> None:
    r = check_list_append(
        txn_hist(
            (0, "ok", [["append", "x", 1], ["append", "y", 1]]),
            (1, "ok", [["append", "x", 2], ["append", "y", 2]]),
            (2, "ok", [["r", "x", [1, 2]], ["r", "y", [2, 1]]]),
        )
    )
    assert not r.valid and "G0" in r.anomalies


def test_g1c_circular_information_flow() -> None:
    r = check_list_append(
        txn_hist(
            (0, "ok", [["append", "x", 1], ["r", "y", [1]]]),
            (1, "ok", [["append", "y", 1], ["r", "x", [1]]]),
        )
    )
    assert not r.valid and "G1c" in r.anomalies and "G0" not in r.anomalies


def test_g2_write_skew() -> None:
    r = check_list_append(
        txn_hist(
            (0, "ok", [["r", "x", []], ["append", "y", 1]]),
            (1, "ok", [["r", "y", []], ["append", "x", 1]]),
            (2, "ok", [["r", "x", [1]], ["r", "y", [1]]]),
        )
    )
    assert not r.valid and set(r.anomalies) == {"G2"}


def test_g_single_read_skew() -> None:
    r = check_list_append(
        txn_hist(
            (0, "ok", [["append", "x", 1], ["append", "y", 1]]),
            (1, "ok", [["r", "x", []], ["r", "y", [1]]]),
            (2, "ok", [["r", "x", [1]]]),  # versions are only known once observed (Elle 4.1)
        )
    )
    assert not r.valid and set(r.anomalies) == {"G-single"}


def test_g1a_aborted_read() -> None:
    r = check_list_append(
        txn_hist(
            (0, "fail", [["append", "x", 1]]),
            (1, "ok", [["r", "x", [1]]]),
        )
    )
    assert not r.valid and "G1a" in r.anomalies


def test_g1b_intermediate_read() -> None:
    r = check_list_append(
        txn_hist(
            (0, "ok", [["append", "x", 1], ["append", "x", 2]]),
            (1, "ok", [["r", "x", [1]]]),
            (2, "ok", [["r", "x", [1, 2]]]),
        )
    )
    assert not r.valid and "G1b" in r.anomalies


def test_incompatible_orders() -> None:
    r = check_list_append(
        txn_hist(
            (0, "ok", [["append", "x", 1]]),
            (1, "ok", [["append", "x", 2]]),
            (2, "ok", [["r", "x", [1, 2]]]),
            (3, "ok", [["r", "x", [2, 1]]]),
        )
    )
    assert not r.valid and "incompatible-order" in r.anomalies


def test_info_transaction_whose_append_was_observed_counts() -> None:
    r = check_list_append(
        txn_hist(
            (0, "info", [["append", "x", 1]]),
            (1, "ok", [["r", "x", [1]]]),
        )
    )
    assert r.valid, r.explanation


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_serializable_runs_pass_and_a_reordered_read_fails(seed: int) -> None:
    """Transactions applied atomically in a random serial order (a serializable database),
    recorded with overlapping invocations; reversing one read of two or more elements must
    be caught (incompatible order with the longest read, or a cycle)."""
    rng = random.Random(seed)
    state: dict[str, list[int]] = {"x": [], "y": [], "z": []}
    history = History()
    counter = 0
    outstanding: list[tuple[int, list[list[Any]]]] = []
    for p in range(30):
        mops: list[list[Any]] = []
        for _ in range(rng.randint(1, 4)):
            k = rng.choice("xyz")
            if rng.random() < 0.5:
                counter += 1
                mops.append(["append", k, counter])
            else:
                mops.append(["r", k, None])
        outstanding.append((history.invoke(p, "txn", None, mops), mops))
        while outstanding and (len(outstanding) > 3 or rng.random() < 0.5):
            op_id, mops = outstanding.pop(rng.randrange(len(outstanding)))
            done = []
            for m in mops:  # the whole transaction applies at once, at completion
                if m[0] == "append":
                    state[m[1]].append(m[2])
                    done.append(m)
                else:
                    done.append(["r", m[1], list(state[m[1]])])
            history.ok(op_id, done)
    for op_id, _ in outstanding:
        history.info(op_id)
    assert check_list_append(history).valid is True
    ops = list(history.ops)
    for i, op in enumerate(ops):
        if op.type is OpType.OK:
            for j, m in enumerate(op.value):
                if m[0] == "r" and len(m[2]) >= 2:
                    value = [list(x) for x in op.value]
                    value[j][2] = list(reversed(m[2]))
                    ops[i] = Op(op.process, op.type, op.f, op.key, value, op.time, op.index)
                    assert check_list_append(ops).valid is False
                    return
