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
  nothing and is dropped. An ``info`` write or cas whose value nobody can observe after its
  invocation cannot help any linearization and is dropped too.
- ``ok`` operations must be linearized between invocation and completion.

Pending writes are where such checkers blow up (k of them give 2^k subsets to try). Three
reductions, each of which keeps every linearization, tame that here; they are explained at
``_KeySearch``: interchangeable pending writes are tried in one canonical order, a pending write
is only linearized when something in the window needs its value, and the memo skips a
configuration when one with the same linearized ok set and state used a subset of the pending
writes. A linear-time pre-check reports a read of a value that nothing could have written
before any search. Checked against a brute-force oracle in tests/unit/testing.

Real-time order is the history index order (see ``ophistory.py``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from raftsql.testing.ophistory import History, Op, Operation, OpType, as_operations, freeze

READ, WRITE, CAS = 0, 1, 2
_KINDS = {"read": READ, "write": WRITE, "cas": CAS}

_SCAN = 8  # how many earlier token sets of one (ok set, state) the memo compares against

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
    ops = as_operations(history)
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


def relevant(ops: list[Operation]) -> list[Operation]:
    """Drop what cannot constrain a linearization (see the module docstring), to a fixpoint.

    An ``info`` write or cas of value v is kept only if something could observe v after the
    op was invoked: an ``ok`` read of v or cas expecting v that returns after that invocation,
    or a kept ``info`` cas expecting v (which may itself take effect arbitrarily late).
    """
    kept = [
        op
        for op in ops
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
            op
            for op in kept
            if op.status is OpType.OK or seen_until.get(_written(op), -1.0) > op.call
        ]
        if len(kept) == before:
            return kept


def _written(op: Operation) -> Any:
    return freeze(op.value[1] if op.f == "cas" else op.value)


class _KeySearch:
    """The WGL search over one key's operations.

    ``ok`` operations live in a doubly linked list of entries in real-time order: call entry
    ``i`` (0 <= i < n) and return entry ``n + i``; ``head`` and ``tail`` are sentinels.
    Linearizing an operation lifts both entries out; backtracking puts them back. The call
    entries before the first remaining return entry are the candidates (the *window*).

    ``info`` writes and cas never return, so they are kept out of the list as *tokens*,
    grouped into classes of equal effect (write v; cas a->b), each sorted by invocation. A
    token is available once invoked before the window's end. Two reductions keep the search
    from enumerating subsets of pending tokens, the classic blow-up of histories with many
    timeouts, and both preserve every linearization:

    - symmetry: available tokens of one class are interchangeable, so only the earliest
      unused one is tried (each class's used tokens form a prefix);
    - laziness: a token is only linearized if it changes the state to a value something in the
      window needs (an ok read of it, a cas expecting it, or transitively an available info
      cas expecting it). Any linearization can move a token later, up to the first operation
      that observes its value, and drop it if nothing does.
    """

    def __init__(self, key: Hashable, ops: list[Operation], initial: Any) -> None:
        self.key = key
        self.initial = initial
        self.all_ops = ops
        self.ops = relevant(ops)
        self.configurations = 0
        # (linearized prefix, the ok operation whose return blocked it, state after the prefix)
        self.best: tuple[list[Operation], Operation, Any] | None = None
        self.unsupported = False  # the failure needs no search (see _unsupported)

    def run(self, deadline: float | None) -> bool | None:
        ok_ops = [op for op in self.ops if op.status is OpType.OK]
        n = len(ok_ops)
        if n == 0:
            return True
        unsupported = self._unsupported(ok_ops)
        if unsupported is not None:
            self.best = ([], unsupported, None)
            self.unsupported = True
            return False
        kind = [_KINDS[op.f] for op in ok_ops]
        arg_a = [
            freeze(op.output if op.f == "read" else op.value[0] if op.f == "cas" else op.value)
            for op in ok_ops
        ]
        arg_b = [freeze(op.value[1]) if op.f == "cas" else None for op in ok_ops]
        tokens = _Tokens([op for op in self.ops if op.status is not OpType.OK])

        head, tail = 2 * n, 2 * n + 1
        events = [(op.call, i) for i, op in enumerate(ok_ops)]
        events += [(int(op.returns_at), n + i) for i, op in enumerate(ok_ops)]
        events.sort()
        nxt = [tail] * (2 * n + 2)
        prv = [head] * (2 * n + 2)
        last = head
        for _, e in events:
            nxt[last] = e
            prv[e] = last
            last = e
        nxt[last] = tail
        prv[tail] = last

        bit = [1 << i for i in range(n)]
        # Memo (Lowe): (ok ops linearized, state) -> token sets already reached with it. A
        # configuration is skipped if a reached one has the same ok set and state and used a
        # subset of its tokens: that one had every option this one has. Because each class's
        # used tokens form a prefix, "subset" means "used no more of any class".
        seen: dict[tuple[int, Any], list[int]] = {}
        # frames: (token class or -1, ok op index or token op, state before, cands, pos)
        stack: list[tuple[int, Any, Any, list[int] | None, int]] = []
        state = self.initial
        lin_ok = 0
        remaining = n
        entry = nxt[head]
        cands: list[int] | None = None  # None: still trying the window's ok operations
        pos = 0
        steps = 0
        while True:
            steps += 1
            if steps & 0x3FF == 0 and deadline is not None and time.monotonic() > deadline:
                return None
            if cands is None:
                if entry < n:  # an ok call entry: try to linearize it now
                    i = entry
                    entry = nxt[entry]
                    k = kind[i]
                    if k == WRITE:
                        new_state = arg_a[i]
                    elif state == arg_a[i]:
                        new_state = state if k == READ else arg_b[i]
                    else:
                        continue
                    if self._dominated(seen, lin_ok | bit[i], new_state, tokens.used_bits):
                        continue
                    stack.append((-1, i, state, None, 0))
                    state = new_state
                    lin_ok |= bit[i]
                    remaining -= 1
                    if remaining == 0:
                        return True
                    nxt[prv[i]] = nxt[i]
                    prv[nxt[i]] = prv[i]
                    r = n + i
                    nxt[prv[r]] = nxt[r]
                    prv[nxt[r]] = prv[r]
                    entry = nxt[head]
                    continue
                # The first remaining return entry: the window is exhausted.
                assert entry != tail, "ran off the list with ok operations left"
                if self.best is None or len(stack) > len(self.best[0]):
                    self.best = (self._prefix(stack, ok_ops), ok_ops[entry - n], state)
                horizon = ok_ops[entry - n].complete
                assert horizon is not None
                cands = tokens.candidates(state, horizon, self._wanted(nxt, head, n, kind, arg_a))
                pos = 0
                continue
            if pos < len(cands):  # try the next useful token
                c = cands[pos]
                pos += 1
                new_state = tokens.effect[c][1]
                if self._dominated(seen, lin_ok, new_state, tokens.used_bits | tokens.next_bit(c)):
                    continue
                stack.append((c, tokens.take(c), state, cands, pos))
                state = new_state
                entry = nxt[head]
                cands = None
                continue
            if not stack:
                return False
            c, what, state, cands, pos = stack.pop()
            if c >= 0:
                tokens.give_back(c)
            else:
                i = what
                lin_ok ^= bit[i]
                remaining += 1
                r = n + i
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                nxt[prv[i]] = i
                prv[nxt[i]] = i
                entry = nxt[i]

    def _dominated(
        self, seen: dict[tuple[int, Any], list[int]], lin_ok: int, state: Any, used: int
    ) -> bool:
        """True if an equal or better configuration was reached before (see the memo note).

        Only the most recent ``_SCAN`` token sets are compared: skipping fewer is still sound,
        and an unbounded antichain scan costs more than the search it saves.
        """
        reached = seen.get((lin_ok, state))
        if reached is None:
            seen[(lin_ok, state)] = [used]
        else:
            for u in reached[-_SCAN:]:
                if not u & ~used:
                    return True
            reached.append(used)
        self.configurations += 1
        return False

    def _unsupported(self, ok_ops: list[Operation]) -> Operation | None:
        """The first ok read or cas that observes a value no operation could have written.

        A necessary condition, checked in linear time before the search: a read of v (or a cas
        expecting v) needs v to be the initial value or the value of some write or cas that
        was not a definite failure and was invoked before the observer returned.
        """
        first_call: dict[Any, int] = {}
        for op in self.all_ops:
            if op.f != "read" and op.status is not OpType.FAIL:
                v = _written(op)
                first_call[v] = min(first_call.get(v, op.call), op.call)
        for op in sorted(ok_ops, key=lambda o: o.returns_at):
            if op.f == "write":
                continue
            v = freeze(op.output if op.f == "read" else op.value[0])
            if v != self.initial and first_call.get(v, op.returns_at) >= op.returns_at:
                return op
        return None

    @staticmethod
    def _wanted(nxt: list[int], head: int, n: int, kind: list[int], arg_a: list[Any]) -> list[Any]:
        """Values the window's ok reads and cas need the register to hold."""
        wanted: list[Any] = []
        e = nxt[head]
        while e < n:
            if kind[e] != WRITE and arg_a[e] not in wanted:
                wanted.append(arg_a[e])
            e = nxt[e]
        return wanted

    @staticmethod
    def _prefix(stack: list[Any], ok_ops: list[Operation]) -> list[Operation]:
        return [ok_ops[what] if c < 0 else what for c, what, _, _, _ in stack]

    def failure(self, **stats: Any) -> LinearizabilityResult:
        assert self.best is not None
        prefix, op, state = self.best
        return LinearizabilityResult(
            valid=False,
            key=self.key,
            op=op,
            prefix=tuple(prefix),
            state=state,
            explanation=self._explain(op, tuple(prefix), state),
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
        if self.unsupported:
            want = op.output if op.f == "read" else op.value[0]
            return (
                f"key {self.key!r}: {op.describe()} cannot be linearized: it observed {want!r}, "
                "but no operation that may have written that value was invoked before it returned."
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


class _Tokens:
    """The ``info`` writes and cas of one key, in classes of equal effect (see ``_KeySearch``)."""

    def __init__(self, ops: list[Operation]) -> None:
        classes: dict[tuple[Any, Any], list[Operation]] = {}
        for op in sorted(ops, key=lambda o: o.call):
            old = freeze(op.value[0]) if op.f == "cas" else _ANY
            classes.setdefault((old, _written(op)), []).append(op)
        self.effect = list(classes)  # class -> (required old value or _ANY, new value)
        self.ops = list(classes.values())
        self.bits: list[list[int]] = []
        b = 0
        for members in self.ops:
            self.bits.append([1 << (b + j) for j in range(len(members))])
            b += len(members)
        self.used = [0] * len(self.ops)
        self.used_bits = 0
        self.by_new: dict[Any, list[int]] = {}
        for c, (_, new) in enumerate(self.effect):
            self.by_new.setdefault(new, []).append(c)

    def available(self, c: int, horizon: int) -> bool:
        u = self.used[c]
        return u < len(self.ops[c]) and self.ops[c][u].call < horizon

    def candidates(self, state: Any, horizon: int, wanted: list[Any]) -> list[int]:
        """Classes whose next token can run now and moves the state toward a wanted value."""
        if not self.ops:
            return []
        need = list(wanted)
        for v in need:  # transitive: an available info cas old->v makes `old` wanted too
            for c in self.by_new.get(v, ()):
                old = self.effect[c][0]
                if old is not _ANY and old not in need and self.available(c, horizon):
                    need.append(old)
        out: list[int] = []
        for v in need:
            if v == state:
                continue
            for c in self.by_new.get(v, ()):
                old = self.effect[c][0]
                if (old is _ANY or old == state) and self.available(c, horizon):
                    out.append(c)
        return out

    def next_bit(self, c: int) -> int:
        return self.bits[c][self.used[c]]

    def take(self, c: int) -> Operation:
        op = self.ops[c][self.used[c]]
        self.used_bits |= self.bits[c][self.used[c]]
        self.used[c] += 1
        return op

    def give_back(self, c: int) -> None:
        self.used[c] -= 1
        self.used_bits ^= self.bits[c][self.used[c]]


class _Any:
    """Marks a token with no precondition (a write)."""

    def __repr__(self) -> str:
        return "ANY"


_ANY: Any = _Any()
