"""CPU seconds and memory of a server's whole process tree, read from /proc (Linux only).

Why a tree: PostgreSQL serves each connection from a forked backend and etcd/raftsql are
several processes; a comparison must charge each system for every process it runs. CPU of
children that already exited is in their parent's cutime/cstime, so summing
utime+stime+cutime+cstime over the live tree counts every process once. Memory is PSS
(proportional set size, /proc/PID/smaps_rollup) so PostgreSQL's shared buffers are not
counted once per backend; VmRSS is the fallback where smaps_rollup is not readable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces
    return raw[raw.rindex(")") + 2 :].split()


def tree(roots: Iterable[int]) -> list[int]:
    """The given PIDs and all their live descendants."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields is not None:
                parent[int(name)] = int(fields[1])
    out = [r for r in roots if r in parent]
    seen = set(out)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parent.items():
            if ppid in seen and pid not in seen:
                seen.add(pid)
                out.append(pid)
                changed = True
    return out


def cpu_seconds(roots: Iterable[int]) -> float:
    """User+system CPU seconds of the tree, including reaped children."""
    total = 0
    for pid in tree(roots):
        fields = _stat_fields(pid)
        if fields is not None:
            # fields[11..14] = utime stime cutime cstime (proc(5) fields 14-17)
            total += sum(int(x) for x in fields[11:15])
    return total / _TICK


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_mib(roots: Iterable[int]) -> float:
    """Current PSS of the whole tree in MiB."""
    return sum(_pss_kib(pid) for pid in tree(roots)) / 1024
