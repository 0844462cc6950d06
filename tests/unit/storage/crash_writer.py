"""Subprocess for the kill -9 test: writes synced batches to a RocksLogStore forever.

Usage: python3 crash_writer.py DATA_DIR SEED [BIG_BYTES]. Before each batch it prints
``B <json>`` (the batch), and ``A`` once ``persist`` returned: an acknowledged batch must survive
SIGKILL, the one in flight may or may not. Ops mimic a Raft node: appends that overwrite an
uncommitted suffix after a term change, hard-state updates, compactions and snapshot installs.
With BIG_BYTES, appended entries are up to that many bytes (one repeated byte, so the journal
stays small), enough to fill several memtables and so reuse recycled WAL files before the kill.
"""

from __future__ import annotations

import json
import random
import sys

from raftsql.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from raftsql.storage import PersistRequest, RocksLogStore


def main(path: str, seed: int, big_bytes: int = 0) -> None:
    rng = random.Random(seed)
    store = RocksLogStore(path, conf_state=ConfState(voters=(1, 2, 3)))
    hs = store.hard_state
    term = max(hs.term, store.term(store.last_index()), 1)
    while True:
        r = rng.random()
        batch: dict[str, object] = {}
        if r < 0.1:  # two Readys in one persist_many: one batch, one fsync
            last = store.last_index()
            first_part = [[last + 1 + i, term, "aa"] for i in range(rng.randint(1, 5))]
            second_start = last + 1 + rng.randint(0, len(first_part))  # may overwrite the first
            second = [[second_start + i, term, "bb"] for i in range(rng.randint(1, 5))]
            batch = {"many": [{"entries": first_part}, {"entries": second}]}
        elif r < 0.75:
            if rng.random() < 0.2:
                term += 1
            back = rng.randint(0, 3)
            start = max(hs.commit + 1, store.first_index(), store.last_index() + 1 - back)
            n = rng.randint(1, 20)
            ents = [[start + i, term, _data(rng, big_bytes)] for i in range(n)]
            commit = rng.randint(hs.commit, start + n - 1)
            vote = hs.vote if term == hs.term else rng.choice([1, 2, 3])
            batch = {"entries": ents, "hs": [term, vote, commit]}
        elif r < 0.85 and hs.commit >= store.first_index():
            batch = {"compact": rng.randint(store.first_index(), hs.commit)}
        elif r < 0.9:
            term += 1
            index = store.last_index() + rng.randint(1, 5)
            batch = {"snap": [index, term, rng.randbytes(100).hex()], "hs": [term, 0, index]}
        else:
            term += 1
            batch = {"hs": [term, rng.choice([0, 1, 2, 3]), hs.commit]}
        print("B " + json.dumps(batch), flush=True)
        apply(store, batch)
        hs = store.hard_state
        print("A", flush=True)


def _data(rng: random.Random, big_bytes: int) -> str | list[int]:
    if big_bytes:
        return [rng.randint(0, big_bytes), rng.randrange(256)]  # [size, fill byte]
    return rng.randbytes(rng.randint(0, 60)).hex()


def _bytes(d: str | list[int]) -> bytes:
    return bytes([d[1]]) * d[0] if isinstance(d, list) else bytes.fromhex(d)


def apply(store, batch: dict) -> None:  # type: ignore[no-untyped-def]
    """Apply one batch to a RocksLogStore or a MemoryLog (the test's model) the same way."""
    if "many" in batch:
        if isinstance(store, RocksLogStore):
            store.persist_many([_request(b) for b in batch["many"]], sync=True)
        else:
            for b in batch["many"]:
                apply(store, b)
        return
    hs = HardState(*batch["hs"]) if "hs" in batch else None
    if "compact" in batch:
        store.compact(batch["compact"])
        return
    snap = None
    if "snap" in batch:
        index, term, data = batch["snap"]
        meta = SnapshotMetadata(index=index, term=term, conf_state=ConfState(voters=(1, 2, 3)))
        snap = Snapshot(meta, bytes.fromhex(data))
    ents = [Entry(term=t, index=i, data=_bytes(d)) for i, t, d in batch.get("entries", [])]
    if isinstance(store, RocksLogStore):
        store.persist(hs, ents, snap, sync=True)
        return
    if snap is not None:
        store.apply_snapshot(snap)
    if ents:
        store.append(ents)
    if hs is not None:
        store.set_hard_state(hs)


def _request(batch: dict) -> PersistRequest:  # type: ignore[type-arg]
    ents = [Entry(term=t, index=i, data=_bytes(d)) for i, t, d in batch["entries"]]
    return PersistRequest(entries=ents)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:]))
