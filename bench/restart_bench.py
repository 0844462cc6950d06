"""Restart time of a raftsql node after many writes (issue 8: "Restart of a node after 1 M
writes: serving again in under 5 s"), and how it grows with the log and the database.

A 3-node ``raftsql serve`` cluster (fsync on, ``--snapshot-entries`` as in production) is
loaded in stages; after each stage a follower and the leader are stopped in turn (kill -9, then
SIGTERM), some writes go to the rest of the cluster while the node is down (so there is
something to catch up), and the node is started again. Measured from the moment its process
is started:

- ``open``: until the node logs "started" (interpreter + imports + SQLite open + RocksDB open
  + Raft state load + transport listening; the imports alone are measured once, separately);
- ``http``: its operations endpoint answers; ``ready``: ``/readyz`` says 200;
- ``replay``: its applied index is back where it was before the stop (the log tail after the
  snapshot, re-read and skipped by the state machine);
- ``catch-up``: its applied index reaches the leader's commit index taken at restart;
- ``lease`` / ``lin`` / ``write``: the first successful lease read, linearizable read and
  upsert through ITS Postgres port (each from its own connection, retried every 20 ms).

Writes: ``--clients`` asyncpg connections to the leader, each write one autocommit upsert (one
client statement = one Raft log entry); every other write inserts a new key, the others
overwrite one of 1000 keys. ``--rows`` stages bulk-load rows first with 1000-row INSERTs (one
log entry per 1000 rows) to reach a database size quickly. Node 1 is kept the leader and is the
leader victim, node 3 the follower victim; node 2 is never restarted, so its memory is that of
a process that took every write. Per stage it prints the write rate reached, each node's log
(first/last index, snapshot index), database and RocksDB size and RSS/PSS.

    python3 bench/restart_bench.py [--writes 1000000] [--rows 0] [--clients 64]
        [--scenarios kill-follower,kill-leader,term-follower,term-leader] [--down-writes 2000]
        [--snapshot-entries N] [--json out.json]

``--writes`` and ``--rows`` take comma lists of cumulative targets (``--writes
100000,300000,1000000`` measures restarts at each); ``--scenarios none`` only loads and
measures memory (bench/memory_bench.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # raftsql without an install

import asyncpg  # noqa: E402
import loadgen  # noqa: E402 - bench/ siblings, after the path fix-up
import memory_bench  # noqa: E402

from raftsql.testing.procs import ProcessCluster  # noqa: E402

LEADER, UNTOUCHED, FOLLOWER = 1, 2, 3
SCENARIOS = {
    "kill-follower": (FOLLOWER, signal.SIGKILL),
    "kill-leader": (LEADER, signal.SIGKILL),
    "term-follower": (FOLLOWER, signal.SIGTERM),
    "term-leader": (LEADER, signal.SIGTERM),
}
POLL_S = 0.02
SLOW_ATTEMPT_S = 0.5
PROFILE_S = 8
"""With --profile, how long py-spy samples a restarting node (from just after its start)."""
DOWN_KEYS = 500_000_000
"""Writes made while a node is down insert keys from here (clear of the main phase's)."""
_down_block = itertools.count()
STARTED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) node\d+ \S+ INFO node \d+ "
                     r"started: snapshot index (\d+), last index (\d+)")


@dataclass
class Restart:
    scenario: str
    node: int
    stop_s: float = 0.0
    """kill -9: until the process is gone; SIGTERM: the clean shutdown (a leader hands over)."""
    failover_s: float | None = None
    """Leader victims: from the stop until another node is leader."""
    applied_before: int = 0
    first_index: int = 0
    last_index: int = 0
    snapshot_index: int = 0
    target_commit: int = 0
    """The leader's commit index when the node was started again (catch-up target)."""
    replay_entries: int = 0
    """Entries between the node's snapshot and its applied index (re-read on restart)."""
    open_s: float | None = None
    http_s: float | None = None
    ready_s: float | None = None
    replayed_s: float | None = None
    caught_up_s: float | None = None
    lease_s: float | None = None
    lin_s: float | None = None
    write_s: float | None = None
    snapshot_after: int = 0
    """Snapshot index once caught up."""
    slow_attempts: list[str] = field(default_factory=list)
    """Failed first-read/write attempts: the ones that took long, and a count per error
    (see ``first_success``)."""
    profile: list[str] = field(default_factory=list)
    """With --profile: the functions the restarting process spent its CPU samples in."""
    snapshot_received: bool = False
    """The leader had compacted past the node's log and sent it a snapshot (the whole
    database) instead of entries: a newer snapshot the node did not take itself."""

    @property
    def serving_s(self) -> float | None:
        """Serving again: ready, and a read and a write through its port both succeeded."""
        parts = (self.ready_s, self.lease_s, self.write_s)
        return None if None in parts else max(p for p in parts if p is not None)


