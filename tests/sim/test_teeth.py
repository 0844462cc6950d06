"""The simulator has teeth: each of six injected Raft bugs is caught.

Source of truth: the bugs and why each is unsafe — Raft paper 5.4.2 and Figure 8 (commit by
counting replicas of an old term), Figure 2 "persist before responding" (vote not persisted),
5.4.1 (vote for a less up-to-date log), thesis 6.4.1 (lease read after expiry, and after a
stalled event loop dropped the ticks it could not deliver), 5.3 (apply only committed entries). Each bug is injected by monkeypatching (raftsql/testing/mutations.py); the
core's source is never changed. The seeds were found by
``python -m raftsql.testing.vopr --seeds N --start 0 --mutation M``; if the core changes so
much that a pinned seed no longer reaches the bug, search again with that command and re-pin.
"""

from __future__ import annotations

import pytest

from raftsql.testing.mutations import MUTATIONS, mutated
from raftsql.testing.vopr import run_seed

# Re-pinned when the stall fault came (issue 8, fourteenth round): it changed the runs of the
# seeds that draw it (8336, 571, 23 and 285 were pinned before).
FINDING_SEEDS = {
    "figure8": 8521,
    "vote_not_persisted": 530,
    "stale_vote": 4,
    "lease_never_expires": 686,
    "apply_uncommitted": 0,
    "stall_as_one_tick": 232,
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
