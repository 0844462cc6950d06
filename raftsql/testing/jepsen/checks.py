"""Judging set and bank histories of the fault suite with the workload checkers
(raftsql/testing/workload_checks.py), plus what only a multi-node run can add.

Set: each node's final read is judged on its own by ``workload_checks.check_set`` (every
acknowledged add present, nothing never attempted, no element whose adds all failed; elements
of ``info`` adds may or may not be there), and all final reads must agree, since replicas apply
one log (ARCHITECTURE.md "Determinism"). A final read that did not complete makes the verdict
unknown, never valid.

Bank: ``workload_checks.check_bank`` holds every ``ok`` read, during the run and the final ones,
to the constant total, the full set of accounts and no negative balance (the transfer debits
only when ``balance >= amount``); the final reads must agree as well.
"""

from __future__ import annotations

from typing import Any

from raftsql.testing import workload_checks
from raftsql.testing.jepsen.workloads import CheckResult, final_reads
from raftsql.testing.ophistory import Operation, OpType


def _finals_complete(finals: list[Operation], stats: dict[str, Any]) -> CheckResult | None:
    missing = [str(f.process) for f in finals if f.status is not OpType.OK]
    if not finals or missing:
        return CheckResult(None, f"final reads did not complete: {missing or 'none made'}", stats)
    return None


def _finals_agree(finals: list[Operation], stats: dict[str, Any]) -> CheckResult | None:
    first = finals[0]
    for f in finals[1:]:
        if f.output != first.output:
            a, b = set(map(repr, f.output)), set(map(repr, first.output))
            diff = sorted(a ^ b)
            return CheckResult(False, f"final reads {f.process} and {first.process} disagree "
                                      f"on {len(diff)} entries, first {diff[:10]}", stats)
    return None


def check_set(ops: list[Operation]) -> CheckResult:
    adds = [o for o in ops if o.f == "add"]
    finals = final_reads(ops)
    stats: dict[str, Any] = {
        f"adds_{k}": sum(1 for o in adds if o.status is t)
        for k, t in (("ok", OpType.OK), ("info", OpType.INFO), ("fail", OpType.FAIL))}
    if (bad := _finals_complete(finals, stats)) is not None:
        return bad
    for f in finals:
        if len(set(f.output)) != len(f.output):
            return CheckResult(False, f"{f.process}: duplicate elements", stats)
        res = workload_checks.check_set([*adds, f])
        if not res.valid:
            return CheckResult(res.valid, f"{f.process}: {res.explanation}", stats)
        stats["final_size"] = len(f.output)
        stats["info_adds_present"] = len(res.recovered)
    return _finals_agree(finals, stats) or CheckResult(True, stats=stats)


def check_bank(ops: list[Operation], total: int, accounts: int) -> CheckResult:
    transfers = [o for o in ops if o.f == "transfer"]
    stats: dict[str, Any] = {f"transfers_{t.value}": sum(1 for o in transfers if o.status is t)
                             for t in (OpType.OK, OpType.INFO, OpType.FAIL)}
    res = workload_checks.check_bank(ops, total=total, accounts=range(accounts))
    stats["reads_ok"] = res.reads
    if res.valid is False:
        return CheckResult(False, res.explanation, stats)
    finals = final_reads(ops)
    if (bad := _finals_complete(finals, stats)) is not None:
        return bad
    return _finals_agree(finals, stats) or CheckResult(res.valid, res.explanation, stats)
