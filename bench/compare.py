"""raftsql side by side with PostgreSQL 15 and etcd, in the same run, under the same load.

Starts a raftsql cluster (``--nodes``, default 3), one PostgreSQL 15 (fsync on,
synchronous_commit on) and, when ``etcd`` is installed, an etcd cluster of the same size, all on
127.0.0.1 with temporary data dirs.
Drives each with the same closed-loop load generator (bench/loadgen.py) at each client count:

- ``upsert``: ``INSERT ... ON CONFLICT (k) DO UPDATE`` of one random key of 1000 (etcd: put);
- ``select:<level>``: point SELECT by key at each read level (raftsql lease, linearizable,
  stale; PostgreSQL has one; etcd linearizable and serializable);
- ``tpcb`` and ``select-only``: pgbench's TPC-B-like and ``-S`` scripts, ``-M prepared
  --max-tries 10``, scale 1 (SQL systems only);
- ``ceiling``: asyncpg ``SELECT 1`` against PostgreSQL, the load generator's own ceiling: a
  figure near it is bound by the client, not by the server under test.

Writes always go to the leader. Reads do too unless ``--spread``: then the read clients
connect round robin to ALL raftsql nodes (a follower serves ``linearizable`` and ``stale``
reads itself, after asking the leader for a read index for the former; it forwards ``lease``
reads to the leader) and the etcd read clients round robin to all members alike.

Every configuration is repeated (``--repeats``, default 3) with the systems alternating within
each repetition, so a change in machine load hits all of them alike; the medians are printed,
then raftsql's throughput and p50 ratios to each baseline, then issue 8's acceptance lines
(``LINES``) judged from those medians. Columns: ops/s, p50/p99/max latency (ms), server CPU ms
per operation (whole process trees), peak PSS of the servers (MiB), cores used by the load
generator, and ``CB`` when the generator used more than 85% of a core.

    python3 bench/compare.py [--quick] [--seconds 5] [--clients 1,16,64] [--repeats 3]
                             [--nodes 3] [--spread] [--no-etcd] [--json out.json]
                             [--workloads upsert,select:lease]

Before every run it waits (up to 15 s) for the servers of all systems to go idle, so work
left behind by the previous run (raftsql's checkpoint hashing or a snapshot after writes,
PostgreSQL's checkpointer) is not charged to the next one; a wait over 2 s is printed.

``--clients`` up to 256 (e.g. ``1,4,16,64,128,256``): PostgreSQL is started with enough
``max_connections``; check the ``ceiling`` row and the client-cores column for where the single
load-generator process (asyncpg, one core) becomes the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # raftsql without an install

import loadgen  # noqa: E402 - bench/ siblings, after the path fix-up
import procstats  # noqa: E402
from loadgen import CLIENT_BOUND, EtcdHttp, RunResult  # noqa: E402
from systems import EtcdSystem, EtcdUnavailable, PostgresSystem, RaftsqlSystem  # noqa: E402

Runner = Callable[[int, float], Coroutine[Any, Any, RunResult]]

# baselines for each raftsql workload: (system, workload) whose figure raftsql is divided by
BASELINES: dict[str, dict[str, str]] = {
    "upsert": {"postgres": "upsert", "etcd": "upsert"},
    "select:lease": {"postgres": "select", "etcd": "select:linearizable"},
    "select:linearizable": {"postgres": "select", "etcd": "select:linearizable"},
    "select:stale": {"postgres": "select", "etcd": "select:serializable"},
    "tpcb": {"postgres": "tpcb"},
    "select-only": {"postgres": "select-only"},
}


@dataclass(frozen=True)
class Line:
    """One of issue 8's acceptance lines, as this benchmark measures it: raftsql's ``workload``
    at ``clients`` against the ``baseline`` system's counterpart in BASELINES, its throughput at
    least ``target`` times the baseline's; or, without a baseline, its p50 at most ``target``
    ms."""

    what: str
    workload: str
    clients: int
    baseline: str | None
    target: float


LINES = (
    Line("writes, 64 clients, vs etcd put", "upsert", 64, "etcd", 1.5),
    Line("writes, 64 clients, vs PostgreSQL upsert", "upsert", 64, "postgres", 0.7),
    Line("writes, 1 client, p50 ms", "upsert", 1, None, 1.0),
    Line("lease reads, 64 clients, vs etcd linearizable", "select:lease", 64, "etcd", 2.0),
    Line("lease reads, 64 clients, vs PostgreSQL select", "select:lease", 64, "postgres", 0.5),
    Line("linearizable reads, 64 clients, vs etcd linearizable", "select:linearizable", 64,
         "etcd", 1.2),
    Line("pgbench TPC-B, 16 clients, vs PostgreSQL, 0 failed", "tpcb", 16, "postgres", 0.5),
)


def acceptance(medians: dict[tuple[str, str, int], dict[str, float]],
               most_errors: dict[tuple[str, str, int], float]) -> list[dict[str, Any]]:
    """Each line of LINES whose configurations ran: its value and whether it is met. A line is
    not met when raftsql had an error (a failed pgbench transaction) in any of its runs."""
    out = []
    for line in LINES:
        key = ("raftsql", line.workload, line.clients)
        mine = medians.get(key)
        if mine is None:
            continue
        if line.baseline is None:
            value = mine["p50_ms"]
            met = value <= line.target
        else:
            base_workload = BASELINES[line.workload][line.baseline]
            base = medians.get((line.baseline, base_workload, line.clients))
            if base is None or not base["ops_per_s"]:
                continue
            value = mine["ops_per_s"] / base["ops_per_s"]
            met = value >= line.target
        errors = most_errors.get(key, 0.0)
        out.append({"line": line.what, "target": line.target, "at_most": line.baseline is None,
                    "value": value, "errors": errors, "met": met and not errors})
    return out


def sql_runner(dsn: str | list[str], pids: list[int], workload: str,
               level: str | None) -> Runner:
    async def run(clients: int, seconds: float) -> RunResult:
        conns = await loadgen.sql_connect(dsn, clients, level)
        try:
            ops = loadgen.sql_ops(conns, workload)
            # one warm-up round so every prepared statement exists before the clock starts
            await asyncio.gather(*(op(0) for op in ops))
            return await loadgen.closed_loop(ops, seconds, pids)
        finally:
            await asyncio.gather(*(c.close(timeout=10) for c in conns), return_exceptions=True)

    return run


def with_leader_figures(rs: RaftsqlSystem, run: Runner, writes: bool) -> Runner:
    """Adds the cores the leader's event-loop thread used (its serial work: near 1.0, the
    leader's one core bounds the figure, whatever the machine has left) and, for ``writes``,
    the leader's fsyncs/s and writes per fsync (group commit shows as many writes per fsync
    once several clients write at once)."""

    async def wrapped(clients: int, seconds: float) -> RunResult:
        m0 = await asyncio.to_thread(rs.leader_metrics)
        r = await run(clients, seconds)
        m1 = await asyncio.to_thread(rs.leader_metrics)
        r.extra = {"leader_loop_cores": (m1["loop_cpu"] - m0["loop_cpu"]) / r.seconds
                   if r.seconds else 0.0}
        if writes:
            fsyncs = m1["fsyncs"] - m0["fsyncs"]
            r.extra["leader_fsyncs_per_s"] = fsyncs / r.seconds if r.seconds else 0.0
            r.extra["ops_per_fsync"] = r.ops / fsyncs if fsyncs else 0.0
        return r

    return wrapped


def etcd_runner(ports: list[int], pids: list[int], workload: str, serializable: bool) -> Runner:
    async def run(clients: int, seconds: float) -> RunResult:
        conns = [await EtcdHttp.connect(ports[i % len(ports)]) for i in range(clients)]
        try:
            ops = loadgen.etcd_ops(conns, workload, serializable)
            return await loadgen.closed_loop(ops, seconds, pids)
        finally:
            for c in conns:
                c.close()

    return run


def pgbench_runner(args: list[str], pids: list[int], select_only: bool) -> Runner:
    async def run(clients: int, seconds: float) -> RunResult:
        return await asyncio.to_thread(
            loadgen.pgbench_run, args, clients, seconds, select_only, pids
        )

    return run


async def setup(args: argparse.Namespace, stack: contextlib.ExitStack
                ) -> tuple[dict[tuple[str, str], Runner], list[int], RaftsqlSystem]:
    """Start the systems, load their data; return a runner per (system, workload), the
    server processes of all systems and the raftsql cluster."""
    runners: dict[tuple[str, str], Runner] = {}
    t0 = time.monotonic()
    # both accept every client of the largest run plus the set-up and pgbench connections
    max_conns = max(120, max(args.clients) + 30)
    rs = stack.enter_context(RaftsqlSystem(args.nodes, max_connections=max_conns))
    pg = stack.enter_context(PostgresSystem(max_connections=max_conns))
    print(f"# started raftsql (leader node {rs.leader}) and postgres in "
          f"{time.monotonic() - t0:.1f}s", flush=True)

    def figures(system: object, run: Runner, writes: bool) -> Runner:
        """raftsql's runners also report the leader's figures (`with_leader_figures`)."""
        return with_leader_figures(rs, run, writes) if system is rs else run

    for system in (rs, pg):
        await loadgen.sql_setup(system.dsn)
        levels: tuple[str | None, ...] = (
            ("lease", "linearizable", "stale") if system is rs else (None,)
        )
        upsert = sql_runner(system.dsn, system.pids, "upsert", None)
        runners[(system.name, "upsert")] = figures(system, upsert, True)
        readers = rs.dsns if system is rs and args.spread else system.dsn
        for level in levels:
            name = f"select:{level}" if level else "select"
            runners[(system.name, name)] = figures(
                system, sql_runner(readers, system.pids, "select", level), False)
        if args.pgbench:
            t1 = time.monotonic()
            await asyncio.to_thread(loadgen.pgbench_init, system.pgbench_args, args.scale)
            print(f"# pgbench -i -s {args.scale} on {system.name}: "
                  f"{time.monotonic() - t1:.1f}s", flush=True)
            runners[(system.name, "tpcb")] = figures(
                system, pgbench_runner(system.pgbench_args, system.pids, False), False)
            runners[(system.name, "select-only")] = figures(
                system, pgbench_runner(system.pgbench_args, system.pids, True), False)
    runners[("client", "ceiling")] = sql_runner(pg.dsn, pg.pids, "select1", None)
    server_pids = rs.pids + pg.pids
    if args.etcd:
        try:
            et = stack.enter_context(EtcdSystem(args.nodes))
        except EtcdUnavailable as exc:
            print(f"# etcd skipped: {exc}", flush=True)
        else:
            await loadgen.etcd_setup(et.leader_port)
            print(f"# started etcd ({args.nodes} members)", flush=True)
            etcd_readers = et.ports if args.spread else [et.leader_port]
            runners[("etcd", "upsert")] = etcd_runner([et.leader_port], et.pids, "upsert", False)
            runners[("etcd", "select:linearizable")] = etcd_runner(
                etcd_readers, et.pids, "select", False
            )
            runners[("etcd", "select:serializable")] = etcd_runner(
                etcd_readers, et.pids, "select", True
            )
            server_pids += et.pids
    return runners, server_pids, rs


async def quiesce(pids: list[int], idle_cores: float = 0.15, window: float = 0.3,
                  limit: float = 15.0) -> float:
    """Wait until the servers of every system together use less than ``idle_cores`` over a
    ``window``, so work left behind by the previous run (raftsql's checkpoint hashing and
    snapshots after writes, PostgreSQL's checkpointer and autovacuum) does not land in the
    next system's measurement. Returns the seconds waited (at most ``limit``)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = procstats.cpu_seconds(pids)
        await asyncio.sleep(window)
        if (procstats.cpu_seconds(pids) - c0) / window < idle_cores:
            break
    return time.monotonic() - t0


def median_summary(results: list[RunResult]) -> dict[str, float]:
    summaries = [r.summary() for r in results]
    return {k: statistics.median(s[k] for s in summaries) for k in summaries[0]}


HEADER = (f"{'system':<9} {'workload':<20} {'clients':>7} {'ops/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'srv cpu ms/op':>13} {'srv MiB':>8} {'client cores':>12}")


def row(system: str, workload: str, clients: int, s: dict[str, float]) -> str:
    flag = " CB" if s["client_cores"] > CLIENT_BOUND else ""
    err = f" errors={s['errors']:.0f}" if s["errors"] else ""
    return (f"{system:<9} {workload:<20} {clients:>7} {s['ops_per_s']:>9.0f} {s['p50_ms']:>8.2f} "
            f"{s['p99_ms']:>8.2f} {s['max_ms']:>8.1f} {s['server_cpu_ms_per_op']:>13.3f} "
            f"{s['peak_mem_mib']:>8.0f} {s['client_cores']:>12.2f}{flag}{err}")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    print(f"# compare: clients={args.clients} seconds={args.seconds} repeats={args.repeats} "
          f"pgbench={args.pgbench} scale={args.scale} etcd={args.etcd} nodes={args.nodes} "
          f"spread={args.spread}", flush=True)
    print(f"# commit {loadgen.commit_line()}", flush=True)
    with open("/proc/loadavg") as f:
        print(f"# load average at start: {' '.join(f.read().split()[:3])}", flush=True)
    results: dict[tuple[str, str, int], list[RunResult]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        runners, server_pids, rs = await setup(args, stack)
        if args.workloads:
            wanted = set(args.workloads)
            for w in args.workloads:
                wanted.update(BASELINES.get(w, {}).values())
            runners = {k: r for k, r in runners.items()
                       if k[1] in wanted or k[0] == "client"}
        for rep in range(args.repeats):
            for clients in args.clients:
                for (system, workload), run in runners.items():
                    waited = await quiesce(server_pids)
                    if waited > 2:
                        print(f"# waited {waited:.1f}s for the servers to go idle before "
                              f"{system} {workload} {clients}", flush=True)
                    r = await run(clients, args.seconds)
                    if r.first_error:
                        print(f"# {system} {workload} {clients} clients: {r.errors} errors, "
                              f"first: {r.first_error}", flush=True)
                    results[(system, workload, clients)].append(r)
                    if system == "raftsql":
                        leader = await asyncio.to_thread(rs.cluster.wait_for_leader, 10.0)
                        if leader != rs.leader:
                            # the runners keep addressing the first leader: such runs went
                            # through a follower and are flagged, not silently mixed in
                            print(f"# raftsql's leader changed from node {rs.leader} to "
                                  f"{leader} by the end of {workload} {clients}: the runs "
                                  f"after it address a follower", flush=True)
                            rs.leader = leader
            print(f"# repetition {rep + 1}/{args.repeats} done", flush=True)
    with open("/proc/loadavg") as f:
        print(f"# load average at end: {' '.join(f.read().split()[:3])}", flush=True)

    medians = {key: median_summary(rs) for key, rs in results.items()}
    print(f"\n## medians of {args.repeats} runs")
    print(HEADER)
    for (system, workload, clients), s in sorted(medians.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        print(row(system, workload, clients, s))

    print("\n## raftsql group commit (leader fsyncs/s during upsert runs)")
    for clients in args.clients:
        up = medians.get(("raftsql", "upsert", clients))
        if up is not None and "ops_per_fsync" in up:
            print(f"{clients:>7} clients: {up['ops_per_s']:.0f} writes/s, "
                  f"{up['leader_fsyncs_per_s']:.0f} fsyncs/s, {up['ops_per_fsync']:.1f} writes per fsync")

    print("\n## raftsql leader's event-loop thread (cores; near 1.0 it bounds the figure)")
    loops = {(w, c): s["leader_loop_cores"] for (system, w, c), s in medians.items()
             if system == "raftsql" and "leader_loop_cores" in s}
    print(f"{'workload':<20} " + " ".join(f"{c:>7}" for c in args.clients))
    for workload in sorted({w for w, _ in loops}):
        print(f"{workload:<20} " + " ".join(
            f"{loops[(workload, c)]:>7.2f}" if (workload, c) in loops else f"{'':>7}"
            for c in args.clients))

    print("\n## raftsql / baseline (throughput ratio, p50 latency ratio)")
    print(f"{'workload':<20} {'clients':>7} {'baseline':<30} {'ops/s ratio':>11} {'p50 ratio':>9}")
    ratios = []
    for workload, bases in BASELINES.items():
        for clients in args.clients:
            mine = medians.get(("raftsql", workload, clients))
            if mine is None:
                continue
            for base_sys, base_wl in bases.items():
                base = medians.get((base_sys, base_wl, clients))
                if base is None or not base["ops_per_s"]:
                    continue
                ratio = mine["ops_per_s"] / base["ops_per_s"]
                lat = mine["p50_ms"] / base["p50_ms"] if base["p50_ms"] else 0.0
                ratios.append({"workload": workload, "clients": clients,
                               "baseline": f"{base_sys} {base_wl}",
                               "throughput_ratio": ratio, "p50_ratio": lat})
                print(f"{workload:<20} {clients:>7} {base_sys + ' ' + base_wl:<30} "
                      f"{ratio:>11.3f} {lat:>9.2f}")
    print("\n## issue 8 acceptance lines (medians of this run; see docs/benchmarks.md)")
    lines = acceptance(medians, {key: max(r.errors for r in runs)
                                 for key, runs in results.items()})
    for a in lines:
        sign = "<=" if a["at_most"] else ">="
        errors = f", {a['errors']:.0f} errors" if a["errors"] else ""
        print(f"{a['line']:<55} {a['value']:>7.3f} (target {sign} {a['target']}{errors}): "
              f"{'met' if a['met'] else 'NOT met'}")
    if not lines:
        print("(none of the lines' configurations ran: they need 1, 16 and 64 clients)")
    return {
        "params": {k: v for k, v in vars(args).items() if k != "json"},
        "acceptance": lines,
        "medians": [{"system": s, "workload": w, "clients": c, **m}
                    for (s, w, c), m in medians.items()],
        "ratios": ratios,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, help="per run (default 5; --quick 1)")
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")],
                        help="client counts (default 1,16,64; --quick 1,4)")
    parser.add_argument("--repeats", type=int, help="runs per configuration (default 3; --quick 1)")
    parser.add_argument("--scale", type=int, default=1, help="pgbench scale factor")
    parser.add_argument("--nodes", type=int, default=3,
                        help="raftsql cluster size (etcd the same)")
    parser.add_argument("--spread", action="store_true",
                        help="read clients round robin over all raftsql nodes / etcd members "
                             "(default: the leader only)")
    parser.add_argument("--no-pgbench", dest="pgbench", action="store_false")
    parser.add_argument("--no-etcd", dest="etcd", action="store_false")
    parser.add_argument("--quick", action="store_true",
                        help="seconds, not minutes: 1 s runs, 1 and 4 clients, 1 repetition, "
                             "no pgbench (its -i load dominates); checks the harness, not speed; "
                             "explicit options override these")
    parser.add_argument("--workloads", type=lambda s: set(s.split(",")),
                        help="run only these workloads (e.g. upsert,select:lease; the "
                             "baselines' counterparts are kept): a targeted re-run")
    parser.add_argument("--json", help="also write the medians and ratios to this file")
    args = parser.parse_args(argv)
    quick = args.quick
    # --quick changes the defaults only: explicit options still win
    args.seconds = args.seconds if args.seconds is not None else (1.0 if quick else 5.0)
    args.clients = args.clients if args.clients is not None else ([1, 4] if quick else [1, 16, 64])
    args.repeats = args.repeats if args.repeats is not None else (1 if quick else 3)
    args.pgbench = args.pgbench and not quick
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        out = uvloop.run(main_async(args))
    except ImportError:
        out = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
