"""Simulated events per second on one core.

Runs a fixed range of seeds in this process (one core) and prints the simulator's throughput:
events (deliveries, ticks, client and nemesis actions) per wall-clock second, and how much
faster than real time the virtual clock runs. Usage: ``python bench/sim_bench.py [--seeds N]``.
"""

from __future__ import annotations

import argparse
import time

from raftsql.testing.cluster import SimCluster
from raftsql.testing.options import swarm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=40)
    p.add_argument("--start", type=int, default=10_000)
    a = p.parse_args()
    events = virtual = 0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for seed in range(a.start, a.start + a.seeds):
        res = SimCluster(swarm(seed)).run()
        assert res.ok, f"seed {seed} failed: {res.error.splitlines()[0]}"
        events += res.events
        virtual += res.virtual_us
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(
        f"seeds={a.seeds} events={events} wall={wall:.2f}s cpu={cpu:.2f}s "
        f"events_per_cpu_s={events / cpu:,.0f} events_per_wall_s={events / wall:,.0f} "
        f"seeds_per_cpu_s={a.seeds / cpu:.2f} virtual_speedup={virtual / 1e6 / cpu:.1f}x"
    )


if __name__ == "__main__":
    main()
