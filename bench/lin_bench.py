"""Time the register linearizability checker on generated histories (not a test).

    python3 bench/lin_bench.py [--ops 10000] [--keys 10] [--processes 8] [--seed 1]

Prints the seed and every derived option first (STYLE rule 13), then one line per run:
the workload, the verdict, configurations explored and seconds. The brief's acceptance figure
is the first line: 10,000 operations over 10 keys with 8 concurrent processes.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace

from raftsql.testing.histgen import MUTATIONS, RegisterWorkload, generate_register_history
from raftsql.testing.linearizable import check_register
from raftsql.testing.ophistory import Op, OpType


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=10_000)
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    keys = tuple(f"k{i}" for i in range(args.keys))
    print(
        f"SEED={args.seed} ops={args.ops} keys={args.keys} processes={args.processes} "
        f"time_limit={args.time_limit}"
    )
    shapes = [
        ("values=5 no faults", dict(values=5)),
        ("values=5 fail=2% info=5%", dict(values=5, p_fail=0.02, p_info=0.05)),
        ("values=5 info=20%", dict(values=5, p_info=0.2)),
        ("unique values info=20%", dict(values=None, p_info=0.2)),
    ]
    for name, extra in shapes:
        w = RegisterWorkload(processes=args.processes, keys=keys, ops=args.ops, **extra)
        events = list(generate_register_history(random.Random(args.seed), w).ops)
        _run(f"{name}: valid", events, args.time_limit)
        for mutation in MUTATIONS:
            mutated = mutation(events, random.Random(args.seed))
            if mutated is not None:
                _run(f"{name}: {mutation.__name__}", mutated, args.time_limit)
        if w.values is not None:
            # Not a guaranteed violation: another in-domain value, which only the search
            # (not the linear pre-check) can judge. This is the expensive case.
            _run(
                f"{name}: read changed in domain",
                _retarget_read(events, w.values, args.seed),
                args.time_limit,
            )


def _retarget_read(events: list[Op], values: int, seed: int) -> list[Op]:
    rng = random.Random(seed)
    reads = [
        i
        for i, op in enumerate(events)
        if op.type is OpType.OK and op.f == "read" and op.value is not None
    ]
    i = reads[len(reads) // 2]
    out = list(events)
    out[i] = replace(out[i], value=(out[i].value + 1 + rng.randrange(values - 1)) % values)
    return out


def _run(label: str, events: list[Op], time_limit: float) -> None:
    started = time.perf_counter()
    result = check_register(events, time_limit=time_limit)
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {result.verdict:<8} configs={result.configurations:<8} {elapsed:6.2f}s")


if __name__ == "__main__":
    main()
