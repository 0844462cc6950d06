"""Safety checkers that watch a simulated cluster after every event.

Modelled on TigerBeetle's ``StateChecker`` (``src/testing/cluster/state_checker.zig``): the
checker keeps one canonical chain of what was committed and applied and asserts that every
replica agrees with it. Each check cites the Raft paper (Ongaro & Ousterhout 2014, Figure 3,
"Raft guarantees each of these properties is true at all times"):

- Election Safety: at most one leader per term (section 5.2);
- Log Matching: two logs with an entry of the same index and term hold the same entry there
  and agree on everything before it (5.3), checked on DURABLE logs, incrementally: equal
  (index, term) must mean equal entry and equal term at index-1, which by induction is the whole
  prefix;
- Leader Completeness: a committed entry is in the log of every later leader (5.4);
- State Machine Safety: no two nodes apply different entries at one index (5.4.3), and equal
  applied indexes mean equal state digests.

All checks are incremental (cost proportional to what changed), so they can run after every
event. A violation raises ``SafetyViolation`` with a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftsql.raft.storage import CompactedError, MemoryLog, UnavailableError
from raftsql.raft.types import Entry, NodeId, Role, Snapshot
from raftsql.testing.simlog import Batch, DurableImage


class SafetyViolation(AssertionError):
    """A Raft safety property failed; the message names property, node and index."""


EntryKey = tuple[int, bytes, bytes, int]


def entry_key(e: Entry) -> EntryKey:
    return (int(e.type), e.data, e.client_id, e.seq)


@dataclass
class CommittedEntry:
    index: int
    term: int
    key: EntryKey
    in_term: int = 0
    """The term in which it was first known committed (its committing leader's term); 0 when
    unknown, which makes every later leader answer for it."""


@dataclass
class SafetyChecker:
    """Cluster-wide invariants of the Raft paper, Figure 3."""

    leaders: dict[int, NodeId] = field(default_factory=dict)
    durable_entries: dict[tuple[int, int], tuple[EntryKey, int | None]] = field(
        default_factory=dict
    )
    committed: dict[int, CommittedEntry] = field(default_factory=dict)
    applied: dict[int, EntryKey] = field(default_factory=dict)
    digests: dict[int, bytes] = field(default_factory=dict)
    seen_commit: dict[NodeId, int] = field(default_factory=dict)
    checks: int = 0

    # -- Election Safety ----------------------------------------------------------------
    def on_role(self, node: NodeId, term: int, role: Role, log: MemoryLog) -> None:
        """A node reported (term, role). Paper 5.2 and 5.4 (Leader Completeness)."""
        self.checks += 1
        if role is not Role.LEADER:
            return
        holder = self.leaders.get(term)
        if holder is None:
            self.leaders[term] = node
            self._check_leader_completeness(node, term, log)
        elif holder != node:
            raise SafetyViolation(
                f"election safety: n{holder} and n{node} are both leader of term {term}"
            )

    def _check_leader_completeness(self, node: NodeId, term: int, log: MemoryLog) -> None:
        """Paper 5.4: an entry committed in term U is in the log of every leader of a term
        above U. Not of a lower term: votes granted in term 5 may reach their candidate only
        after the leader of term 6 committed more (a delayed vote response, a candidate whose
        loop was held); that leader of term 5 can commit nothing, since a majority has moved on."""
        first, last = log.first_index(), log.last_index()
        for index in sorted(self.committed):
            if index < first:
                continue
            c = self.committed[index]
            if c.in_term and c.in_term >= term:
                continue
            if index > last:
                raise SafetyViolation(
                    f"leader completeness: n{node} leads term {term} without committed "
                    f"entry {index} (its last index is {last})"
                )
            t = log.term(index)
            if t != c.term:
                raise SafetyViolation(
                    f"leader completeness: n{node} leads term {term} with term {t} at "
                    f"committed index {index} (committed term {c.term})"
                )

    # -- Log Matching (durable logs) -------------------------------------------------------
    def on_durable(self, node: NodeId, image: DurableImage, batch: Batch) -> None:
        """Entries reached node's disk. Paper 5.3, Log Matching Property."""
        self.checks += 1
        for e in batch.entries:
            if e.index <= image.offset:
                continue
            prev = image.term(e.index - 1)
            key = (e.index, e.term)
            seen = self.durable_entries.get(key)
            if seen is None:
                self.durable_entries[key] = (entry_key(e), prev)
                continue
            if seen[0] != entry_key(e):
                raise SafetyViolation(
                    f"log matching: n{node} stores a different entry at index {e.index} "
                    f"term {e.term}"
                )
            if prev is not None and seen[1] is not None and seen[1] != prev:
                raise SafetyViolation(
                    f"log matching: n{node} has term {prev} at index {e.index - 1} before "
                    f"({e.index}, {e.term}); another log has term {seen[1]}"
                )

    # -- commitment ------------------------------------------------------------------------
    def on_commit(self, node: NodeId, commit: int, log: MemoryLog, term: int) -> None:
        """A node's commit index advanced, in ``term``: what it now calls committed must agree
        with what anyone else called committed (paper 5.4.2, Figure 3 State Machine Safety)."""
        self.checks += 1
        lo = max(self.seen_commit.get(node, 0), log.first_index() - 1) + 1
        self.seen_commit[node] = max(self.seen_commit.get(node, 0), commit)
        if lo > commit:
            return
        try:
            ents = log.entries(lo, commit + 1)
        except (CompactedError, UnavailableError) as exc:
            raise SafetyViolation(
                f"n{node} commit {commit} is not in its log ({log.first_index()}.."
                f"{log.last_index()}): {exc}"
            ) from exc
        for e in ents:
            c = self.committed.get(e.index)
            if c is None:
                self.committed[e.index] = CommittedEntry(e.index, e.term, entry_key(e), term)
            elif c.term != e.term or c.key != entry_key(e):
                raise SafetyViolation(
                    f"state machine safety: n{node} committed term {e.term} at index "
                    f"{e.index}, but term {c.term} was committed there before"
                )

    def forget_commit(self, node: NodeId) -> None:
        """A node restarted: re-check its durable commit from scratch."""
        self.seen_commit.pop(node, None)

    # -- State Machine Safety -----------------------------------------------------------------
    def on_apply(self, node: NodeId, entry: Entry) -> None:
        """Paper 5.4.3: a node that applies an entry at an index applies the same entry there
        as every other node, and only an entry that is committed."""
        self.checks += 1
        key = entry_key(entry)
        seen = self.applied.get(entry.index)
        if seen is None:
            self.applied[entry.index] = key
        elif seen != key:
            raise SafetyViolation(
                f"state machine safety: n{node} applied a different entry at index {entry.index}"
            )
        c = self.committed.get(entry.index)
        if c is None or c.key != key or c.term != entry.term:
            raise SafetyViolation(
                f"n{node} applied index {entry.index} (term {entry.term}) that is not the "
                f"committed entry there"
            )

    def on_digest(self, node: NodeId, index: int, digest: bytes) -> None:
        """Equal applied index implies equal state (STYLE.md section 5)."""
        self._check_digest(node, index, digest)

    def on_restore(self, node: NodeId, snap: Snapshot, digest: bytes) -> None:
        self.checks += 1
        c = self.committed.get(snap.metadata.index)
        if c is not None and c.term != snap.metadata.term:
            raise SafetyViolation(
                f"n{node} restored snapshot {snap.metadata.index} term {snap.metadata.term}, "
                f"committed term there is {c.term}"
            )
        self._check_digest(node, snap.metadata.index, digest)

    def _check_digest(self, node: NodeId, index: int, digest: bytes) -> None:
        seen = self.digests.setdefault(index, digest)
        if seen != digest:
            raise SafetyViolation(
                f"state machine safety: n{node} state digest differs at applied index {index}"
            )
