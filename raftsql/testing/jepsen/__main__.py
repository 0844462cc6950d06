"""``python -m raftsql.testing.jepsen``: one fault-suite run, one verdict line, exit 0 iff VALID.

Example: ``python -m raftsql.testing.jepsen --workload register --nemesis kill,pause,partition
--time 60 --seed 7``. See docs/jepsen.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raftsql.testing.jepsen.nemesis import KINDS
from raftsql.testing.jepsen.runner import Options, run
from raftsql.testing.jepsen.workloads import WORKLOADS


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m raftsql.testing.jepsen", description=__doc__)
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="register")
    p.add_argument(
        "--nemesis",
        default="kill,pause,partition",
        help=f"comma-separated, from {','.join(KINDS)}; 'none' for no faults",
    )
    p.add_argument("--time", type=float, default=60.0, help="seconds of client traffic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    p.add_argument(
        "--clock-rate",
        type=float,
        default=None,
        help="the clock nemesis's rate for the leader (default: a rate within the "
        "lease bound, drawn from the seed)",
    )
    p.add_argument("--read-level", choices=("lease", "linearizable"), default="lease")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument(
        "--readers",
        type=int,
        default=None,
        help="read-only processes, one per node in turn (default: one per node with "
        "the clock nemesis, else none)",
    )
    p.add_argument("--op-timeout", type=float, default=3.0)
    p.add_argument("--check-time-limit", type=float, default=60.0)
    p.add_argument(
        "--out",
        type=Path,
        help="run directory to keep (default: a temp dir, removed after a VALID run)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp run dir even if VALID")
    a = p.parse_args(argv)
    nemesis = [] if a.nemesis in ("", "none") else a.nemesis.split(",")
    bad = set(nemesis) - set(KINDS)
    if bad:
        p.error(f"unknown nemesis {sorted(bad)}; choose from {','.join(KINDS)}")
    return Options(
        workload=a.workload,
        nemesis=nemesis,
        time=a.time,
        seed=a.seed,
        nodes=a.nodes,
        clock_rate=a.clock_rate,
        read_level=a.read_level,
        concurrency=a.concurrency,
        op_timeout=a.op_timeout,
        check_time_limit=a.check_time_limit,
        keep=a.keep,
        out=a.out,
    )


def main(argv: list[str] | None = None) -> int:
    result = run(parse(sys.argv[1:] if argv is None else argv))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
