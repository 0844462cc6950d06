"""The closed-loop load generator shared by every system in bench/compare.py.

Each of N clients owns one connection and issues its next operation as soon as the previous
one answered (closed loop), for a fixed wall-clock time. Per run it reports throughput,
p50/p99/max latency, the server's CPU seconds per operation and peak memory (bench/procstats.py),
and the load generator's own CPU use: a run whose client used most of a core is marked
client-bound, so its throughput is read as a floor, not as the server's ceiling.

SQL systems are driven through asyncpg (prepared statements, extended protocol); etcd through
its gRPC-gateway JSON API over a minimal keep-alive HTTP/1.1 client (stdlib only); the
TPC-B-like and select-only mixes through the real ``pgbench`` binary.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import procstats

KEYS = 1000
UPSERT = "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
SELECT = "SELECT v FROM kv WHERE k = $1"
SETUP = (
    "DROP TABLE IF EXISTS kv",
    "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    "INSERT INTO kv (k, v) VALUES " + ", ".join(f"({k}, 'v{k}')" for k in range(KEYS)),
)
"""The key-value table with KEYS rows (point reads always hit), as the SQL runners use it."""
CLIENT_BOUND = 0.85
"""Fraction of one core used by the load generator above which a run is marked client-bound."""


@dataclass
class RunResult:
    ops: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    peak_mem_mib: float = 0.0
    errors: int = 0
    first_error: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    """System-specific figures (raftsql: the leader's fsyncs/s and operations per fsync)."""

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(len(lat) * q))]

    def summary(self) -> dict[str, float]:
        lat = self.latencies_ms
        return {
            "ops_per_s": self.throughput,
            "p50_ms": statistics.median(lat) if lat else 0.0,
            "p99_ms": self.percentile(0.99),
            "max_ms": max(lat) if lat else 0.0,
            "server_cpu_ms_per_op": self.server_cpu_s / self.ops * 1000 if self.ops else 0.0,
            "client_cores": self.client_cpu_s / self.seconds if self.seconds else 0.0,
            "peak_mem_mib": self.peak_mem_mib,
            "errors": float(self.errors),
            **self.extra,
        }


