"""The runner's contract (STYLE.md rule 13, after TigerBeetle's VOPR): print ``SEED=`` and the
derived options first; on failure print the exact command that replays it. And liveness:
a cluster that cannot elect a leader must fail the run ("no state convergence" in vopr.zig)."""

from __future__ import annotations

import pytest

from raftsql.raft.rawnode import RawNode
from raftsql.testing.cluster import SimCluster
from raftsql.testing.mutations import mutated
from raftsql.testing.options import swarm
from raftsql.testing.vopr import main


def test_single_seed_prints_seed_first_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seed", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("SEED=5 nodes=") and "faults=" in out[0]
    assert out[-1].startswith("PASS")


def test_failure_prints_trace_and_replay_command(capsys: pytest.CaptureFixture[str]) -> None:
    with mutated("apply_uncommitted"):
        assert main(["--seed", "0", "--trace-lines", "20"]) == 1
    out = capsys.readouterr().out
    assert "FAIL in safety phase" in out
    assert "replay: python -m raftsql.testing.vopr --seed 0" in out


def test_a_cluster_without_ticks_fails_liveness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RawNode, "tick", lambda self: None)
    res = SimCluster(swarm(5)).run()
    assert not res.ok and res.phase == "liveness" and "no convergence" in res.error
