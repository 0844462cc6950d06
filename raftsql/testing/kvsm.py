"""The replicated key-value state machine the simulator runs: put, compare-and-set, dedup.

Requests carry ``(client_id, seq)`` in the entry (Raft thesis section 6.3, "Implementing
linearizable semantics"): the state machine remembers the last sequence number and result per
client, so a retried request that was committed twice is applied once and answers with the
first result. Each result names the index where the request took effect, which is how the
checkers tie an acknowledgement to one log position.

The state machine also keeps a rolling digest of everything it applied, so two replicas at the
same applied index can be compared in O(1) (STYLE.md section 5: "equal applied index implies an
equal content hash").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from raftsql.raft.types import Entry, EntryType, Snapshot

Result = tuple[str, bool, str | None, int]
"""(op, ok, value, index): for put ok is True and value the new value; for cas ok says whether
it swapped and value is the value after the operation; index is where it took effect."""


def encode_put(key: str, value: str) -> bytes:
    return json.dumps(["put", key, value]).encode()


def encode_cas(key: str, expected: str | None, new: str) -> bytes:
    return json.dumps(["cas", key, expected, new]).encode()


def decode(data: bytes) -> list[Any]:
    return json.loads(data)


def execute(data: dict[str, str], cmd: list[Any], index: int) -> Result:
    """The pure transition function; the history checker's model reuses it."""
    if cmd[0] == "put":
        data[cmd[1]] = cmd[2]
        return ("put", True, cmd[2], index)
    if cmd[0] == "cas":
        _, key, expected, new = cmd
        current = data.get(key)
        if current == expected:
            data[key] = new
            return ("cas", True, new, index)
        return ("cas", False, current, index)
    raise ValueError(f"unknown command {cmd[0]!r}")


class KVStateMachine:
    """``raftsql.node.ready.StateMachine`` for the simulator."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.sessions: dict[str, tuple[int, Result]] = {}
        self.applied = 0
        self.digest = b""

    def apply_entries(self, entries: Sequence[Entry]) -> list[Result | None]:
        return [self._apply(e) for e in entries]

    def _apply(self, entry: Entry) -> Result | None:
        assert entry.index == self.applied + 1, f"apply {entry.index} after {self.applied}"
        self.applied = entry.index
        self.digest = hashlib.blake2b(
            self.digest
            + entry.index.to_bytes(8, "big")
            + entry.client_id
            + entry.seq.to_bytes(8, "big")
            + entry.data,
            digest_size=16,
        ).digest()
        if entry.type != EntryType.NORMAL or not entry.data:
            return None
        client = entry.client_id.hex()
        if client:
            last = self.sessions.get(client)
            if last is not None and last[0] >= entry.seq:
                # A retry of an applied request: answer with the first result (thesis 6.3).
                return last[1] if last[0] == entry.seq else None
        result = execute(self.data, decode(entry.data), entry.index)
        if client:
            self.sessions[client] = (entry.seq, result)
        return result

    def restore(self, snapshot: Snapshot) -> None:
        state = json.loads(bytes(snapshot.data)) if snapshot.data else {}
        self.data = dict(state.get("data", {}))
        self.sessions = {
            c: (seq, tuple(res)) for c, (seq, res) in state.get("sessions", {}).items()
        }
        self.applied = snapshot.metadata.index
        self.digest = bytes.fromhex(state.get("digest", ""))

    def snapshot_data(self) -> bytes:
        """The state at ``applied``, deterministic bytes (sorted keys)."""
        return json.dumps(
            {"data": self.data, "sessions": self.sessions, "digest": self.digest.hex()},
            sort_keys=True,
        ).encode()

    def get(self, key: str) -> str | None:
        return self.data.get(key)
