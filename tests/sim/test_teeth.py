"""The simulator has teeth: each of five injected Raft bugs is caught.

Source of truth: the bugs and why each is unsafe — Raft paper 5.4.2 and Figure 8 (commit by
counting replicas of an old term), Figure 2 "persist before responding" (vote not persisted),
5.4.1 (vote for a less up-to-date log), thesis 6.4.1 (lease read after expiry), 5.3 (apply only
committed entries). Each bug is injected by monkeypatching (raftsql/testing/mutations.py); the
core's source is never changed. The seeds were found by
``python -m raftsql.testing.vopr --seeds N --start 0 --mutation M``; if the core changes so
much that a pinned seed no longer reaches the bug, search again with that command and re-pin.
"""

from __future__ import annotations

import pytest

from raftsql.testing.mutations import MUTATIONS, mutated
from raftsql.testing.vopr import run_seed

FINDING_SEEDS = {
    "figure8": 8336,
    "vote_not_persisted": 571,
    "stale_vote": 23,
    "lease_never_expires": 285,
    "apply_uncommitted": 0,
}


def test_every_mutation_has_a_seed() -> None:
    assert set(FINDING_SEEDS) == set(MUTATIONS)


@pytest.mark.parametrize("name", sorted(FINDING_SEEDS))
def test_mutation_is_caught(name: str) -> None:
    seed = FINDING_SEEDS[name]
    assert run_seed(seed)[0].ok, "the seed must pass on the real core"
    with mutated(name):
        res, _ = run_seed(seed)
    assert not res.ok, f"mutation {name} not caught by seed {seed}"
