"""Smoke test of bench/compare.py: its ``--quick`` mode runs end to end against real servers
and prints the documented output (docs/benchmarks.md, "Side by side"). It checks the shape of
the report, never timings: figures from a shared machine are not assertions."""

from __future__ import annotations

import json
import os
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
    baselines = {(r["workload"], r["baseline"]) for r in report["ratios"]}
    assert ("upsert", "postgres upsert") in baselines
    assert ("select:stale", "postgres select") in baselines
