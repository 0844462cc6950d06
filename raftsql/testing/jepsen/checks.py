"""Judging set and bank histories recorded by the fault suite.

Set (Jepsen's ``set`` checker): after healing, each node's final read must contain every
acknowledged add (else *lost*) and nothing that was never attempted (else *unexpected*);
elements of ``info`` adds may or may not be there; all nodes' final reads must agree
(replicas of one log, ARCHITECTURE.md "Determinism"). A final read that did not complete makes
the verdict unknown, never valid.

Bank (Jepsen's ``bank`` checker): every ``ok`` read of all balances, during the run and after
it, lists every account once, sums to the constant total, and has no negative balance (the
transfer debits only when ``balance >= amount``). A transfer is a serializable interactive
transaction, so any other sum is a lost or partial transfer.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from raftsql.testing.jepsen.workloads import CheckResult, final_reads
from raftsql.testing.ophistory import Operation, OpType


def check_set(ops: list[Operation]) -> CheckResult:
    adds = [o for o in ops if o.f == "add"]
    ok = {o.value for o in adds if o.status is OpType.OK}
    maybe = {o.value for o in adds if o.status is OpType.INFO}
    attempted = {o.value for o in adds}
    finals = final_reads(ops)
    stats: dict[str, Any] = {
        "adds_ok": len(ok),
        "adds_info": len(maybe),
        "adds_fail": len(attempted) - len(ok) - len(maybe),
    }
    if not finals or any(f.status is not OpType.OK for f in finals):
        missing = [f.process for f in finals if f.status is not OpType.OK]
        return CheckResult(None, f"final reads did not complete: {missing or 'none made'}", stats)
    first: tuple[str, frozenset[int]] | None = None
    for f in finals:
        got = frozenset(f.output)
        if len(got) != len(f.output):
            dup = [e for e, n in Counter(f.output).items() if n > 1]
            return CheckResult(False, f"{f.process}: duplicate elements {dup[:10]}", stats)
        lost = sorted(ok - got)
        if lost:
            return CheckResult(
                False, f"{f.process}: {len(lost)} acknowledged adds lost, first {lost[:10]}", stats
            )
        unexpected = sorted(got - attempted)
        if unexpected:
            return CheckResult(
                False,
                f"{f.process}: {len(unexpected)} elements never added, first {unexpected[:10]}",
                stats,
            )
        if first is None:
            first = (str(f.process), got)
        elif got != first[1]:
            diff = sorted(got ^ first[1])
            return CheckResult(
                False,
                f"{f.process} and {first[0]} disagree on {len(diff)} elements, first {diff[:10]}",
                stats,
            )
    assert first is not None
    stats["final_size"] = len(first[1])
    stats["info_adds_present"] = len(first[1] & maybe)
    return CheckResult(True, stats=stats)


def check_bank(ops: list[Operation], total: int, accounts: int) -> CheckResult:
    reads = [o for o in ops if o.f == "read" and o.status is OpType.OK]
    transfers = Counter(o.status.value for o in ops if o.f == "transfer")
    stats: dict[str, Any] = {
        "reads_ok": len(reads),
        **{f"transfers_{k}": v for k, v in transfers.items()},
    }
    for o in reads:
        balances = dict((int(a), int(b)) for a, b in o.output)
        if sorted(balances) != list(range(accounts)) or len(o.output) != accounts:
            return CheckResult(
                False, f"read {o.call} by {o.process} lists accounts {sorted(balances)}", stats
            )
        got = sum(balances.values())
        if got != total:
            return CheckResult(
                False, f"read {o.call} by {o.process} sums to {got}, not {total}: {o.output}", stats
            )
        negative = {a: b for a, b in balances.items() if b < 0}
        if negative:
            return CheckResult(
                False, f"read {o.call} by {o.process} has negative balances {negative}", stats
            )
    finals = final_reads(ops)
    if not finals or any(f.status is not OpType.OK for f in finals):
        missing = [f.process for f in finals if f.status is not OpType.OK]
        return CheckResult(None, f"final reads did not complete: {missing or 'none made'}", stats)
    outputs = {str(f.process): f.output for f in finals}
    if len({repr(v) for v in outputs.values()}) != 1:
        return CheckResult(False, f"final reads disagree: {outputs}", stats)
    return CheckResult(True, stats=stats)
