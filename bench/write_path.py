"""Where one write's time goes: timestamps along the leader's path, one client.

The leader runs in this process (bench/embedded_leader.py; nodes 2 and 3 are real `raftsql
serve` processes). Each write goes through raftsql.node.database.Database (no Postgres wire),
and the script records when the Raft loop picks the proposal up, what each Ready sends,
persists and applies, and when acks arrive; it prints the p50/p90 of the whole write and the
timeline of the median one. Use it to see whether latency is fsync, the follower's round trip,
apply, or scheduling between them.

    python bench/write_path.py [--writes 300] [--gap-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import embedded_leader

from raftsql.node import driver
from raftsql.node.database import Database, Session

UPSERT = "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v"


class Timeline:
    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def mark(self, what: str) -> None:
        self.marks.append((what, time.perf_counter()))


def instrument(node: driver.RaftNode, tl: Timeline) -> None:
    """Wrap the node's inputs, its Ready steps and its log writes with timestamps (this process
    only)."""
    step_inputs, on_message = node._step_inputs, node.transport.on_message
    send, start, finish = node.transport.send, driver.start_ready, driver.finish_ready
    persist = node.store.persist

    def stepped() -> None:
        if node._proposals:
            tl.mark(f"loop takes {len(node._proposals)} proposal(s)")
        step_inputs()

    def received(msg: Any) -> None:
        tl.mark(f"received {msg.type.name} from {msg.frm}")
        on_message(msg)

    def sent(msgs: Any) -> None:
        tl.mark("sent " + ", ".join(f"{m.type.name}->{m.to}" for m in msgs))
        send(msgs)

    def started(rd: Any, *rest: Any) -> None:
        tl.mark(f"Ready: {len(rd.entries)} new (sync={rd.must_sync}), "
                f"{len(rd.committed_entries)} to apply")
        start(rd, *rest)

    def persisted(*args: Any, **kwargs: Any) -> None:
        persist(*args, **kwargs)
        tl.mark(f"log written (synced={kwargs.get('sync', True)})")

    def finished(*args: Any, **kwargs: Any) -> Any:
        out = finish(*args, **kwargs)
        tl.mark(f"Ready finished ({len(out.applied)} applied)")
        return out

    node._step_inputs = stepped  # type: ignore[method-assign]
    node.transport.on_message = received
    node.transport.send = sent  # type: ignore[method-assign]
    node.store.persist = persisted  # type: ignore[method-assign]
    driver.start_ready = started  # type: ignore[assignment]
    driver.finish_ready = finished  # type: ignore[assignment]


async def main_async(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="raftsql-writepath-"))
    cluster, node, sm = await embedded_leader.start(base)
    try:
        db = Database(node, sm)
        session = Session()
        await db.execute(session, "CREATE TABLE kv (k integer PRIMARY KEY, v text)")
        tl = Timeline()
        instrument(node, tl)
        rng = random.Random(1)
        timelines = []
        for i in range(args.writes):
            tl.marks = []
            tl.mark("client sends")
            await db.execute(session, UPSERT, (rng.randrange(1000), f"value-{i}"))
            tl.mark("client has the answer")
            timelines.append(tl.marks)  # later marks (acks of this write) go to the next one
            await asyncio.sleep(args.gap_ms / 1000)
        def total(m: list[tuple[str, float]]) -> float:
            end = next(t for what, t in m if what == "client has the answer")
            return end - m[0][1]
        timelines.sort(key=total)
        n = len(timelines)
        print(f"# {n} writes, one client, {args.gap_ms} ms apart; load average "
              f"{open('/proc/loadavg').read().split()[0]}")
        print(f"p50 {total(timelines[n // 2]) * 1000:.3f} ms, "
              f"p90 {total(timelines[int(n * 0.9)]) * 1000:.3f} ms")
        print("timeline of the median write:")
        median = timelines[n // 2]
        for what, t in median:
            print(f"  {(t - median[0][1]) * 1000:8.3f} ms  {what}")
            if what == "client has the answer":
                break
    finally:
        await node.stop(transfer=False)
        cluster.close()
        sm.close()
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--gap-ms", type=float, default=2.0)
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