@dataclass
class Stage:
    label: str
    writes: int
    rows_loaded: int
    load_rate: float
    load_errors: int
    load_client_cores: float
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)
    restarts: list[Restart] = field(default_factory=list)


def http_get(cluster: ProcessCluster, node_id: int, path: str) -> tuple[int, bytes]:
    url = f"http://{cluster.nodes[node_id].http_addr}{path}"
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def ensure_leader(cluster: ProcessCluster, want: int = LEADER, timeout: float = 60.0) -> None:
    """Transfer leadership to ``want`` (the benchmark's fixed roles, see the module doc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = cluster.wait_for_leader(30.0)
        if leader == want:
            return
        with contextlib.suppress(OSError, ValueError):
            cluster.http(leader, f"/cluster/transfer?id={want}", "POST", 10)
        time.sleep(0.3)
    raise TimeoutError(f"node {want} did not become leader")


def started_at(log_path: Path, offset: int) -> float | None:
    """Wall-clock time of the node's "started" log line written after ``offset``."""
    with open(log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    for line in text.splitlines():
        m = STARTED.match(line)
        if m:
            return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def poll_http(cluster: ProcessCluster, r: Restart, t0: float, deadline: float) -> None:
    """Fill in http/ready/replayed/caught-up times by polling the restarted node."""
    while time.time() < deadline and (r.ready_s is None or r.caught_up_s is None):
        code, body = http_get(cluster, r.node, "/status")
        now = time.time() - t0
        if code == 200:
            r.http_s = r.http_s if r.http_s is not None else now
            applied = json.loads(body)["applied_index"]
            if r.replayed_s is None and applied >= r.applied_before:
                r.replayed_s = now
            if r.caught_up_s is None and applied >= r.target_commit:
                r.caught_up_s = now
        if r.ready_s is None and code == 200 and http_get(cluster, r.node, "/readyz")[0] == 200:
            r.ready_s = time.time() - t0
        time.sleep(POLL_S)


async def first_success(dsn: str, statements: list[tuple[str, tuple[Any, ...]]], t0: float,
                        deadline: float, slow: list[str], label: str) -> float | None:
    """Seconds from ``t0`` until ``statements`` all succeed on one connection to ``dsn``.
    A failed attempt that took longer than ``SLOW_ATTEMPT_S`` is described in ``slow``: a probe
    that succeeds late because one attempt hung (a timeout inside the node) must say so."""
    conn: asyncpg.Connection | None = None
    failures: dict[str, int] = {}
    try:
        while time.time() < deadline:
            t_try = time.time()
            try:
                if conn is None:
                    conn = await asyncpg.connect(dsn, timeout=2)
                for sql, params in statements:
                    await conn.execute(sql, *params)
                if failures:
                    slow.append(f"{label}: {sum(failures.values())} failed attempts before the "
                                "first success: " + ", ".join(
                                    f"{code} x{n}" for code, n in sorted(failures.items())))
                return time.time() - t0
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                took = time.time() - t_try
                code = getattr(exc, "sqlstate", None) or type(exc).__name__
                failures[code] = failures.get(code, 0) + 1
                if took > SLOW_ATTEMPT_S:
                    slow.append(f"{label}: attempt at {t_try - t0:.2f} s failed after "
                                f"{took:.2f} s with {code}: {str(exc)[:120]}")
                if conn is not None and conn.is_closed():
                    conn = None
                await asyncio.sleep(POLL_S)
        return None
    finally:
        if conn is not None:
            await conn.close(timeout=5)


async def restart_once(cluster: ProcessCluster, name: str, down_writes: int,
                       timeout: float, profile: Path | None = None) -> Restart:
    node_id, sig = SCENARIOS[name]
    await asyncio.to_thread(ensure_leader, cluster)
    await asyncio.to_thread(cluster.wait_converged, 60.0)
    st = cluster.status(node_id) or {}
    r = Restart(name, node_id, applied_before=st["applied_index"], first_index=st["first_index"],
                last_index=st["last_index"], snapshot_index=st["snapshot_index"])
    r.replay_entries = r.applied_before - r.snapshot_index
    t_stop = time.monotonic()
    await asyncio.to_thread(cluster.kill, node_id, sig)
    r.stop_s = time.monotonic() - t_stop
    others = [i for i in cluster.nodes if i != node_id]
    leader = await asyncio.to_thread(cluster.wait_for_leader, 30.0, others)
    if node_id == LEADER:
        r.failover_s = time.monotonic() - t_stop
    if down_writes:
        prog = await loadgen.write_load(cluster.nodes[leader].pg_dsn, down_writes, 16,
                                        DOWN_KEYS + next(_down_block) * 1_000_000,
                                        report_every=3600)
        if prog.errors:
            print(f"#   {prog.errors} errors while the node was down: {prog.first_error}")
    r.target_commit = (cluster.status(leader) or {}).get("commit_index", 0)

    offset = cluster.nodes[node_id].log_path.stat().st_size
    t0 = time.time()
    deadline = t0 + timeout
    cluster.start(node_id)
    spy = start_profiler(cluster, node_id, profile)
    dsn = cluster.nodes[node_id].pg_dsn
    hot = (0, loadgen.PAYLOAD)
    poller = asyncio.to_thread(poll_http, cluster, r, t0, deadline)
    r.lease_s, r.lin_s, r.write_s, _ = await asyncio.gather(
        first_success(dsn, [(loadgen.SELECT, (1,))], t0, deadline, r.slow_attempts, "lease"),
        first_success(dsn, [("SET raftsql.read_consistency = 'linearizable'", ()),
                            (loadgen.SELECT, (1,))], t0, deadline, r.slow_attempts, "lin"),
        first_success(dsn, [(loadgen.UPSERT, hot)], t0, deadline, r.slow_attempts, "write"),
        poller,
    )
    if spy is not None and profile is not None:
        await asyncio.to_thread(spy.wait, PROFILE_S + 30)
        r.profile = profile_summary(profile)
    started = started_at(cluster.nodes[node_id].log_path, offset)
    r.open_s = started - t0 if started is not None else None
    await asyncio.to_thread(cluster.wait_converged, 120.0)
    r.snapshot_after = (cluster.status(node_id) or {}).get("snapshot_index", 0)
    own = own_snapshots(cluster.nodes[node_id].log_path, offset)
    r.snapshot_received = r.snapshot_after > r.snapshot_index and r.snapshot_after not in own
    return r


def own_snapshots(log_path: Path, offset: int) -> set[int]:
    """Indexes of the snapshots the node logged taking itself after ``offset``."""
    with open(log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return {int(m) for m in re.findall(r"snapshot at (\d+), log compacted", text)}


def start_profiler(cluster: ProcessCluster, node_id: int,
                   out: Path | None) -> subprocess.Popen[bytes] | None:
    """py-spy attached to the just-started node (it misses the first few milliseconds)."""
    proc = cluster.nodes[node_id].proc
    if out is None or proc is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(proc.pid), "--duration", str(PROFILE_S),
         "--rate", "100", "--format", "raw", "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_summary(path: Path, top: int = 12) -> list[str]:
    """A flat profile of the restart: each CPU sample is charged to "imports" when the
    interpreter was importing a module, else to the innermost raftsql (or apsw/rocksdict)
    function on its stack, so the shares say which code the restart spent its CPU in."""
    if not path.exists():
        return ["(no profile written: is py-spy installed and allowed to attach?)"]
    total = 0
    flat: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")  # root first, innermost last
        if any(f.startswith("_find_and_load ") for f in frames):
            key = "imports (interpreter importing modules)"
        else:
            ours = [f for f in frames if "raftsql/" in f or "apsw" in f or "rocksdict" in f]
            key = ours[-1].rsplit(":", 1)[0] + ")" if ours else frames[-1].rsplit(":", 1)[0] + ")"
        flat[key] = flat.get(key, 0) + n
    ranked = sorted(flat.items(), key=lambda kv: -kv[1])[:top]
    return [f"{n / total:6.1%}  {frame}" for frame, n in ranked] + [
        f"({total} samples at 100 Hz: {total / 100:.1f} s running or runnable)"]


def describe_nodes(cluster: ProcessCluster) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for i, node in cluster.nodes.items():
        st = cluster.status(i) or {}
        mem = memory_bench.node_memory(node.proc.pid) if node.proc is not None else None
        out[i] = {
            "role": st.get("role"), "term": st.get("term"),
            "leader_changes": st.get("metrics", {}).get("leader_changes"),
            "first_index": st.get("first_index"),
            "last_index": st.get("last_index"), "snapshot_index": st.get("snapshot_index"),
            "applied_index": st.get("applied_index"),
            **asdict(memory_bench.disk_sizes(node.data_dir)),
            **(asdict(mem) if mem is not None else {}),
        }
    return out


def fmt(x: float | None, width: int = 7) -> str:
    return f"{'-':>{width}}" if x is None else f"{x:>{width}.2f}"


def print_stage(s: Stage) -> None:
    print(f"\n## stage {s.label}: {s.writes:,} upserts and {s.rows_loaded:,} bulk rows so far")
    print(f"{'node':>4} {'role':<9} {'term':>5} {'first':>9} {'last':>9} {'snapshot':>9} {'sqlite MiB':>10} "
          f"{'rocksdb MiB':>11} {'snaps MiB':>9} {'RSS MiB':>8} {'PSS MiB':>8} {'anon MiB':>8}")
    for i, n in s.nodes.items():
        print(f"{i:>4} {n['role'] or '?':<9} {n['term'] or 0:>5} {n['first_index']:>9} {n['last_index']:>9} "
              f"{n['snapshot_index']:>9} {n['sqlite_mib']:>10.1f} {n['rocksdb_mib']:>11.1f} "
              f"{n['snapshots_mib']:>9.1f} {n.get('rss_mib', 0):>8.1f} {n.get('pss_mib', 0):>8.1f} "
              f"{n.get('anon_mib', 0):>8.1f}")
    if not s.restarts:
        return
    print(f"{'scenario':<14} {'node':>4} {'stop':>6} {'failover':>8} {'log':>6} {'replay':>6} "
          f"{'behind':>6} {'open':>6} {'http':>6} {'ready':>6} {'replayed':>8} {'caught':>7} "
          f"{'lease':>6} {'lin':>6} {'write':>6} {'serving':>7}  (seconds from process start)")
    for r in s.restarts:
        behind = r.target_commit - r.applied_before
        via = " (caught up from a snapshot)" if r.snapshot_received else ""
        print(f"{r.scenario:<14} {r.node:>4} {r.stop_s:>6.2f} {fmt(r.failover_s, 8)} "
              f"{r.last_index - r.first_index + 1:>6} {r.replay_entries:>6} {behind:>6} "
              f"{fmt(r.open_s, 6)} {fmt(r.http_s, 6)} {fmt(r.ready_s, 6)} {fmt(r.replayed_s, 8)} "
              f"{fmt(r.caught_up_s, 7)} {fmt(r.lease_s, 6)} {fmt(r.lin_s, 6)} {fmt(r.write_s, 6)} "
              f"{fmt(r.serving_s, 7)}{via}")
    for r in s.restarts:
        for line in r.slow_attempts:
            print(f"#   {r.scenario}: {line}")
        if r.profile:
            print(f"#   {r.scenario}: py-spy, first {PROFILE_S} s after start, share of CPU "
                  f"samples by innermost raftsql function:")
            for line in r.profile:
                print(f"#     {line}")


async def run(args: argparse.Namespace, stages: list[Stage]) -> None:
    """Run every stage, appending each to ``stages`` as it completes (kept if cancelled)."""
    # SIGTERM (or SIGINT, which a shell ignores in background jobs) cancels the run, so the
    # `finally` below still ends the nodes this run started
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    base = Path(tempfile.mkdtemp(prefix="raftsql-restart-"))
    cluster = ProcessCluster(base, 3, snapshot_entries=args.snapshot_entries)
    try:
        cluster.start()
        await asyncio.to_thread(ensure_leader, cluster)
        await loadgen.sql_setup(cluster.nodes[LEADER].pg_dsn)
        writes = rows = keys = 0
        plan = [("rows", n) for n in args.rows] + [("writes", n) for n in args.writes]
        for kind, target in plan:
            await asyncio.to_thread(ensure_leader, cluster)
            dsn = cluster.nodes[LEADER].pg_dsn
            if kind == "rows":
                prog = await loadgen.bulk_load(dsn, target - rows, rows)
                rows = target
                print(f"# bulk-loaded to {rows:,} rows: {prog.rate:,.0f} rows/s, "
                      f"{prog.errors} errors", flush=True)
            else:
                prog = await loadgen.write_load(dsn, target - writes, args.clients, keys)
                writes, keys = target, keys + prog.keys_used
                print(f"# wrote to {writes:,} upserts: {prog.rate:,.0f} writes/s with "
                      f"{args.clients} clients, {prog.errors} errors"
                      + (f" (first: {prog.first_error})" if prog.errors else ""), flush=True)
            await asyncio.to_thread(cluster.wait_converged, 120.0)
            stage = Stage(f"{kind}={target:,}", writes, rows, prog.rate, prog.errors,
                          prog.client_cpu_s / prog.seconds if prog.seconds else 0.0)
            stage.nodes = describe_nodes(cluster)
            for name in args.scenarios:
                prof = None
                if args.profile:
                    prof = Path(args.profile) / f"{kind}{target}-{name}.txt"
                r = await restart_once(cluster, name, args.down_writes, args.timeout, prof)
                stage.restarts.append(r)
            print_stage(stage)
            sys.stdout.flush()
            stages.append(stage)
        # the stores of a node stopped by kill -9, opened in this process: the open phase
        # without the interpreter and imports
        cluster.kill(UNTOUCHED, signal.SIGKILL)
        reopen = memory_bench.reopen_seconds(cluster.nodes[UNTOUCHED].data_dir)
        print(f"\n# node {UNTOUCHED} killed -9 and its stores opened in-process: SQLite "
              f"{reopen['sqlite_open_s']:.3f} s, RocksDB {reopen['rocksdb_open_s']:.3f} s "
              f"({reopen['log_entries']:.0f} log entries)")
    finally:
        cluster.close()
        shutil.rmtree(base, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def ints(s: str) -> list[int]:
        return [int(x) for x in s.split(",") if x and int(x) > 0]

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--writes", type=ints, default=[1_000_000],
                   help="cumulative upsert targets, comma separated (default 1000000)")
    p.add_argument("--rows", type=ints, default=[],
                   help="cumulative bulk-loaded row targets, loaded before the writes")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   type=lambda s: [] if s == "none" else s.split(","))
    p.add_argument("--down-writes", type=int, default=2000,
                   help="writes to the rest of the cluster while the node is down")
    p.add_argument("--snapshot-entries", type=int, default=None,
                   help="default: the node's own (10,000, or more for a big database)")
    p.add_argument("--timeout", type=float, default=120.0, help="per restart")
    p.add_argument("--profile", metavar="DIR",
                   help=f"py-spy record every restarting node for its first {PROFILE_S} s "
                        "(raw collapsed stacks in DIR) and print where its CPU went")
    p.add_argument("--json")
    args = p.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios {sorted(unknown)}; choose from {list(SCENARIOS)} or none")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = loadgen.commit_line()
    print(f"# restart_bench: writes={args.writes} rows={args.rows} clients={args.clients} "
          f"scenarios={','.join(args.scenarios) or 'none'} down_writes={args.down_writes} "
          f"snapshot_entries={args.snapshot_entries or 'default'}", flush=True)
    print(f"# commit {head}")
    with open("/proc/loadavg") as f:
        print(f"# load average at start: {' '.join(f.read().split()[:3])}", flush=True)
    before = memory_bench.import_seconds("raftsql.cli, raftsql.server.app")
    frontend = memory_bench.import_seconds("raftsql.cli, raftsql.server.app, "
                                           "raftsql.server.frontend") - before
    print(f"# interpreter + imports before a node opens its stores: {before:.2f} s; the Postgres "
          f"frontend's imports after it started: {frontend:.2f} s (best of 3)", flush=True)
    stages: list[Stage] = []
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(run(args, stages))
        else:
            uvloop.run(run(args, stages))
    finally:
        # the stages done so far are written even when the run was stopped (SIGTERM)
        with open("/proc/loadavg") as f:
            print(f"# load average at end: {' '.join(f.read().split()[:3])}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump([{**asdict(s), "restarts": [{**asdict(r), "serving_s": r.serving_s}
                                                       for r in s.restarts]} for s in stages],
                          f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
