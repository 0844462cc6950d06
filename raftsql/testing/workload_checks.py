"""Checkers for the set and bank workloads of a Jepsen-style suite.

Both read the histories ``ophistory.History`` records and use its completion semantics: ``ok``
happened, ``fail`` definitely did not, ``info`` may or may not have (at any time after its
invocation). They follow the Jepsen checkers of the same names (jepsen.checker/set and the bank
workload in jepsen.tests.bank) with one deliberate strictness: an element whose only adds
*failed* but that is present anyway is an error, since ``fail`` promises no effect.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from raftsql.testing.ophistory import History, Op, Operation, OpType, freeze, pair


def _operations(history: History | Iterable[Op] | Iterable[Operation]) -> list[Operation]:
    if isinstance(history, History):
        return history.operations()
    items = list(history)
    if items and isinstance(items[0], Op):
        return pair(items)  # type: ignore[arg-type]
    return items  # type: ignore[return-value]


# -- set ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetResult:
    """Outcome of ``check_set``.

    ``valid`` is ``None`` when there is no ``ok`` read to judge. ``lost``: acknowledged adds,
    complete before the final read began, that it does not contain. ``unexpected``: elements
    it contains that no add could have put there. ``failed_present``: elements present whose
    adds all failed. ``recovered``: elements of ``info`` adds that did make it. ``stale``:
    (read, element) pairs where an earlier read missed an add acknowledged before it began
    (only with ``every_read=True``).
    """

    valid: bool | None
    attempted: int = 0
    acknowledged: int = 0
    lost: tuple[Any, ...] = ()
    unexpected: tuple[Any, ...] = ()
    failed_present: tuple[Any, ...] = ()
    recovered: tuple[Any, ...] = ()
    stale: tuple[tuple[Operation, Any], ...] = ()
    final_read: Operation | None = None
    explanation: str = ""


def check_set(
    history: History | Iterable[Op] | Iterable[Operation],
    *,
    key: Hashable | None = None,
    every_read: bool = False,
) -> SetResult:
    """Check a grow-only set workload: ``add`` (value: element) and ``read`` (output: elements).

    The final read is the ``ok`` read that completed last. Adds still running when it began may
    or may not be in it. With ``every_read`` each ``ok`` read is also held to what was
    acknowledged before it began, the linearizable-read promise.
    """
    ops = [o for o in _operations(history) if key is None or o.key == key]
    adds = [o for o in ops if o.f == "add"]
    reads = [o for o in ops if o.f == "read" and o.status is OpType.OK]
    attempted = {freeze(a.value) for a in adds}
    acknowledged = [a for a in adds if a.status is OpType.OK]
    if not reads:
        return SetResult(None, len(attempted), len(acknowledged), explanation="no ok read")
    final = max(reads, key=lambda r: r.returns_at)
    lost, unexpected, failed_present = _judge_read(final, adds)
    recovered = sorted(
        {freeze(a.value) for a in adds if a.status is OpType.INFO}
        & _elements(final) - {freeze(a.value) for a in acknowledged}, key=repr,
    )
    stale: list[tuple[Operation, Any]] = []
    if every_read:
        for r in sorted(reads, key=lambda r: r.call):
            if r is final:
                continue
            missed, extra, failed = _judge_read(r, adds)
            stale.extend((r, e) for e in missed)
            unexpected = sorted(set(unexpected) | set(extra), key=repr)
            failed_present = sorted(set(failed_present) | set(failed), key=repr)
    ok = not (lost or unexpected or failed_present or stale)
    parts = []
    if lost:
        parts.append(f"{len(lost)} acknowledged add(s) missing from the final read: {lost[:10]!r}")
    if unexpected:
        parts.append(f"{len(unexpected)} element(s) never added: {unexpected[:10]!r}")
    if failed_present:
        parts.append(f"{len(failed_present)} failed add(s) present: {failed_present[:10]!r}")
    if stale:
        first = stale[0]
        parts.append(f"{len(stale)} stale read element(s), first {first[1]!r} missing from "
                     f"{first[0].describe()}")
    return SetResult(
        valid=ok, attempted=len(attempted), acknowledged=len(acknowledged),
        lost=tuple(lost), unexpected=tuple(unexpected), failed_present=tuple(failed_present),
        recovered=tuple(recovered), stale=tuple(stale), final_read=final,
        explanation="; ".join(parts),
    )


def _elements(read: Operation) -> set[Any]:
    return set(freeze(read.output) or ())


def _judge_read(
    read: Operation, adds: list[Operation]
) -> tuple[list[Any], list[Any], list[Any]]:
    """(missing acknowledged, never possibly added, only failed adds) for one ok read."""
    seen = _elements(read)
    must = {freeze(a.value) for a in adds if a.status is OpType.OK and a.returns_at < read.call}
    may = {
        freeze(a.value) for a in adds
        if a.status is not OpType.FAIL and read.complete is not None and a.call < read.complete
    }
    failed = {freeze(a.value) for a in adds if a.status is OpType.FAIL}
    missing = sorted(must - seen, key=repr)
    bad = seen - may
    return missing, sorted(bad - failed, key=repr), sorted(bad & failed, key=repr)


# -- bank -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankError:
    read: Operation
    reason: str


@dataclass(frozen=True)
class BankResult:
    """Outcome of ``check_bank``: ``errors`` lists each bad read with its reason."""

    valid: bool | None
    reads: int
    errors: tuple[BankError, ...] = ()
    explanation: str = ""


def check_bank(
    history: History | Iterable[Op] | Iterable[Operation],
    *,
    total: int,
    accounts: Iterable[Hashable] | None = None,
    allow_negative: bool = False,
) -> BankResult:
    """Every ok ``read`` (output: account -> balance) sums to ``total``, and no balance is
    negative unless ``allow_negative``; with ``accounts``, exactly those accounts are present.

    Transfers move money between accounts, so any read of a snapshot-isolated (or stronger)
    database sees the same total; a different sum is a read of a torn transaction. Account
    names are compared as strings, because a JSON round trip turns integer keys into strings.
    """
    expected = None if accounts is None else {str(a) for a in accounts}
    reads = [o for o in _operations(history) if o.f == "read" and o.status is OpType.OK]
    errors: list[BankError] = []
    for r in reads:
        balances = _balances(r.output)
        if balances is None:
            errors.append(BankError(r, f"unreadable balances {r.output!r}"))
            continue
        if expected is not None and set(balances) != expected:
            errors.append(BankError(r, f"accounts {sorted(balances)} != {sorted(expected)}"))
        if any(not isinstance(v, int) for v in balances.values()):
            errors.append(BankError(r, f"non-integer balance in {balances!r}"))
            continue
        s = sum(balances.values())
        if s != total:
            errors.append(BankError(r, f"balances sum to {s}, not {total}"))
        negative = {a: v for a, v in balances.items() if v < 0}
        if negative and not allow_negative:
            errors.append(BankError(r, f"negative balances {negative!r}"))
    explanation = ""
    if errors:
        explanation = (f"{len(errors)} bad read(s); first: {errors[0].read.describe()}: "
                       f"{errors[0].reason}")
    return BankResult(
        valid=None if not reads else not errors, reads=len(reads), errors=tuple(errors),
        explanation=explanation or ("" if reads else "no ok read"),
    )


def _balances(output: Any) -> dict[str, Any] | None:
    if isinstance(output, Mapping):
        return {str(k): v for k, v in output.items()}
    try:
        return {str(k): v for k, v in output}
    except (TypeError, ValueError):
        return None
