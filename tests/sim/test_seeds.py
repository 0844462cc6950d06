"""Randomized simulation: 2,000 seeds across cluster sizes and fault mixes, plus the corpus.

Source of truth: the Raft paper's safety properties (Figure 3) and Raft thesis 6.3/6.4 for
client semantics, as encoded by raftsql/testing/checkers.py and history.py; TigerBeetle's VOPR
for the method (seeded swarm runs, safety then liveness). A failure message carries the exact
replay command. Seeds are split into batches so that pytest-xdist spreads them over cores.
"""

from __future__ import annotations

import pytest

from raftsql.testing.vopr import DEFAULT_TICKS, load_corpus, replay_command, run_seed

BATCHES = 20
PER_BATCH = 100
BASE = 0


def _run(seeds: list[int]) -> None:
    failures = []
    for seed in seeds:
        res, _ = run_seed(seed)
        if not res.ok:
            first = res.error.splitlines()[0]
            failures.append(
                f"seed {seed}: {first}\n  replay: {replay_command(seed, DEFAULT_TICKS, None)}"
            )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_seeds(batch: int) -> None:
    start = BASE + batch * PER_BATCH
    _run(list(range(start, start + PER_BATCH)))


def test_regression_corpus() -> None:
    """Every seed that ever failed stays in tests/sim/seeds.txt and must pass forever."""
    _run(load_corpus())
