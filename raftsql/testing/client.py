"""Simulated clients: writes, compare-and-set and reads, retried under the same (client, seq).

A client has one operation in flight (like one connection). It sends to the node it believes
leads (the last leader hint it saw), else to a random member; a proposal a node drops, or one
that sees no result within a timeout, is retried with the SAME ``(client_id, seq)`` on another
node, so the log may hold duplicates and the state machine's dedup (thesis 6.3) must answer
the retry with the first result. A read is retried as a new read (new context, new
invocation time): the abandoned attempt never returned anything.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from raftsql.raft.storage import RaftError
from raftsql.testing import kvsm
from raftsql.testing.history import ReadRecord
from raftsql.testing.kvsm import Result
from raftsql.testing.options import TICK_US

if TYPE_CHECKING:
    from raftsql.testing.cluster import SimCluster
    from raftsql.testing.simnode import SimNode

TIMEOUT_US = 12 * TICK_US
BACKOFF_US = 3 * TICK_US


class SimClient:
    def __init__(self, cluster: SimCluster, index: int, rng: random.Random) -> None:
        self.cluster = cluster
        self.name = f"c{index}"
        self.id = self.name.encode()
        self.rng = rng
        self.seq = 0
        self.reads = 0
        self.attempt = 0
        self.pending: tuple[str, bytes, str] | None = None  # (kind, data, key)
        self.read_rec: ReadRecord | None = None
        self.waiting_on: SimNode | None = None
        self.hint = 0
        self.stopping = False
        self.acked = 0
        self.completed_reads = 0

    @property
    def idle(self) -> bool:
        return self.pending is None

    def start(self) -> None:
        self._think()

    def _think(self) -> None:
        if self.stopping:
            return
        self.cluster.clock.after(self.rng.randint(0, 5 * TICK_US), self._issue)

    def _issue(self) -> None:
        if self.stopping or self.pending is not None:
            return
        key = f"k{self.rng.randrange(self.cluster.options.keys)}"
        r = self.rng.random()
        if r < 0.4:
            self.seq += 1
            value = f"{self.name}.{self.seq}"
            self.pending = ("write", kvsm.encode_put(key, value), key)
        elif r < 0.6:
            self.seq += 1
            expected = self.rng.choice([None, *self._recent_values(key)])
            self.pending = ("write", kvsm.encode_cas(key, expected, f"{self.name}.{self.seq}"), key)
        else:
            self.pending = ("read", b"", key)
        self._send()

    def _recent_values(self, key: str) -> list[str]:
        node = self.cluster.any_up_node()
        v = node.sm.get(key) if node is not None else None
        return [v] if v is not None else []

    def _pick(self) -> SimNode | None:
        hinted = self.cluster.nodes.get(self.hint)
        if hinted is not None and hinted.up and not hinted.removed and self.rng.random() < 0.9:
            return hinted
        members = self.cluster.live_members()
        return self.rng.choice(members) if members else None

    def _send(self) -> None:
        assert self.pending is not None
        self._abandon()
        self.attempt += 1
        attempt = self.attempt
        node = self._pick()
        if node is None:
            self.cluster.clock.after(BACKOFF_US, self._retry_if(attempt))
            return
        if node.stalled:  # its loop is held: the request waits in its socket
            node.held.append(lambda: self._request(node, attempt))
            self.cluster.clock.after(TIMEOUT_US, self._retry_if(attempt))
            return
        self._request(node, attempt)

    def _request(self, node: SimNode, attempt: int) -> None:
        """Hand the pending request to ``node`` (attempt ``attempt``, if still current)."""
        if self.pending is None or self.attempt != attempt or not node.up:
            return
        kind, data, key = self.pending
        self.hint = node.leader
        if kind == "write":
            try:
                node.raw.propose(data, client_id=self.id, seq=self.seq)
            except RaftError:
                self.cluster.trace(f"{self.name} write #{self.seq} dropped by n{node.id}")
                self.cluster.clock.after(BACKOFF_US, self._retry_if(attempt))
                return
            node.write_waiters[(self.id, self.seq)] = self
            self.cluster.trace(f"{self.name} write #{self.seq} {data.decode()} -> n{node.id}")
        else:
            self.reads += 1
            ctx = f"{self.name}:{self.reads}".encode()
            self.read_rec = self.cluster.history.invoke_read(
                self.name, key, self.cluster.read_mode, self.cluster.clock.now
            )
            try:
                node.raw.read_index(ctx)
            except RaftError:
                self.cluster.clock.after(BACKOFF_US, self._retry_if(attempt))
                return
            node.read_waiters[ctx] = (self, self.read_rec)
            self.cluster.trace(f"{self.name} read {key} ctx={ctx.decode()} -> n{node.id}")
        self.waiting_on = node
        self.cluster.clock.after(TIMEOUT_US, self._retry_if(attempt))
        self.cluster.drain(node)

    def _retry_if(self, attempt: int) -> Callable[[], None]:
        def retry() -> None:
            if self.pending is not None and self.attempt == attempt:
                self.hint = 0  # that node did not answer: try another one
                self._send()

        return retry

    def _abandon(self) -> None:
        node = self.waiting_on
        if node is not None:
            node.write_waiters.pop((self.id, self.seq), None)
            for ctx in [c for c, (cl, _) in node.read_waiters.items() if cl is self]:
                del node.read_waiters[ctx]
        self.waiting_on = None

    # -- completions (called by the cluster when a node applies / releases) --------------------
    def on_write_result(self, node: SimNode, result: Result) -> None:
        assert self.pending is not None and self.pending[0] == "write"
        self.cluster.trace(f"{self.name} ack #{self.seq} from n{node.id}: {result}")
        self.cluster.history.on_write_ack(self.id, self.seq, result, self.cluster.checker.committed)
        self.acked += 1
        self._finish(node)

    def on_read(self, node: SimNode, rec: ReadRecord) -> None:
        assert self.pending is not None and self.pending[0] == "read"
        value = node.sm.get(rec.key)
        self.cluster.trace(
            f"{self.name} read {rec.key}={value!r} on n{node.id} at a{node.sm.applied}"
        )
        self.cluster.history.complete_read(
            rec,
            node.id,
            node.sm.applied,
            value,
            self.cluster.clock.now,
            self.cluster.checker.committed,
        )
        self.completed_reads += 1
        self._finish(node)

    def _finish(self, node: SimNode) -> None:
        self.hint = node.leader or self.hint
        self.waiting_on = None
        self.pending = None
        self.read_rec = None
        self._think()