class MemorySampler:
    """Samples the servers' PSS every 0.5 s during a run and keeps the peak."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            self.peak = max(self.peak, await asyncio.to_thread(procstats.memory_mib, self.pids))
            await asyncio.sleep(0.5)

    def __enter__(self) -> MemorySampler:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


Op = Callable[[int], Awaitable[object]]


async def closed_loop(
    clients: list[Op], seconds: float, server_pids: list[int]
) -> RunResult:
    """Run every client's ``op(i)`` back to back for ``seconds``; errors are counted, not
    timed (a system that fails fast must not look fast)."""
    result = RunResult(0, 0.0)
    stop_at = 0.0

    async def worker(op: Op) -> None:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            t0 = time.perf_counter()
            try:
                await op(n)
            except (asyncpg.PostgresError, OSError, EtcdError) as exc:
                result.errors += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                continue
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            result.ops += 1

    cpu0 = procstats.cpu_seconds(server_pids)
    ccpu0 = time.process_time()
    t0 = time.monotonic()
    stop_at = t0 + seconds
    with MemorySampler(server_pids) as mem:
        await asyncio.gather(*(worker(op) for op in clients))
    result.seconds = time.monotonic() - t0
    result.client_cpu_s = time.process_time() - ccpu0
    result.server_cpu_s = procstats.cpu_seconds(server_pids) - cpu0
    result.peak_mem_mib = mem.peak
    return result


# ---------------------------------------------------------------------------------- SQL


async def sql_connect(dsns: str | list[str], n: int, read_level: str | None,
                      parallel: int = 16) -> list[asyncpg.Connection]:
    """``n`` connections, the i-th to ``dsns[i % len(dsns)]`` (round robin over the nodes when
    several are given), opened ``parallel`` at a time so 256 clients start in seconds."""
    targets = [dsns] if isinstance(dsns, str) else dsns
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> asyncpg.Connection:
        async with gate:
            conn = await asyncpg.connect(targets[i % len(targets)], timeout=30)
            if read_level is not None:
                await conn.execute(f"SET raftsql.read_consistency = '{read_level}'")
            return conn

    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    conns = [c for c in results if isinstance(c, asyncpg.Connection)]
    failed = [e for e in results if isinstance(e, BaseException)]
    if failed:
        await asyncio.gather(*(c.close(timeout=10) for c in conns), return_exceptions=True)
        raise failed[0]
    return conns


async def sql_setup(dsn: str, attempts: int = 3) -> None:
    """The key-value table with KEYS rows, so point reads always hit. Retried whole (it
    starts with DROP TABLE) when a write's outcome is unknown: the first writes after a
    cluster starts can meet an election."""
    for attempt in range(1, attempts + 1):
        try:
            await run_statements(dsn, SETUP)
            return
        except asyncpg.PostgresError as exc:
            if attempt == attempts:
                raise
            print(f"# setup attempt {attempt} failed ({type(exc).__name__}: {exc}); retrying",
                  flush=True)


async def run_statements(dsn: str, statements: Sequence[str]) -> None:
    """Run ``statements`` in order on one connection (set-up and load steps)."""
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def sql_ops(conns: list[asyncpg.Connection], workload: str) -> list[Op]:
    rng = random.Random(1)

    def make(conn: asyncpg.Connection) -> Op:
        if workload == "upsert":
            return lambda n: conn.execute(UPSERT, rng.randrange(KEYS), f"value-{n}")
        if workload == "select":
            return lambda n: conn.fetchrow(SELECT, rng.randrange(KEYS))
        if workload == "select1":
            return lambda n: conn.fetchval("SELECT 1")
        raise ValueError(workload)

    return [make(c) for c in conns]


# ---------------------------------------------------------------------------------- etcd


class EtcdError(Exception):
    """A non-200 answer from etcd's gateway."""


