"""Exactly-once across a real crash: SIGKILL a process in the middle of its apply loop.

Source of truth: Raft paper Figure 2 (lastApplied; the log is replayed from the durable prefix)
and docs/transactions.md "Durability": the entry's effects and applied_index commit in one
SQLite transaction, so after a kill the database is exactly entries 1..applied_index, and
feeding the whole log again applies each remaining entry once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode

N = 100_000  # far more than the child reaches before it is killed
KILL_AFTER = 150

CHILD = """
import sys
from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode
sys.path.insert(0, {tests!r})
from test_apply_crash import entry
sm = StateMachine({path!r})
for i in range(sm.applied_index + 1, {n}):
    sm.apply(i, entry(i), "client", i)
    print(i, flush=True)
"""


def entry(i: int) -> bytes:
    """Entry i: several statements, so a kill often lands inside one entry's transaction."""
    if i == 1:
        return encode(
            Command(
                (
                    Stmt("CREATE TABLE log (i INTEGER PRIMARY KEY, sq INTEGER)"),
                    Stmt("CREATE TABLE counter (n INTEGER)"),
                    Stmt("INSERT INTO counter VALUES (0)"),
                )
            )
        )
    return encode(
        Command(
            (
                Stmt("INSERT INTO log VALUES (?, ?)", (i, i * i)),
                Stmt("UPDATE counter SET n = n + 1"),
                Stmt("UPDATE log SET sq = sq + 0 WHERE i > ?", (i - 5,)),
            )
        )
    )


def test_sigkill_mid_apply_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "node.db")
    code = CHILD.format(tests=str(Path(__file__).parent), path=path, n=N)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        seen = 0
        for line in child.stdout:
            seen = int(line)
            if seen >= KILL_AFTER:
                os.kill(child.pid, signal.SIGKILL)
                break
        assert seen >= KILL_AFTER, "child stopped early"
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    sm = StateMachine(path)
    applied = sm.applied_index
    assert applied >= seen  # everything it reported as applied survived
    with sm._auth.internal():
        count = next(sm._conn.execute("SELECT count(*), max(i) FROM log"))
        n = next(sm._conn.execute("SELECT n FROM counter"))[0]
    assert tuple(count) == (applied - 1, applied) and n == applied - 1  # exactly 1..applied

    # The log is fed again from the start: replays are no-ops, the rest applies once.
    last = applied + 20
    for i in range(1, last + 1):
        sm.apply(i, entry(i), "client", i)
    reference = StateMachine(str(tmp_path / "reference.db"))
    for i in range(1, last + 1):
        reference.apply(i, entry(i), "client", i)
    assert sm.applied_index == reference.applied_index == last
    assert sm.checksum() == reference.checksum()
