"""Replicated proposals per second through the node API, on a 3-node loopback cluster, fsync on.

Node 1 runs inside this process (so proposals enter the Raft loop directly, without the
Postgres wire); nodes 2 and 3 are real ``raftsql serve`` processes. Node 1 is made the leader,
then 1, 16 and 64 concurrent proposers each write single-row INSERTs in a closed loop. Printed
per run: proposals/s, p50/p99/max latency, fsyncs/s on the leader (fsyncs < proposals shows
group commit at work), CPU seconds per proposal of this process, and peak RSS.

    python bench/node_bench.py [--seconds 5] [--concurrency 1,16,64]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import embedded_leader

from raftsql.node.driver import RaftNode
from raftsql.sql.command import Command, Stmt, encode


async def run_level(node: RaftNode, concurrency: int, seconds: float, start_key: int) -> dict:
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    counter = iter(range(start_key, start_key + 10**9))

    async def proposer() -> None:
        while time.monotonic() < stop_at:
            k = next(counter)
            data = encode(Command((Stmt("INSERT INTO kv VALUES (?, ?)", (k, "x" * 100)),)))
            t0 = time.perf_counter()
            await node.propose(data)
            latencies.append(time.perf_counter() - t0)

    fsyncs0 = node.metrics.fsyncs
    cpu0 = time.process_time()
    t0 = time.monotonic()
    await asyncio.gather(*(proposer() for _ in range(concurrency)))
    elapsed = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    latencies.sort()
    n = len(latencies)
    return {
        "concurrency": concurrency,
        "proposals_per_s": n / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "max_ms": latencies[-1] * 1000,
        "fsyncs_per_s": (node.metrics.fsyncs - fsyncs0) / elapsed,
        "cpu_ms_per_op": cpu / n * 1000,
        "n": n,
    }


async def main_async(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="raftsql-bench-"))
    cluster, node, sm = await embedded_leader.start(base)
    try:
        await node.propose(encode(Command((Stmt(
            "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)"),))))
        print(f"{'clients':>8} {'props/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
              f"{'fsyncs/s':>9} {'cpu ms/op':>9}")
        key = 0
        for conc in args.concurrency:
            r = await run_level(node, conc, args.seconds, key)
            key += r["n"] + 1
            print(f"{conc:>8} {r['proposals_per_s']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
                  f" {r['max_ms']:>8.1f} {r['fsyncs_per_s']:>9.0f} {r['cpu_ms_per_op']:>9.3f}")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the leader process: {rss_mb:.0f} MiB")
        await node.stop(transfer=False)
        sm.close()
    finally:
        cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 16, 64])
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.run(main_async(args))
    except ImportError:
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