class EtcdHttp:
    """One keep-alive HTTP/1.1 connection to etcd's JSON gateway (/v3/kv/put, /v3/kv/range)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> EtcdHttp:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode() + data
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if m is not None:
            payload = await self.reader.readexactly(int(m.group(1)))
        else:  # chunked
            payload = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                payload += chunk[:-2]
        if status != 200:
            raise EtcdError(payload[:200].decode(errors="replace"))
        return dict(json.loads(payload))

    def close(self) -> None:
        self.writer.close()


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def etcd_ops(conns: list[EtcdHttp], workload: str, serializable: bool = False) -> list[Op]:
    rng = random.Random(1)

    def make(c: EtcdHttp) -> Op:
        if workload == "upsert":
            return lambda n: c.post(
                "/v3/kv/put", {"key": _b64(f"k{rng.randrange(KEYS)}"), "value": _b64(f"value-{n}")}
            )
        if workload == "select":
            return lambda n: c.post(
                "/v3/kv/range",
                {"key": _b64(f"k{rng.randrange(KEYS)}"), "serializable": serializable},
            )
        raise ValueError(workload)

    return [make(c) for c in conns]


async def etcd_setup(port: int) -> None:
    c = await EtcdHttp.connect(port)
    try:
        for k in range(KEYS):
            await c.post("/v3/kv/put", {"key": _b64(f"k{k}"), "value": _b64(f"v{k}")})
    finally:
        c.close()


# ---------------------------------------------------------------------------------- pgbench


def pgbench_init(conn_args: list[str], scale: int) -> None:
    """``pgbench -i`` without vacuum (raftsql has none to do; PostgreSQL's is skipped too so
    both start from the same freshly loaded state)."""
    proc = subprocess.run(
        ["pgbench", "-i", "-s", str(scale), "-I", "dtgp", *conn_args],
        capture_output=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench -i failed: {proc.stderr.decode()[-600:]}")


def pgbench_run(
    conn_args: list[str], clients: int, seconds: float, select_only: bool, server_pids: list[int]
) -> RunResult:
    """One pgbench run (``-M prepared --max-tries 10``) with per-transaction logging, so the
    latency percentiles come from every transaction rather than pgbench's average."""
    with tempfile.TemporaryDirectory(prefix="raftsql-pgbench-") as tmp:
        cmd = [
            "pgbench", "-M", "prepared", "--max-tries", "10", "-n",
            "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, round(seconds))),
            "-l", "--log-prefix", str(Path(tmp) / "tx"),
        ]
        if select_only:
            cmd.append("-S")
        cpu0 = procstats.cpu_seconds(server_pids)
        peak = procstats.memory_mib(server_pids)
        _children_cpu()  # forget earlier children (pgbench -i)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [*cmd, *conn_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp
        )
        while proc.poll() is None:
            time.sleep(0.5)
            peak = max(peak, procstats.memory_mib(server_pids))
        out, err = proc.communicate()
        elapsed = time.monotonic() - t0
        server_cpu = procstats.cpu_seconds(server_pids) - cpu0
        client_cpu = _children_cpu()
        latencies: list[float] = []
        failed = 0
        for name in os.listdir(tmp):
            with open(Path(tmp) / name) as f:
                for line in f:
                    parts = line.split()
                    # client_id tx_no time script_no epoch usec [...]; time is "failed" or
                    # "skipped" for a transaction that did not commit
                    if len(parts) >= 3 and parts[2].isdigit():
                        latencies.append(int(parts[2]) / 1000)
                    else:
                        failed += 1
        m = re.search(rb"number of transactions actually processed: (\d+)", out)
        if proc.returncode not in (0, 2) or m is None:
            raise RuntimeError(f"pgbench failed: {err.decode()[-400:]}")
        ops = int(m.group(1))
        measured = float(max(1, round(seconds)))
        result = RunResult(ops, measured, latencies, server_cpu, client_cpu, peak, failed)
        result.seconds = measured if elapsed >= measured else elapsed
        return result


_children_cpu_seen = 0.0


def _children_cpu() -> float:
    """CPU seconds of the pgbench child since the previous call (RUSAGE_CHILDREN grows)."""
    global _children_cpu_seen
    r = os.times()
    total = r.children_user + r.children_system
    delta, _children_cpu_seen = total - _children_cpu_seen, total
    return delta


# ---------------------------------------------------------------------------------- bulk load

HOT_KEYS = KEYS
"""Repeated writes go to the keys ``sql_setup`` created (an UPDATE of an existing row)."""
DISTINCT_BASE = 1_000_000_000
"""Distinct writes insert keys from here up (the table grows by one row per such write)."""
BULK_BASE = 2_000_000_000
"""Bulk-loaded rows (``bulk_load``) use keys from here up."""
PAYLOAD = "p" * 64


