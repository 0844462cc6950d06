"""One stable line of text per message, entry, hard state, snapshot and Ready (etcd ``util.go``).

The same line appears in logs, golden files and simulation traces, so a failing test reads
like a protocol trace. Keep the format stable: golden files depend on it.
"""

from __future__ import annotations

from .types import (
    NONE,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    NodeId,
    Ready,
    Snapshot,
)


def _id(n: NodeId) -> str:
    return "None" if n == NONE else str(n)


def describe_entry(e: Entry) -> str:
    kind = "ConfChange" if e.type is EntryType.CONF_CHANGE else "Normal"
    s = f"{e.term}/{e.index} {kind}"
    if e.data:
        s += f" {e.data!r}"
    if e.client_id:
        s += f" client={e.client_id.hex()}#{e.seq}"
    return s


def describe_entries(ents: tuple[Entry, ...] | list[Entry]) -> str:
    return "[" + ", ".join(describe_entry(e) for e in ents) + "]"


def describe_hard_state(hs: HardState) -> str:
    return f"Term:{hs.term} Vote:{_id(hs.vote)} Commit:{hs.commit}"


def describe_conf_state(cs: ConfState) -> str:
    s = f"voters={list(cs.voters)}"
    if cs.voters_outgoing:
        s += f"&&{list(cs.voters_outgoing)}"
    if cs.learners:
        s += f" learners={list(cs.learners)}"
    if cs.learners_next:
        s += f" learners_next={list(cs.learners_next)}"
    if cs.auto_leave:
        s += " autoleave"
    return s


def describe_snapshot(s: Snapshot) -> str:
    m = s.metadata
    return f"Index:{m.index} Term:{m.term} ConfState:{describe_conf_state(m.conf_state)} Data:{len(s.data)}B"


def describe_message(m: Message) -> str:
    s = f"{_id(m.frm)}->{_id(m.to)} {m.type.name} Term:{m.term} Log:{m.log_term}/{m.index}"
    if m.reject:
        s += f" Rejected (Hint: {m.reject_hint})"
    if m.commit:
        s += f" Commit:{m.commit}"
    if m.entries:
        s += f" Entries:{describe_entries(m.entries)}"
    if m.snapshot is not None and not m.snapshot.empty:
        s += f" Snapshot: {describe_snapshot(m.snapshot)} Offset:{m.snapshot_offset}"
        s += " Done" if m.snapshot_done else ""
    if m.context:
        s += f" Ctx:{m.context.hex()}"
    return s


def describe_ready(rd: Ready) -> str:
    lines: list[str] = []
    if rd.soft_state is not None:
        lines.append(f"Lead:{_id(rd.soft_state.leader_id)} State:{rd.soft_state.role.value}")
    if rd.hard_state is not None:
        lines.append("HardState " + describe_hard_state(rd.hard_state))
    if rd.read_states:
        lines.append("ReadStates " + ", ".join(f"{r.index}:{r.request_ctx!r}" for r in rd.read_states))
    if rd.entries:
        lines.append("Entries: " + describe_entries(rd.entries))
    if not rd.snapshot.empty:
        lines.append("Snapshot " + describe_snapshot(rd.snapshot))
    if rd.committed_entries:
        lines.append("CommittedEntries: " + describe_entries(rd.committed_entries))
    for m in rd.messages:
        lines.append("Message " + describe_message(m))
    for m in rd.persisted_messages:
        lines.append("AfterPersist " + describe_message(m))
    if rd.must_sync:
        lines.append("MustSync")
    return "\n".join(lines) if lines else "<empty Ready>"
