"""Hypothesis strategies for the Raft value types, shared by the codec and storage tests."""

from __future__ import annotations

from hypothesis import strategies as st

from raftsql.raft.types import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
small = st.integers(min_value=0, max_value=1000)
ids = st.lists(st.integers(min_value=1, max_value=(1 << 64) - 1), max_size=5).map(tuple)
blobs = st.binary(max_size=64)


def entries(index: st.SearchStrategy[int] = u64) -> st.SearchStrategy[Entry]:
    return st.builds(
        Entry,
        term=u64,
        index=index,
        type=st.sampled_from(EntryType),
        data=blobs,
        client_id=st.binary(max_size=16),
        seq=u64,
    )


def hard_states() -> st.SearchStrategy[HardState]:
    return st.builds(HardState, term=u64, vote=u64, commit=u64)


def conf_states() -> st.SearchStrategy[ConfState]:
    return st.builds(
        ConfState,
        voters=ids,
        learners=ids,
        voters_outgoing=ids,
        learners_next=ids,
        auto_leave=st.booleans(),
    )


def snapshot_metadata() -> st.SearchStrategy[SnapshotMetadata]:
    return st.builds(SnapshotMetadata, index=u64, term=u64, conf_state=conf_states())


def messages() -> st.SearchStrategy[Message]:
    snaps = st.none() | st.builds(Snapshot, metadata=snapshot_metadata(), data=blobs)
    return st.builds(
        Message,
        type=st.sampled_from(MessageType),
        to=u64,
        frm=u64,
        term=u64,
        log_term=u64,
        index=u64,
        entries=st.lists(entries(), max_size=4).map(tuple),
        commit=u64,
        reject=st.booleans(),
        reject_hint=u64,
        snapshot=snaps,
        snapshot_offset=u64,
        snapshot_done=st.booleans(),
        context=blobs,
    )
