"""Smoke tests of the bench scripts: each runs end to end against real servers (or, for
bench/write_floor.c, real processes, sockets and files) and prints its documented output
(docs/benchmarks.md). They check the shape of the output, never timings: figures from a
shared machine are not assertions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from raftsql.testing.pgserver import _find

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_compare_quick_prints_medians_and_ratios(tmp_path: Path) -> None:
    if _find("postgres") is None:
        pytest.skip("PostgreSQL 15 binaries are not installed")
    out_json = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--quick", "--no-etcd",
         "--seconds", "0.5", "--clients", "2", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    # parameters first, so a figure can be reproduced from the output (docs/benchmarks.md)
    assert out.startswith("# compare: clients=[2] seconds=0.5 repeats=1")
    assert "## medians of 1 runs" in out
    assert "## raftsql / baseline" in out
    assert "## raftsql group commit" in out and "writes per fsync" in out
    assert "## issue 8 acceptance lines" in out  # with 2 clients no line's configuration ran
    rows = {tuple(line.split()[:3]) for line in out.splitlines() if line[:1].isalpha()}
    for system, workload in [
        ("raftsql", "upsert"),
        ("raftsql", "select:lease"),
        ("raftsql", "select:linearizable"),
        ("raftsql", "select:stale"),
        ("postgres", "upsert"),
        ("postgres", "select"),
        ("client", "ceiling"),
    ]:
        assert (system, workload, "2") in rows, (system, workload, out)

    report = json.loads(out_json.read_text())
    medians = {(m["system"], m["workload"]): m for m in report["medians"]}
    for m in medians.values():
        assert set(m) >= {"ops_per_s", "p50_ms", "p99_ms", "max_ms", "server_cpu_ms_per_op",
                          "peak_mem_mib", "client_cores", "errors"}
        assert m["ops_per_s"] > 0 and m["p50_ms"] <= m["p99_ms"] <= m["max_ms"]
        assert m["errors"] == 0, m
        assert m["peak_mem_mib"] > 0
    assert medians[("raftsql", "upsert")]["leader_fsyncs_per_s"] > 0
    assert "## raftsql leader's event-loop thread" in out
    for workload in ("upsert", "select:lease"):  # the leader's loop did some of the work
        assert 0 < medians[("raftsql", workload)]["leader_loop_cores"] < 1.5, workload
    baselines = {(r["workload"], r["baseline"]) for r in report["ratios"]}
    assert ("upsert", "postgres upsert") in baselines
    assert ("select:stale", "postgres select") in baselines


@pytest.mark.timeout(120)
def test_restart_bench_prints_stage_and_restart_rows(tmp_path: Path) -> None:
    """bench/restart_bench.py end to end on a small load: the stage table (every node's log,
    sizes and memory) and one row per restart scenario with every phase measured. Source of
    truth: the output documented in its module docstring and docs/benchmarks.md ("Scaling,
    restart and memory"). Shape only, never timings."""
    out_json = tmp_path / "restart.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "restart_bench.py"), "--writes", "2000",
         "--down-writes", "100", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith("# restart_bench: writes=[2000] rows=[] clients=64")
    assert "# commit " in out and "writes/s with 64 clients" in out
    assert "## stage writes=2,000: 2,000 upserts" in out
    scenarios = {line.split()[0] for line in out.splitlines()
                 if line.split()[:1] and line.split()[0] in
                 ("kill-follower", "kill-leader", "term-follower", "term-leader")}
    assert scenarios == {"kill-follower", "kill-leader", "term-follower", "term-leader"}, out
    assert "stores opened in-process: SQLite" in out

    (stage,) = json.loads(out_json.read_text())
    assert stage["writes"] == 2000 and stage["load_errors"] == 0
    assert set(stage["nodes"]) == {"1", "2", "3"}
    for node in stage["nodes"].values():
        # 2000 upserts + the setup statements are in every node's log, none compacted yet
        assert node["last_index"] >= 2000 and node["snapshot_index"] == 0
        assert node["pss_mib"] > 0 and node["rss_mib"] >= node["pss_mib"]
        assert node["sqlite_mib"] > 0 and node["rocksdb_mib"] > 0
    for r in stage["restarts"]:
        phases = [r[k] for k in ("open_s", "http_s", "ready_s", "replayed_s", "caught_up_s",
                                 "lease_s", "lin_s", "write_s", "serving_s")]
        assert None not in phases, r
        # the node must be open before its endpoint answers, and replayed before caught up
        assert r["open_s"] <= r["http_s"] and r["replayed_s"] <= r["caught_up_s"], r
        # 100 writes went to the others while it was down: there was something to catch up
        assert r["target_commit"] >= r["applied_before"] + 100, r
    assert stage["restarts"][1]["failover_s"] is not None  # kill-leader


@pytest.mark.timeout(60)
def test_write_floor_builds_and_prints_percentiles(tmp_path: Path) -> None:
    """bench/write_floor.c (the machine's floor for a replicated, fsynced write) builds with
    the documented command and prints its percentiles in order."""
    binary = tmp_path / "write_floor"
    build = subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(binary),
                            str(ROOT / "bench" / "write_floor.c")],
                           capture_output=True, text=True, timeout=50)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(binary), str(tmp_path), "40"],
                         capture_output=True, text=True, timeout=50)
    assert run.returncode == 0, run.stderr
    m = re.fullmatch(r"40 writes, gap 0 us: p50 (\S+) ms, p90 (\S+), p99 (\S+), max (\S+)\n",
                     run.stdout)
    assert m is not None, run.stdout
    p50, p90, p99, top = map(float, m.groups())
    assert 0 < p50 <= p90 <= p99 <= top, run.stdout
    assert sorted(p.name for p in tmp_path.glob("*.log")) == [
        "follower1.log", "follower2.log", "leader.log"]


def test_acceptance_lines_are_judged_from_the_medians_and_any_failed_run() -> None:
    """compare.py's acceptance section: a throughput ratio against its baseline, the one-client
    p50 against its bound, lines whose configurations did not run are left out, and a line
    with an error in any run (a failed pgbench transaction) is not met."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import compare
    finally:
        sys.path.remove(str(ROOT / "bench"))

    def m(ops: float, p50: float = 1.0) -> dict[str, float]:
        return {"ops_per_s": ops, "p50_ms": p50}

    medians = {
        ("raftsql", "upsert", 64): m(9000), ("etcd", "upsert", 64): m(6000),
        ("postgres", "upsert", 64): m(15000),
        ("raftsql", "upsert", 1): m(900, p50=0.99),
        ("raftsql", "tpcb", 16): m(1200), ("postgres", "tpcb", 16): m(2300),
    }
    lines = {a["line"]: a for a in compare.acceptance(medians, {})}
    assert lines["writes, 64 clients, vs etcd put"]["met"]  # 1.5x exactly
    assert lines["writes, 64 clients, vs etcd put"]["value"] == 1.5
    assert not lines["writes, 64 clients, vs PostgreSQL upsert"]["met"]  # 0.6x
    assert lines["writes, 1 client, p50 ms"]["met"]
    assert lines["pgbench TPC-B, 16 clients, vs PostgreSQL, 0 failed"]["met"]  # 0.52x
    assert not any("reads" in name for name in lines)  # not run: left out
    failed = compare.acceptance(medians, {("raftsql", "tpcb", 16): 1.0})
    tpcb = next(a for a in failed if a["line"].startswith("pgbench"))
    assert not tpcb["met"] and tpcb["errors"] == 1.0
