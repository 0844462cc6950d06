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

from raftsql.testing.ophistory import History, Op, Operation, OpType, as_operations, freeze

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
    ops = [o for o in as_operations(history) if key is None or o.key == key]
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
        & _elements(final) - {freeze(a.value) for a in acknowledged},
        key=repr,
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
        parts.append(
            f"{len(stale)} stale read element(s), first {first[1]!r} missing from "
            f"{first[0].describe()}"
        )
    return SetResult(
        valid=ok,
        attempted=len(attempted),
        acknowledged=len(acknowledged),
        lost=tuple(lost),
        unexpected=tuple(unexpected),
        failed_present=tuple(failed_present),
        recovered=tuple(recovered),
        stale=tuple(stale),
        final_read=final,
        explanation="; ".join(parts),
    )


def _elements(read: Operation) -> set[Any]:
    return set(freeze(read.output) or ())


def _judge_read(read: Operation, adds: list[Operation]) -> tuple[list[Any], list[Any], list[Any]]:
    """(missing acknowledged, never possibly added, only failed adds) for one ok read."""
    seen = _elements(read)
    must = {freeze(a.value) for a in adds if a.status is OpType.OK and a.returns_at < read.call}
    may = {
        freeze(a.value)
        for a in adds
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
    reads = [o for o in as_operations(history) if o.f == "read" and o.status is OpType.OK]
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
        explanation = (
            f"{len(errors)} bad read(s); first: {errors[0].read.describe()}: {errors[0].reason}"
        )
    return BankResult(
        valid=None if not reads else not errors,
        reads=len(reads),
        errors=tuple(errors),
        explanation=explanation or ("" if reads else "no ok read"),
    )


def _balances(output: Any) -> dict[str, Any] | None:
    if isinstance(output, Mapping):
        return {str(k): v for k, v in output.items()}
    try:
        return {str(k): v for k, v in output}
    except (TypeError, ValueError):
        return None


# -- list-append (Elle) ---------------------------------------------------------------------
#
# Kingsbury and Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations"
# (VLDB 2020). Transactions append unique values to lists and read whole lists. Every read of a
# key is a prefix of the key's version order, so reads reveal that order; the appends and reads
# then give write-write, write-read and read-write dependencies between transactions, and
# Adya's anomalies are cycles in that graph: G0 (ww only), G1c (ww and wr), G2 (with rw).
# Op shape: f="txn", value (and ok output) a list of micro-ops ["append", k, v] / ["r", k, list],
# reads filled in on completion.

WW, WR, RW = "ww", "wr", "rw"


@dataclass(frozen=True)
class ListAppendResult:
    """``anomalies`` maps an anomaly name (G0, G1a, G1b, G1c, G-single, G2, incompatible-order,
    duplicate-elements) to human descriptions; ``valid`` is True when it is empty."""

    valid: bool
    anomalies: dict[str, list[str]]
    transactions: int
    explanation: str = ""


def check_list_append(history: History | Iterable[Op] | Iterable[Operation]) -> ListAppendResult:
    """Look for G0, G1a, G1b, G1c and G2 (serializability) anomalies in a list-append history."""
    txns = [o for o in as_operations(history) if o.f == "txn"]
    anomalies: dict[str, list[str]] = {}

    def report(kind: str, text: str) -> None:
        anomalies.setdefault(kind, []).append(text)

    writer: dict[tuple[Any, Any], int] = {}  # (key, value) -> txn position
    appends: dict[int, dict[Any, list[Any]]] = {}  # txn -> key -> its appends, in order
    for t, op in enumerate(txns):
        for mop in op.value or ():
            if mop[0] == "append":
                k, v = freeze(mop[1]), freeze(mop[2])
                if (k, v) in writer:
                    raise ValueError(
                        f"value {v!r} appended twice to key {k!r}: appends must be unique"
                    )
                writer[(k, v)] = t
                appends.setdefault(t, {}).setdefault(k, []).append(v)
    committed = {t for t, op in enumerate(txns) if op.status is OpType.OK}
    reads: list[tuple[int, Any, tuple[Any, ...]]] = []  # (txn, key, list read)
    for t in sorted(committed):
        for mop in txns[t].output or ():
            if mop[0] == "r" and mop[2] is not None:
                reads.append((t, freeze(mop[1]), tuple(freeze(mop[2]))))

    order: dict[Any, tuple[Any, ...]] = {}  # key -> longest read: the observed version order
    for t, k, seen in reads:
        if len(set(seen)) != len(seen):
            report("duplicate-elements", f"{txns[t].describe()} read {k!r} = {list(seen)}")
        longest = order.get(k, ())
        short, long_ = sorted((seen, longest), key=len)
        if long_[: len(short)] != short:
            report(
                "incompatible-order", f"key {k!r}: {list(short)} is not a prefix of {list(long_)}"
            )
        if len(seen) > len(longest):
            order[k] = seen
    for t, k, seen in reads:
        for v in seen:
            w = writer.get((k, v))
            if w is None:
                report("G1a", f"{txns[t].describe()} read {v!r} in {k!r}, which nobody appended")
            elif txns[w].status is OpType.FAIL:
                report(
                    "G1a",
                    f"{txns[t].describe()} read {v!r} in {k!r}, appended by failed "
                    f"{txns[w].describe()}",
                )
        if seen and (w := writer.get((k, seen[-1]))) is not None and w != t:
            if appends[w][k][-1] != seen[-1]:
                report(
                    "G1b",
                    f"{txns[t].describe()} read {k!r} ending at {seen[-1]!r}, an "
                    f"intermediate append of {txns[w].describe()}",
                )

    # Observed writes count as committed even from info transactions (they took effect).
    visible = committed | {
        writer[(k, v)]
        for k, vs in order.items()
        for v in vs
        if (k, v) in writer and txns[writer[(k, v)]].status is OpType.INFO
    }
    edges: dict[int, dict[int, set[str]]] = {t: {} for t in visible}

    def edge(a: int | None, b: int | None, kind: str) -> None:
        if a is not None and b is not None and a != b and a in visible and b in visible:
            edges[a].setdefault(b, set()).add(kind)

    for k, vs in order.items():
        for prev, nxt in zip(vs, vs[1:], strict=False):
            edge(writer.get((k, prev)), writer.get((k, nxt)), WW)
    for t, k, seen in reads:
        vs = order.get(k, ())
        if seen:
            edge(writer.get((k, seen[-1])), t, WR)
        if len(seen) < len(vs) and vs[: len(seen)] == seen:
            edge(t, writer.get((k, vs[len(seen)])), RW)

    weaker: set[str] = set()  # labels whose cycles were already reported as a weaker anomaly
    for name, allowed in (("G0", {WW}), ("G1c", {WW, WR}), ("G2", {WW, WR, RW})):
        for cycle in _cycles(edges, allowed):
            pairs = list(zip(cycle, cycle[1:], strict=False))
            labels = [min(edges[a][b] & allowed, key=(WW, WR, RW).index) for a, b in pairs]
            if set(labels) <= weaker:
                continue
            kind = "G-single" if name == "G2" and labels.count(RW) == 1 else name
            steps = " ".join(
                f"{txns[a].describe()} -{lab}->" for (a, _), lab in zip(pairs, labels, strict=False)
            )
            report(kind, f"{steps} {txns[cycle[0]].describe()}")
        weaker = set(allowed)
    explanation = "; ".join(f"{k}: {v[0]}" for k, v in sorted(anomalies.items()))
    return ListAppendResult(not anomalies, anomalies, len(txns), explanation)


def _cycles(edges: dict[int, dict[int, set[str]]], allowed: set[str]) -> list[list[int]]:
    """One example cycle (closed: first node repeated last) per non-trivial strongly connected
    component of the subgraph with the ``allowed`` edge labels (Tarjan, iterative)."""
    graph = {a: [b for b, labs in out.items() if labs & allowed] for a, out in edges.items()}
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = graph[node]
            if i < len(succ):
                work.append((node, i + 1))
                nb = succ[i]
                if nb not in index:
                    work.append((nb, 0))
                elif nb in on_stack:
                    low[node] = min(low[node], index[nb])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == node:
                        break
                if len(comp) > 1:
                    components.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return [_cycle_in(graph, set(c)) for c in components]


def _cycle_in(graph: dict[int, list[int]], members: set[int]) -> list[int]:
    """A shortest cycle through the smallest member, by BFS inside the component."""
    start = min(members)
    parent: dict[int, int] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for a in frontier:
            for b in graph[a]:
                if b not in members:
                    continue
                if b == start:
                    path = [a]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if b not in parent:
                    parent[b] = a
                    nxt_frontier.append(b)
        frontier = nxt_frontier
    raise AssertionError("a strongly connected component has a cycle")
