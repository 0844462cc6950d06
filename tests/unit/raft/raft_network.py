"""A tiny in-memory network of RawNodes for the Raft unit tests (etcd raft_test.go ``network``).

Every node runs the real RawNode over a real MemoryLog and handles its Readys in the order of
docs/raft-api.md (persist, send, apply, advance). Delivery is synchronous and breadth-first;
``drop``/``cut``/``isolate``/``ignore`` shape it, deterministically (no global random).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from raftsql.raft.confchange import decode_conf_change
from raftsql.raft.config import Config
from raftsql.raft.describe import describe_ready
from raftsql.raft.rawnode import RawNode
from raftsql.raft.storage import MemoryLog
from raftsql.raft.types import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    NodeId,
    ReadState,
    Ready,
)


def make_config(nid: NodeId, **kw: object) -> Config:
    kw.setdefault("rng", random.Random(nid))
    return Config(id=nid, **kw)  # type: ignore[arg-type]


@dataclass
class Peer:
    node: RawNode
    log: MemoryLog
    applied: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    readys: list[Ready] = field(default_factory=list)


class Network:
    def __init__(self, ids: Iterable[NodeId], voters: Iterable[NodeId] | None = None,
                 learners: Iterable[NodeId] = (), **cfg: object) -> None:
        ids = list(ids)
        cs = ConfState(voters=tuple(voters if voters is not None else ids),
                       learners=tuple(learners))
        self.cfg = cfg
        self.peers: dict[NodeId, Peer] = {}
        for nid in ids:
            self.add(nid, cs)
        self.dropped: set[tuple[NodeId, NodeId]] = set()
        self.ignored: set[MessageType] = set()
        self.hook: Callable[[Message], bool] | None = None
        self.delivered: list[Message] = []
        self.queue: deque[Message] = deque()
        self.trace: list[str] | None = None
        """When a list, every handled Ready is appended as describe_ready lines."""

    def add(self, nid: NodeId, cs: ConfState | None = None, **cfg: object) -> Peer:
        log = MemoryLog(cs or ConfState())
        merged = {**self.cfg, **cfg}
        p = Peer(RawNode(make_config(nid, **merged), log), log)
        self.peers[nid] = p
        return p

    def restart(self, nid: NodeId, **cfg: object) -> Peer:
        """Crash and restart ``nid``: only what its MemoryLog holds survives."""
        old = self.peers[nid]
        merged = {**self.cfg, **cfg}
        p = Peer(RawNode(make_config(nid, **merged), old.log), old.log)
        self.peers[nid] = p
        return p

    def node(self, nid: NodeId) -> RawNode:
        return self.peers[nid].node

    # --- faults ------------------------------------------------------------------------------
    def cut(self, a: NodeId, b: NodeId) -> None:
        self.dropped |= {(a, b), (b, a)}

    def isolate(self, nid: NodeId) -> None:
        for other in self.peers:
            if other != nid:
                self.cut(nid, other)

    def ignore(self, t: MessageType) -> None:
        self.ignored.add(t)

    def recover(self) -> None:
        self.dropped.clear()
        self.ignored.clear()
        self.hook = None

    # --- driving -----------------------------------------------------------------------------
    def handle_ready(self, nid: NodeId) -> list[Message]:
        """Handle every pending Ready of ``nid``; return the messages it sends."""
        p = self.peers[nid]
        out: list[Message] = []
        while p.node.has_ready():
            rd = p.node.ready()
            p.readys.append(rd)
            if self.trace is not None:
                self.trace.append(f"> {nid} handling Ready")
                self.trace.extend("  " + line for line in describe_ready(rd).splitlines())
            if not rd.snapshot.empty:
                p.log.apply_snapshot(rd.snapshot)
            p.log.append(rd.entries)
            if rd.hard_state is not None:
                p.log.set_hard_state(rd.hard_state)
            out.extend(rd.messages)
            out.extend(rd.persisted_messages)
            for e in rd.committed_entries:
                p.applied.append(e)
                if e.type is EntryType.CONF_CHANGE:
                    cs = p.node.apply_conf_change(decode_conf_change(e.data))
                    p.log.set_conf_state(cs)
            p.read_states.extend(rd.read_states)
            p.node.advance(rd)
        return out

    def _deliverable(self, m: Message) -> bool:
        if m.to not in self.peers:
            return False
        if (m.frm, m.to) in self.dropped or m.type in self.ignored:
            return False
        return self.hook is None or self.hook(m)

    def send(self, msgs: Iterable[Message] = ()) -> None:
        """Deliver ``msgs`` and everything they cause until the network is quiet."""
        self.queue.extend(msgs)
        for nid in list(self.peers):
            self.queue.extend(self.handle_ready(nid))
        while self.queue:
            m = self.queue.popleft()
            if not self._deliverable(m):
                continue
            self.delivered.append(m)
            self.node(m.to).step(m)
            self.queue.extend(self.handle_ready(m.to))

    def campaign(self, nid: NodeId) -> None:
        self.node(nid).campaign()
        self.send()

    def propose(self, nid: NodeId, data: bytes, client_id: bytes = b"", seq: int = 0) -> None:
        self.node(nid).propose(data, client_id, seq)
        self.send()

    def tick(self, nid: NodeId, n: int = 1) -> None:
        """Tick ``nid`` ``n`` times, letting the network settle after each tick."""
        for _ in range(n):
            self.node(nid).tick()
            self.send()

    def tick_all(self, n: int = 1) -> None:
        for _ in range(n):
            for nid in list(self.peers):
                self.node(nid).tick()
            self.send()

    def data(self, nid: NodeId) -> list[bytes]:
        return [e.data for e in self.peers[nid].applied if e.data and e.type is EntryType.NORMAL]


def solo(nid: NodeId, voters: Iterable[NodeId], log: MemoryLog | None = None,
         **cfg: object) -> tuple[RawNode, MemoryLog]:
    """One RawNode whose messages the test inspects by hand (raft_paper_test.go style)."""
    log = log or MemoryLog(ConfState(voters=tuple(voters)))
    return RawNode(make_config(nid, **cfg), log), log


def drain(node: RawNode, log: MemoryLog) -> list[Message]:
    """Handle every Ready of ``node`` (persisting to ``log``); return all messages it sent."""
    out: list[Message] = []
    while node.has_ready():
        rd = node.ready()
        if not rd.snapshot.empty:
            log.apply_snapshot(rd.snapshot)
        log.append(rd.entries)
        if rd.hard_state is not None:
            log.set_hard_state(rd.hard_state)
        out.extend(rd.messages)
        out.extend(rd.persisted_messages)
        node.advance(rd)
    return out


def of_type(msgs: Iterable[Message], t: MessageType) -> list[Message]:
    return [m for m in msgs if m.type is t]


def log_with(*terms: int, voters: Iterable[NodeId] = (1, 2, 3)) -> MemoryLog:
    """A MemoryLog holding entries of the given terms at indexes 1, 2, ..."""
    log = MemoryLog(ConfState(voters=tuple(voters)))
    log.append([Entry(term=t, index=i + 1) for i, t in enumerate(terms)])
    return log
