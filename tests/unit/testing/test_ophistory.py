"""The operation history recorder (raftsql.testing.ophistory).

Source of truth: Jepsen's history model (jepsen.history; Knossos README): a process has at most
one operation outstanding and completions pair with invocations by process; ok / fail / info
mean happened / did not happen / unknown, and a process that saw info is not reused.
"""

from __future__ import annotations

import asyncio
import io
import threading

import pytest

from raftsql.testing.ophistory import (
    History,
    HistoryError,
    Op,
    OpType,
    dump_jsonl,
    load_jsonl,
    pair,
)


def test_invoke_and_complete_pair_by_process() -> None:
    h = History(clock=iter(range(100)).__next__)
    a = h.invoke(0, "write", "x", 1)
    b = h.invoke(1, "read", "x")
    h.ok(b, 1)
    h.ok(a)
    ops = h.operations()
    assert [(o.process, o.f, o.output, o.status, o.call, o.complete) for o in ops] == [
        (0, "write", 1, OpType.OK, 0, 3),
        (1, "read", 1, OpType.OK, 1, 2),
    ]
    assert [op.time for op in h.ops] == [0, 1, 2, 3]
    assert ops[1].describe() == "p1 read 'x' -> 1 ok [1..2]"


def test_a_process_has_one_outstanding_operation() -> None:
    h = History()
    h.invoke(0, "read", "x")
    with pytest.raises(HistoryError):
        h.invoke(0, "read", "x")


def test_completing_twice_or_a_non_invocation_is_refused() -> None:
    h = History()
    op = h.invoke(0, "read", "x")
    h.ok(op, None)
    with pytest.raises(HistoryError):
        h.fail(op)
    with pytest.raises(HistoryError):
        h.ok(1)


def test_info_retires_the_process() -> None:
    h = History()
    h.info(h.invoke(0, "write", "x", 1), "timeout")
    with pytest.raises(HistoryError):
        h.invoke(0, "read", "x")
    h.invoke(5, "read", "x")  # a fresh process id carries on


def test_fail_and_info_keep_the_invoked_value() -> None:
    h = History()
    h.fail(h.invoke(0, "cas", "x", (1, 2)), "mismatch")
    (op,) = h.operations()
    assert op.status is OpType.FAIL and op.output == (1, 2) and op.error == "mismatch"


def test_missing_completion_pairs_as_info() -> None:
    h = History()
    h.invoke(0, "write", "x", 1)
    (op,) = h.operations()
    assert op.status is OpType.INFO and op.complete is None and op.returns_at == float("inf")


def test_pair_rejects_malformed_histories() -> None:
    with pytest.raises(HistoryError):
        pair([Op(0, OpType.OK, "read", "x", 1, 0, 0)])
    with pytest.raises(HistoryError):
        pair(
            [Op(0, OpType.INVOKE, "read", "x", None, 0, 0), Op(0, OpType.OK, "write", "x", 1, 0, 1)]
        )


def test_scope_records_info_when_an_exception_escapes() -> None:
    h = History()
    with pytest.raises(ConnectionError):
        with h.operation(0, "write", "x", 1):
            raise ConnectionError("reset")
    (op,) = h.operations()
    assert op.status is OpType.INFO and "reset" in (op.error or "")
    with h.operation(1, "read", "x") as scope:
        scope.ok(7)
    assert h.operations()[1].output == 7


def test_jsonl_round_trip() -> None:
    h = History()
    h.ok(h.invoke(0, "cas", "x", (1, 2)))
    h.ok(h.invoke(1, "read", "x"), 2)
    h.info(h.invoke(2, "write", ["k", 1], 3), "timeout")
    buf = io.StringIO()
    dump_jsonl(h.ops, buf)
    assert len(buf.getvalue().splitlines()) == 6
    loaded = load_jsonl(io.StringIO(buf.getvalue()))
    assert [(o.process, o.type, o.f, o.index, o.error) for o in loaded] == [
        (o.process, o.type, o.f, o.index, o.error) for o in h.ops
    ]
    assert loaded[0].value == [1, 2]  # JSON has no tuples
    assert loaded[4].key == ("k", 1)  # keys are frozen back to something hashable


def test_threads_record_a_well_formed_history() -> None:
    h = History()

    def worker(p: int) -> None:
        for i in range(200):
            op = h.invoke(p, "write", "x", (p, i))
            h.ok(op)

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    ops = h.ops
    assert len(ops) == 8 * 200 * 2 and [o.index for o in ops] == list(range(len(ops)))
    assert all(o.status is OpType.OK for o in pair(ops))


def test_asyncio_tasks_record_without_awaiting_the_recorder() -> None:
    async def client(h: History, p: int) -> None:
        for _ in range(20):
            op = h.invoke(p, "read", "x")
            await asyncio.sleep(0)
            h.ok(op, None)

    async def main() -> History:
        h = History()
        await asyncio.wait_for(asyncio.gather(*(client(h, p) for p in range(5))), 10)
        return h

    h = asyncio.run(main())
    ops = pair(h.ops)
    assert len(ops) == 100
    # the tasks interleave, so operations overlap in real time
    assert any(
        a.complete is not None and b.call < a.complete and a.call < b.call
        for a, b in zip(ops, ops[1:], strict=False)
    )