@dataclass
class WriteProgress:
    """Counts of a long write phase; ``rate`` is successful writes per wall-clock second."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    first_error: str = ""
    keys_used: int = 0
    """Distinct keys consumed (successful or not): the next phase starts after them."""

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def write_load(dsn: str, n: int, clients: int, first_key: int,
                     report_every: float = 15.0) -> WriteProgress:
    """``n`` successful single-statement upserts through ``dsn`` from ``clients`` concurrent
    asyncpg connections. Every other write inserts a new key (``DISTINCT_BASE + first_key +
    i``), the others overwrite one of ``HOT_KEYS`` keys: one client statement per write, and
    each is one autocommit statement, so one Raft log entry. A failed write (an election, a
    connection lost) is counted and replaced; the caller's count of log entries is therefore a
    lower bound, never inflated."""
    prog = WriteProgress()
    issued = 0  # writes reserved by a worker; a failed one is given back
    rng = random.Random(first_key)
    next_report = time.monotonic() + report_every
    t0 = time.monotonic()
    cpu0 = time.process_time()

    async def worker() -> None:
        nonlocal issued, next_report
        conn: asyncpg.Connection | None = None
        try:
            while issued < n:
                if conn is None:
                    try:
                        conn = await asyncpg.connect(dsn, timeout=10)
                    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                        prog.errors += 1
                        prog.first_error = prog.first_error or f"{type(exc).__name__}: {exc}"
                        await asyncio.sleep(0.1)
                        continue
                i = prog.keys_used
                prog.keys_used += 1
                issued += 1
                key = DISTINCT_BASE + first_key + i if i % 2 == 0 else rng.randrange(HOT_KEYS)
                try:
                    await conn.execute(UPSERT, key, PAYLOAD)
                    prog.ok += 1
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                    issued -= 1  # replaced by another write
                    prog.errors += 1
                    prog.first_error = prog.first_error or f"{type(exc).__name__}: {exc}"
                    if conn.is_closed():
                        conn = None
                now = time.monotonic()
                if now >= next_report:
                    next_report = now + report_every
                    print(f"#   {prog.ok:,} writes, {prog.ok / (now - t0):,.0f}/s, "
                          f"{prog.errors} errors", flush=True)
        finally:
            if conn is not None:
                await conn.close(timeout=10)

    await asyncio.gather(*(worker() for _ in range(clients)))
    prog.seconds = time.monotonic() - t0
    prog.client_cpu_s = time.process_time() - cpu0
    return prog


async def bulk_load(dsn: str, rows: int, first_row: int, per_statement: int = 1000,
                    clients: int = 4) -> WriteProgress:
    """Insert ``rows`` new rows as multi-row ``INSERT ... VALUES`` statements of
    ``per_statement`` rows each (one log entry per statement): the fast way to reach a given
    database size. Counts rows, not statements."""
    prog = WriteProgress()
    starts = iter(range(first_row, first_row + rows, per_statement))
    t0 = time.monotonic()
    cpu0 = time.process_time()

    async def worker() -> None:
        conn = await asyncpg.connect(dsn, timeout=30)
        try:
            for start in starts:
                count = min(per_statement, first_row + rows - start)
                values = ", ".join(f"(${2 * j + 1}, ${2 * j + 2})" for j in range(count))
                params: list[object] = []
                for k in range(start, start + count):
                    params += [BULK_BASE + k, PAYLOAD]
                for attempt in range(5):
                    try:
                        await conn.execute(f"INSERT INTO kv (k, v) VALUES {values}", *params)
                        prog.ok += count
                        break
                    except asyncpg.PostgresError as exc:
                        # 40001 means not proposed; 40003 may have been applied: a retry then
                        # fails with 23505 (the rows are there), which counts as done
                        if getattr(exc, "sqlstate", "") == "23505" and attempt:
                            prog.ok += count
                            break
                        prog.errors += 1
                        prog.first_error = prog.first_error or f"{type(exc).__name__}: {exc}"
                        await asyncio.sleep(0.2)
        finally:
            await conn.close(timeout=10)

    await asyncio.gather(*(worker() for _ in range(clients)))
    prog.seconds = time.monotonic() - t0
    prog.client_cpu_s = time.process_time() - cpu0
    return prog


def commit_line() -> str:
    """``git log -1`` of the tree this runs from; in an exported tree (``git archive``, used to
    measure exactly what is committed while others edit the working tree) its COMMIT file."""
    root = Path(__file__).resolve().parents[1]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "log", "-1", "--format=%h %cI %s"], capture_output=True,
                             text=True, cwd=root, check=True).stdout.strip()
        if out:
            return out
    marker = root / "COMMIT"
    return marker.read_text().strip() if marker.exists() else "unknown"
