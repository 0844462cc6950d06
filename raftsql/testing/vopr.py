"""The simulator's command line, after TigerBeetle's VOPR.

    python -m raftsql.testing.vopr --seed N              one seed; trace printed on failure
    python -m raftsql.testing.vopr --seeds COUNT [--start S] [--workers W]

Every run prints ``SEED=...`` and every option drawn from it first; a failure prints the one
command that replays it exactly. The regression corpus ``tests/sim/seeds.txt`` (seeds that once
failed) is replayed before the random seeds of every multi-seed run. ``--mutation NAME`` injects
a known bug (``raftsql.testing.mutations``) to measure how fast the simulator finds it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

from raftsql.testing.cluster import SimCluster, SimResult
from raftsql.testing.mutations import MUTATIONS, apply_mutation
from raftsql.testing.options import swarm

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "sim" / "seeds.txt"
DEFAULT_TICKS = 300


def load_corpus(path: Path = CORPUS) -> list[int]:
    """Seeds from the corpus file: one per line, ``#`` starts a comment."""
    if not path.exists():
        return []
    seeds = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            seeds.append(int(line))
    return seeds


def run_seed(
    seed: int, ticks: int = DEFAULT_TICKS, trace_lines: int = 0
) -> tuple[SimResult, SimCluster]:
    cluster = SimCluster(swarm(seed, safety_ticks=ticks), trace_lines=trace_lines)
    return cluster.run(), cluster


def replay_command(seed: int, ticks: int, mutation: str | None) -> str:
    cmd = f"python -m raftsql.testing.vopr --seed {seed}"
    if ticks != DEFAULT_TICKS:
        cmd += f" --ticks {ticks}"
    if mutation:
        cmd += f" --mutation {mutation}"
    return cmd


def _worker_init(mutation: str | None) -> None:
    if mutation:
        apply_mutation(mutation)


def _worker(args: tuple[int, int]) -> SimResult:
    seed, ticks = args
    return run_seed(seed, ticks)[0]


def single(seed: int, ticks: int, mutation: str | None, trace_lines: int) -> int:
    print(
        swarm(seed, safety_ticks=ticks).describe() + (f" mutation={mutation}" if mutation else "")
    )
    sys.stdout.flush()
    _worker_init(mutation)
    t0 = time.perf_counter()
    res, cluster = run_seed(seed, ticks, trace_lines=max(trace_lines, 1))
    wall = time.perf_counter() - t0
    if res.ok:
        print(
            f"PASS events={res.events} virtual={res.virtual_us / 1e6:.2f}s wall={wall:.2f}s {res.stats}"
        )
        return 0
    print("\n".join(cluster.trace_lines()[-trace_lines:]))
    print(f"FAIL in {res.phase} phase at virtual t={res.virtual_us / 1000:.3f}ms: {res.error}")
    print(f"status: {cluster.status()}")
    print(f"replay: {replay_command(seed, ticks, mutation)}")
    return 1


def many(
    count: int,
    start: int,
    workers: int,
    ticks: int,
    mutation: str | None,
    keep_going: bool,
    corpus: bool,
) -> int:
    seeds = (load_corpus() if corpus else []) + list(range(start, start + count))
    print(
        f"VOPR seeds={len(seeds)} (corpus {len(seeds) - count}, then {start}..{start + count - 1}) "
        f"workers={workers} ticks={ticks}" + (f" mutation={mutation}" if mutation else "")
    )
    sys.stdout.flush()
    t0 = time.perf_counter()
    failures = 0
    done = 0
    events = 0
    with multiprocessing.Pool(workers, initializer=_worker_init, initargs=(mutation,)) as pool:
        for res in pool.imap(_worker, [(s, ticks) for s in seeds], chunksize=4):
            done += 1
            events += res.events
            if res.ok:
                continue
            failures += 1
            print(swarm(res.seed, safety_ticks=ticks).describe())
            print(
                f"  FAIL after {time.perf_counter() - t0:.1f}s ({done} seeds): "
                f"{res.error.splitlines()[0]}"
            )
            print(f"  replay: {replay_command(res.seed, ticks, mutation)}")
            sys.stdout.flush()
            if not keep_going:
                pool.terminate()
                break
    wall = time.perf_counter() - t0
    print(
        f"{'FAILED' if failures else 'PASSED'}: {done} seeds, {failures} failing, "
        f"{wall:.1f}s wall, {events / wall:,.0f} events/s"
    )
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m raftsql.testing.vopr", description=__doc__.split("\n")[0]
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--seed", type=int, help="run one seed with a trace")
    g.add_argument("--seeds", type=int, metavar="COUNT", help="run COUNT seeds")
    p.add_argument("--start", type=int, help="first seed of --seeds (default: random, printed)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--ticks", type=int, default=DEFAULT_TICKS, help="safety-phase length in ticks")
    p.add_argument("--mutation", choices=sorted(MUTATIONS), help="inject a known bug")
    p.add_argument("--trace-lines", type=int, default=300, help="trace lines shown on failure")
    p.add_argument("--keep-going", action="store_true", help="do not stop at the first failure")
    p.add_argument("--no-corpus", action="store_true", help="skip tests/sim/seeds.txt")
    a = p.parse_args(argv)
    if a.seed is not None:
        return single(a.seed, a.ticks, a.mutation, a.trace_lines)
    start = a.start if a.start is not None else int.from_bytes(os.urandom(4), "big")
    return many(a.seeds, start, a.workers, a.ticks, a.mutation, a.keep_going, not a.no_corpus)


if __name__ == "__main__":
    sys.exit(main())
