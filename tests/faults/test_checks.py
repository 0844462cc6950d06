"""The fault suite's outcome classification and its set / bank checks on hand-made histories.

Sources of truth: ARCHITECTURE.md "Errors" (which SQLSTATEs promise "not applied") and the
semantics of Jepsen's set and bank checkers (ok = happened, fail = did not, info = unknown).
"""

from __future__ import annotations

import asyncpg
import pytest

from raftsql.testing.jepsen.checks import check_bank, check_set
from raftsql.testing.jepsen.clients import DefiniteFailure, classify
from raftsql.testing.ophistory import History, OpType


@pytest.mark.parametrize(("code", "kind"), [("40001", OpType.FAIL), ("57P03", OpType.FAIL),
                                            ("25006", OpType.FAIL), ("40003", OpType.INFO),
                                            ("XX000", OpType.INFO), ("23505", OpType.INFO)])
def test_sqlstates_map_to_fail_only_when_the_contract_says_not_applied(code: str,
                                                                        kind: OpType) -> None:
    exc = asyncpg.PostgresError.new({"C": code, "M": "m", "S": "ERROR"})
    assert classify(exc)[0] is kind


def test_timeouts_and_dropped_connections_are_info_definite_failures_are_fail() -> None:
    assert classify(TimeoutError())[0] is OpType.INFO
    assert classify(ConnectionResetError())[0] is OpType.INFO
    assert classify(DefiniteFailure("cas: value differs"))[0] is OpType.FAIL


def _set_history(adds: list[tuple[int, str]], finals: list[list[int] | None]) -> History:
    h = History()
    for p, (e, status) in enumerate(adds):
        op = h.invoke(p, "add", None, e)
        getattr(h, status)(op)
    for i, final in enumerate(finals):
        op = h.invoke(f"final-n{i + 1}-stale", "read", None, None)
        if final is None:
            h.info(op, "timeout")
        else:
            h.ok(op, final)
    return h


def test_set_valid_when_every_ok_add_is_present_and_info_adds_are_optional() -> None:
    h = _set_history([(1, "ok"), (2, "info"), (3, "fail"), (4, "info")], [[1, 2], [1, 2]])
    assert check_set(h.operations()).valid is True


@pytest.mark.parametrize(("finals", "needle"), [
    ([[2], [2]], "missing"),           # acknowledged add 1 lost
    ([[1, 9], [1, 9]], "never added"),  # a phantom element
    ([[1], [1, 2]], "disagree"),        # replicas differ
])
def test_set_invalid(finals: list[list[int]], needle: str) -> None:
    h = _set_history([(1, "ok"), (2, "info")], finals)
    res = check_set(h.operations())
    assert res.valid is False and needle in res.anomaly


def test_set_invalid_when_an_add_that_failed_is_present() -> None:
    h = _set_history([(1, "ok"), (2, "fail")], [[1, 2], [1, 2]])
    res = check_set(h.operations())
    assert res.valid is False and "failed" in res.anomaly


def test_set_unknown_without_a_complete_final_read() -> None:
    h = _set_history([(1, "ok")], [[1], None])
    assert check_set(h.operations()).valid is None


def _bank_history(reads: list[list[list[int]]]) -> History:
    h = History()
    for p, balances in enumerate(reads):
        op = h.invoke(p, "read", None, None)
        h.ok(op, balances)
    for i in range(2):
        op = h.invoke(f"final-n{i + 1}-stale", "read", None, None)
        h.ok(op, [[0, 5], [1, 15]])
    return h


def test_bank_valid_when_every_read_sums_to_the_total() -> None:
    h = _bank_history([[[0, 10], [1, 10]], [[0, 3], [1, 17]]])
    assert check_bank(h.operations(), 20, 2).valid is True


@pytest.mark.parametrize(("read", "needle"), [
    ([[0, 10], [1, 11]], "sum to 21"),       # a half-applied or duplicated transfer
    ([[0, -1], [1, 21]], "negative"),         # debit without funds
    ([[0, 20]], "accounts"),                  # a lost row
])
def test_bank_invalid(read: list[list[int]], needle: str) -> None:
    res = check_bank(_bank_history([read]).operations(), 20, 2)
    assert res.valid is False and needle in res.anomaly
