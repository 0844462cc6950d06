"""The client history and its checker: no acknowledged write lost, reads linearizable.

Jepsen-style: clients record when an operation was invoked and when it completed. Writes are
judged against the canonical committed log (``SafetyChecker.committed``): an acknowledged write
must sit at the index its result names, be the first occurrence of its ``(client_id, seq)``
there (exactly once, Raft thesis 6.3) and carry the result a reference model computes.

Reads are judged by the rule of Raft thesis 6.4 (ReadIndex) and 6.4.1 (leases): a read served
from a state at applied index A is linearizable iff A is at least the index of every operation
that completed before the read was invoked (every acknowledged write, and every read's own A,
since an earlier read may have observed a write not yet acknowledged), and the value equals
the model's state at A. Serving reads from a state that is too old is exactly what a lease
read after lease expiry, or a ReadIndex without a quorum round, produces.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from raftsql.raft.types import EntryType
from raftsql.testing.checkers import CommittedEntry, SafetyViolation
from raftsql.testing.kvsm import Result, decode, execute


@dataclass
class ReadRecord:
    client: str
    key: str
    mode: str
    invoked: int
    floor: int
    node: int = 0
    completed: int = -1
    applied: int = -1
    value: str | None = None


class HistoryChecker:
    """Online judge of client operations against the committed log."""

    def __init__(self, start_index: int = 0) -> None:
        """``start_index``: the bootstrap snapshot's index (the model starts empty there)."""
        self.floor = start_index
        """Max index any completed operation is known to reflect."""
        self._model: dict[str, str] = {}
        self._versions: dict[str, tuple[list[int], list[str]]] = {}
        self._sessions: dict[bytes, tuple[int, Result]] = {}
        self._first_at: dict[tuple[bytes, int], int] = {}
        self._results: dict[int, Result] = {}
        self.model_index = start_index
        self.acked: dict[tuple[bytes, int], int] = {}
        self.reads_checked = 0
        self.writes_checked = 0

    # -- the reference model, fed with the canonical committed chain ----------------------------
    def advance_model(self, committed: dict[int, CommittedEntry]) -> None:
        """Apply committed entries to the model in index order as far as they are known."""
        while (c := committed.get(self.model_index + 1)) is not None:
            self.model_index += 1
            etype, data, client, seq = c.key
            if etype != EntryType.NORMAL or not data:
                continue
            if client:
                last = self._sessions.get(client)
                if last is not None and last[0] >= seq:
                    continue
            self._first_at.setdefault((client, seq), c.index)
            cmd = decode(data)
            result = execute(self._model, cmd, c.index)
            self._results[c.index] = result
            if client:
                self._sessions[client] = (seq, result)
            if result[1]:
                idx, vals = self._versions.setdefault(cmd[1], ([], []))
                idx.append(c.index)
                vals.append(self._model[cmd[1]])

    def value_at(self, key: str, index: int) -> str | None:
        assert index <= self.model_index, f"model at {self.model_index} cannot answer {index}"
        idx, vals = self._versions.get(key, ([], []))
        pos = bisect.bisect_right(idx, index)
        return vals[pos - 1] if pos else None

    # -- writes ------------------------------------------------------------------------------
    def on_write_ack(
        self, client: bytes, seq: int, result: Result, committed: dict[int, CommittedEntry]
    ) -> None:
        """A client got ``result`` for request (client, seq)."""
        self.writes_checked += 1
        self.advance_model(committed)
        index = result[3]
        first = self._first_at.get((client, seq))
        if first != index:
            raise SafetyViolation(
                f"acked write {client.hex()}#{seq} claims index {index}, but the committed log "
                f"has its first occurrence at {first}"
            )
        if self._results.get(index) != result:
            raise SafetyViolation(
                f"acked write {client.hex()}#{seq} got {result}, the model says "
                f"{self._results.get(index)}"
            )
        self.acked[(client, seq)] = index
        self.floor = max(self.floor, index)

    def check_final(self, committed: dict[int, CommittedEntry]) -> None:
        """At the end: every acknowledged write is in the committed log exactly once (its first
        occurrence is at the acknowledged index; later copies are deduplicated retries)."""
        self.advance_model(committed)
        for (client, seq), index in self.acked.items():
            c = committed.get(index)
            if c is None or (c.key[2], c.key[3]) != (client, seq):
                raise SafetyViolation(f"acked write {client.hex()}#{seq} lost from index {index}")

    # -- reads -------------------------------------------------------------------------------
    def invoke_read(self, client: str, key: str, mode: str, now: int) -> ReadRecord:
        return ReadRecord(client, key, mode, invoked=now, floor=self.floor)

    def complete_read(
        self,
        rec: ReadRecord,
        node: int,
        applied: int,
        value: str | None,
        now: int,
        committed: dict[int, CommittedEntry],
    ) -> None:
        self.reads_checked += 1
        rec.node, rec.applied, rec.value, rec.completed = node, applied, value, now
        self.advance_model(committed)
        if applied < rec.floor:
            raise SafetyViolation(
                f"stale {rec.mode} read by {rec.client} of {rec.key!r} on n{node}: served at "
                f"applied index {applied}, but index {rec.floor} completed before the read was "
                f"invoked at t={rec.invoked}"
            )
        expected = self.value_at(rec.key, applied)
        if value != expected:
            raise SafetyViolation(
                f"{rec.mode} read of {rec.key!r} on n{node} at applied {applied} returned "
                f"{value!r}, the committed state there has {expected!r}"
            )
        self.floor = max(self.floor, applied)
