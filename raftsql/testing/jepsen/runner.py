"""One fault-suite run: fresh cluster, workload under a nemesis, heal, converge, check, verdict.

Every process the run starts is ended by PID in ``finally`` (``ProcessCluster.close()``), even
when the run itself fails. The first lines printed are the seed and every derived option
(STYLE.md rule 13), so any run can be repeated with the same plan.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import asyncpg

from raftsql.testing.jepsen.clients import Endpoint, ProcessClient
from raftsql.testing.jepsen.nemesis import KINDS, FaultCluster, Nemesis, NemesisLog
from raftsql.testing.jepsen.workloads import WORKLOADS, CheckResult, Workload
from raftsql.testing.ophistory import History, OpType


@dataclass
class Options:
    workload: str = "register"
    nemesis: list[str] = field(default_factory=lambda: ["kill", "pause", "partition"])
    time: float = 60.0
    seed: int = 0
    nodes: int = 3
    clock_rate: float | None = None
    read_level: str = "lease"
    concurrency: int = 8
    readers: int | None = None
    """Read-only processes, one per node in turn; None: one per node with the clock nemesis."""
    op_timeout: float = 3.0
    reader_timeout: float = 1.0
    """A reader gives up sooner, so one stuck read does not make it miss a whole fault."""
    check_time_limit: float = 60.0
    keep: bool = False
    out: Path | None = None
    """Directory for the run (cluster data, node logs, history.jsonl); a temp dir if None."""

    def effective_readers(self) -> int:
        if self.readers is not None:
            return self.readers
        return self.nodes if "clock" in self.nemesis else 0

    def describe(self) -> str:
        return (
            f"SEED={self.seed} workload={self.workload} nemesis={','.join(self.nemesis)} "
            f"time={self.time:g} nodes={self.nodes} clock_rate={self.clock_rate} "
            f"read_level={self.read_level} concurrency={self.concurrency} "
            f"readers={self.effective_readers()} "
            f"op_timeout={self.op_timeout:g}"
        )


@dataclass
class RunResult:
    verdict: str
    anomaly: str
    check: CheckResult | None
    counts: dict[str, int]
    nemesis_log: list[str]
    run_dir: Path
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.verdict == "VALID"


def run(opts: Options, out: TextIO = sys.stdout) -> RunResult:
    """Run once and print the report; the caller decides what the verdict means."""
    if opts.workload not in WORKLOADS:
        raise ValueError(f"unknown workload {opts.workload!r}; choose from {sorted(WORKLOADS)}")
    unknown = set(opts.nemesis) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown nemesis {sorted(unknown)}; choose from {KINDS}")
    started = time.monotonic()
    run_dir = opts.out or Path(tempfile.mkdtemp(prefix=f"jepsen-{opts.workload}-{opts.seed}-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    print(opts.describe(), file=out, flush=True)
    print(f"run dir: {run_dir}", file=out, flush=True)
    workload = WORKLOADS[opts.workload]()
    history = History()
    log = NemesisLog()
    cluster = FaultCluster(run_dir / "cluster", opts.nodes)
    result: RunResult
    try:
        result = _run(opts, cluster, workload, history, log, run_dir, out)
    except Exception as exc:  # noqa: BLE001 - a harness failure is a verdict too
        result = RunResult(
            "UNKNOWN",
            f"harness error: {type(exc).__name__}: {exc}",
            None,
            _counts(history),
            log.lines,
            run_dir,
            0.0,
        )
    finally:
        cluster.close()
        history.dump(run_dir / "history.jsonl")
    result.elapsed = time.monotonic() - started
    for line in result.nemesis_log:
        print(f"  nemesis {line}", file=out)
    print("ops " + " ".join(f"{k}={v}" for k, v in sorted(result.counts.items())), file=out)
    if result.check is not None and result.check.stats:
        print("check " + " ".join(f"{k}={v}" for k, v in result.check.stats.items()), file=out)
    line = result.verdict + (f": {result.anomaly}" if result.anomaly else "")
    print(f"{line}  ({result.elapsed:.1f}s, {opts.describe().split()[0]})", file=out, flush=True)
    if result.ok and not opts.keep and opts.out is None:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


def _run(
    opts: Options,
    cluster: FaultCluster,
    workload: Workload,
    history: History,
    log: NemesisLog,
    run_dir: Path,
    out: TextIO,
) -> RunResult:
    cluster.start()
    if cluster.wait_leader(30.0) is None:
        raise TimeoutError("no leader elected at start")
    asyncio.run(_setup(cluster, workload))
    log.start = time.monotonic()
    nemesis = Nemesis(
        cluster,
        opts.nemesis,
        random.Random(f"nemesis-{opts.seed}"),
        opts.time,
        log,
        clock_rate=opts.clock_rate,
    )
    nemesis.start()
    try:
        asyncio.run(_clients(opts, cluster, workload, history))
    finally:
        nemesis.stop()
        nemesis.join(60)
    if nemesis.error is not None:
        raise RuntimeError(f"nemesis failed: {nemesis.error!r}")
    members = [i for i in cluster.members() if cluster.nodes[i].running]
    try:
        cluster.wait_for_leader(30.0, among=members)
        index = cluster.wait_converged(60.0, ids=members)
    except TimeoutError as exc:
        log.add(f"after healing: {exc}")
        return RunResult(
            "UNKNOWN",
            f"no convergence after healing: {exc}{_node_errors(cluster, members)}",
            None,
            _counts(history),
            log.lines,
            run_dir,
            0.0,
        )
    log.add(f"healed: members {members} converged at applied index {index}")
    asyncio.run(workload.final(history, {i: cluster.nodes[i].pg_dsn for i in members}))
    check = workload.check(history, opts.check_time_limit)
    return RunResult(check.verdict, check.anomaly, check, _counts(history), log.lines, run_dir, 0.0)


async def _setup(cluster: FaultCluster, workload: Workload) -> None:
    """Create the schema through the leader, retrying while the cluster settles."""
    deadline = time.monotonic() + 30
    while True:
        leader = cluster.current_leader()
        try:
            if leader is None:
                raise ConnectionError("no leader yet")
            conn = await asyncpg.connect(
                cluster.nodes[leader].pg_dsn, timeout=5, statement_cache_size=0
            )
            try:
                await workload.setup(conn)
                return
            finally:
                conn.terminate()
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _clients(
    opts: Options, cluster: FaultCluster, workload: Workload, history: History
) -> None:
    """``concurrency`` mixed processes spread over the nodes, plus ``readers`` read-only ones,
    one per node in turn. A reader never blocks behind a write that cannot commit and stays on
    its node (as long as it is a member), so it keeps asking that node (an isolated old leader,
    say) for reads throughout a fault; other processes move to a random node after a crash."""
    deadline = time.monotonic() + opts.time
    readers = opts.effective_readers()
    workers = opts.concurrency + readers

    async def worker(w: int) -> None:
        rng = random.Random(f"client-{opts.seed}-{w}")
        reader = w >= opts.concurrency
        process = w
        members = cluster.members()
        node = members[(w - opts.concurrency if reader else w) % len(members)]

        def fresh(node: int) -> ProcessClient:
            return ProcessClient(
                history,
                process,
                Endpoint(node, cluster.nodes[node].pg_dsn),
                read_level=opts.read_level,
                op_timeout=opts.reader_timeout if reader else opts.op_timeout,
            )

        def next_node() -> int:
            members = cluster.members()
            return node if reader and node in members else rng.choice(members)

        client = fresh(node)
        try:
            while time.monotonic() < deadline:
                f, key, value = workload.generate(rng, reader)
                kind = await client.run(f, key, value, workload.body(f, key, value))
                if kind is OpType.INFO:
                    client.close()
                    process += workers  # Jepsen: a crashed process comes back with a new id
                    client = fresh(next_node())
                elif kind is OpType.FAIL and client.conn is None:
                    await asyncio.sleep(0.1)  # could not connect: try another node soon
                    client.endpoint = fresh(next_node()).endpoint
        finally:
            client.close()

    await asyncio.gather(*(worker(w) for w in range(workers)))


def _node_errors(cluster: FaultCluster, ids: list[int]) -> str:
    """The first ERROR line of each node's log and the exception that ends its traceback, so
    that a liveness failure names its cause (a node whose Raft loop died keeps its process)."""
    found = []
    for i in ids:
        lines = cluster.logs(i).splitlines()
        for n, line in enumerate(lines):
            if " ERROR " in line or " CRITICAL " in line:
                tail = next((t for t in lines[n + 1:n + 60]
                             if t and not t.startswith((" ", "Traceback"))), "")
                found.append(f"n{i}: {line.split(' ', 3)[-1][:100]} / {tail[:160]}")
                break
    return ("; node errors: " + "; ".join(found)) if found else ""


def _counts(history: History) -> dict[str, int]:
    c: Counter[str] = Counter()
    for op in history.operations():
        if isinstance(op.process, str):
            continue  # final reads are reported by the checker
        c[f"{op.f}.{op.status.value}"] += 1
    c["total"] = sum(c.values())
    return dict(c)
