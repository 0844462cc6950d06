"""Property: any log, applied on any node, with restarts anywhere, gives one state.

Source of truth: Raft paper section 5.3 / Figure 2 (state machine safety: every node applies the
same command at each index) and ARCHITECTURE.md "Determinism" ("every node must reach
byte-identical SQLite state from the same log"), checked through the content checksum.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftsql.sql.apply import StateMachine
from raftsql.sql.command import Command, Stmt, encode

SETUP = encode(
    Command(
        (
            Stmt(
                "CREATE TABLE a (id INTEGER PRIMARY KEY, k TEXT UNIQUE, n INTEGER CHECK (n < 50))"
            ),
            Stmt(
                "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id) "
                "ON DELETE CASCADE, v)"
            ),
        )
    )
)

keys = st.sampled_from(["x", "y", "z", None])
small = st.integers(min_value=-5, max_value=60)
values = st.one_of(
    st.none(),
    small,
    st.floats(allow_nan=False, width=32),
    st.text(max_size=3),
    st.binary(max_size=3),
)
stmts = st.one_of(
    st.builds(lambda k, n: Stmt("INSERT INTO a (k, n) VALUES (?, ?)", (k, n)), keys, small),
    st.builds(lambda d, k: Stmt("UPDATE a SET n = n + ? WHERE k = ?", (d, k)), small, keys),
    st.builds(lambda i, v: Stmt("INSERT INTO b (a_id, v) VALUES (?, ?)", (i, v)), small, values),
    st.builds(lambda k: Stmt("DELETE FROM a WHERE k = ?", (k,)), keys),
    st.builds(lambda i: Stmt("DELETE FROM b WHERE id % 3 = ?", (i % 3,)), small),
    st.just(Stmt("SELECT count(*) FROM b")),
)
entries = st.lists(
    st.one_of(
        st.lists(stmts, min_size=1, max_size=3).map(lambda s: encode(Command(tuple(s)))),
        st.just(b""),  # an empty entry (noop)
        st.just(b"\x01garbage"),
    ),
    max_size=25,
)


def run(path: str, log: list[bytes], restarts: set[int]) -> tuple[str, list, list]:
    """Apply SETUP + log; before each index in `restarts`, reopen and replay a few entries."""
    full = [SETUP, *log]
    sm = StateMachine(path, checkpoint_every=7)
    results = []
    for index, data in enumerate(full, 1):
        if index in restarts:
            sm.close()
            sm = StateMachine(path, checkpoint_every=7)
            for replay in range(max(1, index - 3), index):
                if full[replay - 1]:
                    assert sm.apply(replay, full[replay - 1]) == []  # applied: a no-op
        if data:
            results.append(sm.apply(index, data))
        else:
            sm.apply_noop(index)
    assert sm.wait_for_checkpoints(timeout=10)  # checksums are hashed off the apply thread
    out = (sm.checksum(), results, sm.checkpoints())
    sm.close()
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries, st.sets(st.integers(min_value=2, max_value=26), max_size=3))
def test_same_log_same_state_and_results(log: list[bytes], restarts: set[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        straight = run(str(Path(tmp) / "a"), log, set())
        restarted = run(str(Path(tmp) / "b"), log, restarts)
    assert straight == restarted
