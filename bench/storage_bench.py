"""Benchmark of the codec and the RocksDB log store.

Usage: python3 bench/storage_bench.py [--quick] [--dir DIR]

What it measures and why:
- codec: encode/decode of an APP message with 64 entries of 100 bytes (the leader's hot path);
  the target is a few microseconds per entry.
- frames: FrameDecoder throughput on a stream of such messages cut into 64 KiB reads.
- store, fsync rate: one synced persist per Ready holding one entry (the worst case: every
  proposal alone); this is the disk's fsync rate as seen through RocksDB's WAL.
- store, group commit: one synced persist per Ready holding 64 entries (what the runtime's
  batching buys), and persist_many of 8 Readys per fsync.
- reads: entries() of 64 from the in-memory tail versus from RocksDB.
The data directory defaults to a fresh temp dir (put it on the disk you want to measure).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raftsql.codec import FrameDecoder, decode_message, encode_frame, encode_message  # noqa: E402
from raftsql.raft.types import Entry, HardState, Message, MessageType  # noqa: E402
from raftsql.storage import PersistRequest, RocksLogStore  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Seconds per call, best of three rounds (least disturbed by other load)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def app_message(n: int = 64, size: int = 100) -> Message:
    ents = tuple(
        Entry(term=7, index=1000 + i, data=b"x" * size, client_id=b"c" * 16, seq=i)
        for i in range(n)
    )
    return Message(MessageType.APP, to=2, frm=1, term=7, log_term=7, index=999, entries=ents,
                   commit=990)


def bench_codec(quick: bool) -> None:
    m = app_message()
    raw = encode_message(m)
    n = 300 if quick else 3000
    enc = timed(lambda: encode_message(m), n)
    dec = timed(lambda: decode_message(raw), n)
    print(f"codec.app64x100.bytes            {len(raw)}")
    print(f"codec.encode.us_per_entry        {enc / 64 * 1e6:.2f}")
    print(f"codec.decode.us_per_entry        {dec / 64 * 1e6:.2f}")
    print(f"codec.encode.messages_per_s      {1 / enc:,.0f}")
    print(f"codec.decode.messages_per_s      {1 / dec:,.0f}")

    stream = encode_frame(raw) * (50 if quick else 500)
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]

    def split() -> None:
        d = FrameDecoder()
        for c in chunks:
            d.feed(c)

    t = timed(split, 3)
    print(f"frames.decode.MB_per_s           {len(stream) / t / 1e6:,.0f}")


def bench_store(base: Path, quick: bool) -> None:
    n_single = 200 if quick else 2000
    n_group = 50 if quick else 500

    with RocksLogStore(base / "single") as s:
        t0 = time.perf_counter()
        for i in range(1, n_single + 1):
            s.persist(HardState(1, 1, i - 1), [Entry(1, i, data=b"x" * 100)])
        dt = time.perf_counter() - t0
        print(f"store.sync.1_entry.fsyncs_per_s  {n_single / dt:,.0f}")
        print(f"store.sync.1_entry.latency_us    {dt / n_single * 1e6:,.0f}")

    with RocksLogStore(base / "group") as s:
        idx = 0
        t0 = time.perf_counter()
        for _ in range(n_group):
            ents = [Entry(1, idx + 1 + k, data=b"x" * 100) for k in range(64)]
            s.persist(HardState(1, 1, idx), ents)
            idx += 64
        dt = time.perf_counter() - t0
        print(f"store.sync.64_entries.fsyncs_per_s  {n_group / dt:,.0f}")
        print(f"store.sync.64_entries.entries_per_s {idx / dt:,.0f}")

        t0 = time.perf_counter()
        rounds = n_group // 8
        for _ in range(rounds):
            reqs = []
            for _ in range(8):
                reqs.append(PersistRequest(HardState(1, 1, idx),
                                           [Entry(1, idx + 1 + k, data=b"x" * 100) for k in range(64)]))
                idx += 64
            s.persist_many(reqs)
        dt = time.perf_counter() - t0
        print(f"store.persist_many.8x64.entries_per_s {rounds * 512 / dt:,.0f}")

        t0 = time.perf_counter()
        for _ in range(n_group):
            ents = [Entry(1, idx + 1 + k, data=b"x" * 100) for k in range(64)]
            s.persist(HardState(1, 1, idx), ents, sync=False)
            idx += 64
        dt = time.perf_counter() - t0
        print(f"store.nosync.64_entries.entries_per_s {n_group * 64 / dt:,.0f}")

        last = s.last_index()
        tail = timed(lambda: s.entries(last - 63, last + 1), 200)
        disk = timed(lambda: s.entries(1, 65), 200)
        print(f"store.read64.tail_cache.us       {tail * 1e6:,.0f}")
        print(f"store.read64.rocksdb.us          {disk * 1e6:,.0f}")
        t0 = time.perf_counter()
        s.compact(last - 1000)
        print(f"store.compact.{last - 1000}_entries.ms  {(time.perf_counter() - t0) * 1e3:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a few seconds)")
    ap.add_argument("--dir", help="where to create the stores (default: a temp dir)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="raftsql-bench-", dir=args.dir))
    try:
        bench_codec(args.quick)
        bench_store(base, args.quick)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
