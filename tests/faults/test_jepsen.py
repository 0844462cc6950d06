"""Jepsen-style runs against real process clusters (raftsql.testing.jepsen, docs/jepsen.md).

Sources of truth: the consistency contract of ARCHITECTURE.md ("Writes are linearizable",
"Interactive transactions are serializable", lease reads "linearizable under bounded clock
drift") and Raft thesis 6.4.1 (a lease is only as safe as the bound on clock drift). The
default run does one short run of each workload under kill, pause and partition faults, and
shows the suite has teeth: a leader clock running at half speed (beyond the lease margin) must
produce stale lease reads that the checker reports, while a rate within the margin must not.
``--slow`` adds 20 runs of 120 s across seeds with all five nemeses.

``RAFTSQL_JEPSEN_TIME`` overrides the length (seconds) of the short runs.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from raftsql.testing.jepsen.runner import Options, RunResult, run

SHORT = float(os.environ.get("RAFTSQL_JEPSEN_TIME", "30"))
BASIC = ["kill", "pause", "partition"]
DRIFT_TIMEOUT = 0.5
ALL = ["kill", "pause", "partition", "member", "clock"]


def _run(tmp_path: Path, **kw: object) -> tuple[RunResult, str]:
    out = io.StringIO()
    result = run(Options(out=tmp_path / "run", **kw), out)  # type: ignore[arg-type]
    text = out.getvalue()
    print(text)
    return result, text


@pytest.mark.timeout(400)
@pytest.mark.parametrize(("workload", "seed"), [("register", 1), ("set", 2), ("bank", 3)])
def test_short_run_under_kill_pause_partition_is_valid(tmp_path: Path, workload: str,
                                                       seed: int) -> None:
    result, text = _run(tmp_path, workload=workload, nemesis=BASIC, time=SHORT, seed=seed)
    assert result.verdict == "VALID", text
    ok = sum(v for k, v in result.counts.items() if k.endswith(".ok"))
    assert ok > 100, f"too little traffic to judge: {result.counts}"
    assert any("heal" in line or "restart" in line or "SIGCONT" in line
               for line in result.nemesis_log), "the nemesis did nothing"


@pytest.mark.timeout(600)
def test_leader_clock_beyond_the_lease_bound_gives_stale_lease_reads(tmp_path: Path) -> None:
    """Leader clock at 0.5: its 8-tick lease lasts 16 real ticks, longer than the followers'
    10-tick election timeout, so an isolated (not paused) old leader serves lease reads while
    the new leader commits writes. The register checker must call that INVALID. The window is
    a race, so up to four seeds are tried; each run prints its seed. Clients give up after
    0.5 s so that writers stuck on the isolated leader come back (on the new leader) within
    the few hundred milliseconds the stale lease lasts."""
    results = []
    for seed in (1, 2, 3, 4):
        result, text = _run(tmp_path / str(seed), workload="register", nemesis=["clock"],
                            clock_rate=0.5, time=SHORT, seed=seed, op_timeout=DRIFT_TIMEOUT)
        results.append((seed, result.verdict, result.anomaly))
        if result.verdict == "INVALID":
            assert "read" in result.anomaly, text
            return
    pytest.fail(f"no stale lease read found with the leader clock at 0.5: {results}")


@pytest.mark.timeout(400)
def test_leader_clock_within_the_lease_bound_gives_no_stale_reads(tmp_path: Path) -> None:
    """Leader clock at 0.95: the lease (8 ticks) lasts 8.4 real ticks < the 10-tick election
    timeout, so the same schedule must stay linearizable."""
    result, text = _run(tmp_path, workload="register", nemesis=["clock"], clock_rate=0.95,
                        time=SHORT, seed=1, op_timeout=DRIFT_TIMEOUT)
    assert result.verdict == "VALID", text
    assert any("isolate leader" in line for line in result.nemesis_log), text


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_linearizable_reads_need_no_clock_bound(tmp_path: Path) -> None:
    """ReadIndex (``linearizable``) confirms leadership with a quorum round and makes no clock
    assumption (Raft thesis 6.4), so the schedule that breaks lease reads at rate 0.5 stays
    linearizable."""
    result, text = _run(tmp_path, workload="register", nemesis=["clock"], clock_rate=0.5,
                        time=SHORT, seed=1, op_timeout=DRIFT_TIMEOUT,
                        read_level="linearizable")
    assert result.verdict == "VALID", text


SOAK = [(seed, ("register", "set", "bank")[seed % 3], 5 if seed % 4 == 0 else 3)
        for seed in range(1, 21)]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("seed", "workload", "nodes"), SOAK)
def test_long_run_with_every_nemesis_is_valid(tmp_path: Path, seed: int, workload: str,
                                              nodes: int) -> None:
    result, text = _run(tmp_path, workload=workload, nemesis=ALL, time=120, seed=seed,
                        nodes=nodes)
    assert result.verdict == "VALID", text
