"""Jepsen-style fault suite: concurrent wire clients record a history while a nemesis injects
faults into a real process cluster; the history is then judged by the checkers.

- ``clients``: asyncpg clients that classify every outcome as ok / fail / info;
- ``workloads``: register (linearizability), set (lost writes) and bank (invariant) workloads;
- ``nemesis``: seeded, time-bounded fault schedules (kill, pause, partition, member, clock);
- ``runner`` (``python -m raftsql.testing.jepsen``): one run from a fresh cluster to a verdict.

See docs/jepsen.md.
"""
