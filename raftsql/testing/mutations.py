"""Known Raft bugs, injected by monkeypatching, to prove the simulator has teeth.

Each mutation replaces one function of the core IN MEMORY for the current process (never in
the source), the way mutation testing measures a test suite: a simulator that passes with a
mutation applied cannot see that bug. ``python -m raftsql.testing.vopr --mutation NAME`` runs
seeds with one applied; ``tests/sim/test_teeth.py`` asserts each is caught.

The bugs come from the literature and from real implementations:
- ``figure8``: commit an entry from an earlier term by counting replicas (paper 5.4.2, Fig. 8);
- ``vote_not_persisted``: the vote is missing from the persisted hard state (PySyncObj #84);
- ``stale_vote``: grant a vote to a candidate whose log is less up-to-date (paper 5.4.1);
- ``lease_never_expires``: serve lease reads after the lease ran out (thesis 6.4.1);
- ``apply_uncommitted``: hand entries to the state machine before they commit (paper 5.3);
- ``stall_as_one_tick``: a leader whose event loop stalled counts the stall as one tick, so its
  lease outlives real time (thesis 6.4.1; raftsql/node/driver.py delivers every due tick).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from raftsql.raft import core, rawnode, read_only
from raftsql.raft import log as raft_log
from raftsql.raft.types import NONE


def _patch(obj: Any, name: str, fn: Callable[..., Any]) -> Callable[[], None]:
    old = getattr(obj, name)
    setattr(obj, name, fn)
    return lambda: setattr(obj, name, old)


def _figure8() -> list[Callable[[], None]]:
    def maybe_commit(self: raft_log.RaftLog, index: int, term: int) -> bool:
        if index > self.committed:  # BUG: no check that log[index].term == current term
            self.commit_to(index)
            return True
        return False

    return [_patch(raft_log.RaftLog, "maybe_commit", maybe_commit)]


def _vote_not_persisted() -> list[Callable[[], None]]:
    orig = rawnode.RawNode.ready

    def ready(self: rawnode.RawNode) -> Any:
        rd = orig(self)
        if rd.hard_state is not None:  # BUG: votedFor never reaches the disk
            rd.hard_state = dataclasses.replace(rd.hard_state, vote=NONE)
        return rd

    return [_patch(rawnode.RawNode, "ready", ready)]


def _stale_vote() -> list[Callable[[], None]]:
    def is_up_to_date(self: raft_log.RaftLog, last_index: int, term: int) -> bool:
        return True  # BUG: any candidate's log counts as up-to-date

    return [_patch(raft_log.RaftLog, "is_up_to_date", is_up_to_date)]


def _lease_never_expires() -> list[Callable[[], None]]:
    def lease_remaining(self: read_only.ReadOnly, now: int) -> int:
        return 1_000_000 if self.lease_expiry else 0  # BUG: a lease, once granted, never ends

    return [_patch(read_only.ReadOnly, "lease_remaining", lease_remaining)]


def _apply_uncommitted() -> list[Callable[[], None]]:
    # BUG: hand out everything in the log, not only up to the commit index. The core's own
    # assertions (applied <= committed) would trip first, so they are relaxed too: the point
    # is to show that the simulator's checkers see the bug on their own.
    def has_next(self: raft_log.RaftLog) -> bool:
        return self.unstable.snapshot is None and self.last_index() > self.applying

    def next_ents(self: raft_log.RaftLog) -> list:
        if not has_next(self):
            return []
        return self.slice(self.applying + 1, self.last_index() + 1, self.max_applying_size)

    def accept_applying(self: raft_log.RaftLog, index: int) -> None:
        self.applying = index

    def applied_to(self: raft_log.RaftLog, index: int) -> None:
        if index:
            self.applied = index
            self.applying = max(self.applying, index)

    def check(self: raft_log.RaftLog) -> None:
        assert self.committed <= self.last_index()

    return [
        _patch(raft_log.RaftLog, "check", check),
        _patch(raft_log.RaftLog, "has_next_committed_ents", has_next),
        _patch(raft_log.RaftLog, "next_committed_ents", next_ents),
        _patch(raft_log.RaftLog, "accept_applying", accept_applying),
        _patch(raft_log.RaftLog, "applied_to", applied_to),
    ]


def _stall_as_one_tick() -> list[Callable[[], None]]:
    orig = core.Raft.tick

    def tick(self: core.Raft, count: int = 1) -> None:
        orig(self, 1)  # BUG: the ticks a stalled loop could not deliver are dropped

    return [_patch(core.Raft, "tick", tick)]


MUTATIONS: dict[str, Callable[[], list[Callable[[], None]]]] = {
    "figure8": _figure8,
    "vote_not_persisted": _vote_not_persisted,
    "stale_vote": _stale_vote,
    "lease_never_expires": _lease_never_expires,
    "apply_uncommitted": _apply_uncommitted,
    "stall_as_one_tick": _stall_as_one_tick,
}


def apply_mutation(name: str) -> Callable[[], None]:
    """Inject mutation ``name``; returns the function that undoes it."""
    undos = MUTATIONS[name]()

    def undo() -> None:
        for u in reversed(undos):
            u()

    return undo


@contextmanager
def mutated(name: str) -> Iterator[None]:
    undo = apply_mutation(name)
    try:
        yield
    finally:
        undo()
