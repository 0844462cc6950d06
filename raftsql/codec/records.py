"""Versioned msgpack encoding of the Raft value types (``raftsql.raft.types``).

Why this shape: replicated and persisted records must outlive the process that wrote them, so
they are schema'd and versioned (STYLE.md rule 10) and never pickled. Arrays with a fixed field
order are smaller and faster to pack than maps; the version byte lets a later format add fields.

Layout of every record::

    byte 0   FORMAT_VERSION (currently 1)
    byte 1   kind tag (Kind), so that bytes of one type are never decoded as another
    byte 2.. one msgpack array, fields in the order below (ints are unsigned, bytes are msgpack bin)

    ENTRY              [term, index, type, data, client_id, seq]
    HARD_STATE         [term, vote, commit]
    CONF_STATE         [voters[], learners[], voters_outgoing[], learners_next[], auto_leave]
    SNAPSHOT_METADATA  [index, term, CONF_STATE-array]
    MESSAGE            [type, to, frm, term, log_term, index, [ENTRY-array, ...], commit,
                        reject, reject_hint, snapshot, snapshot_offset, snapshot_done, context]
                       where snapshot is nil or [SNAPSHOT_METADATA-array, data]

Nested records (entries inside a message, metadata inside a snapshot) are bare arrays without
their own header: the outer header versions the whole record.

Decoding is strict: every field is type-checked (``bool`` is not an ``int``, ``str`` is not
``bytes``), enum values must be known, integers must fit in 64 unsigned bits, and any failure,
including msgpack's own, is raised as :class:`CodecError`.
"""

from __future__ import annotations

import enum
from typing import Any

import msgpack  # type: ignore[import-untyped]

from raftsql.codec.errors import CodecError
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

FORMAT_VERSION = 1
DEFAULT_MAX_RECORD = 64 << 20
"""Default upper bound on an encoded record; callers with tighter limits pass ``max_size``."""

_U64_MAX = (1 << 64) - 1


class Kind(enum.IntEnum):
    ENTRY = 1
    HARD_STATE = 2
    CONF_STATE = 3
    SNAPSHOT_METADATA = 4
    # 5 was CONF_CHANGE; CONF_CHANGE entry data is encoded by raftsql.raft.confchange
    MESSAGE = 6


_HEADERS = {k: bytes((FORMAT_VERSION, k)) for k in Kind}

_ENTRY_TYPES = {int(t): t for t in EntryType}
_MESSAGE_TYPES = {int(t): t for t in MessageType}


# ---------------------------------------------------------------- encoding (value -> array)


def _entry_array(e: Entry) -> list[Any]:
    return [e.term, e.index, int(e.type), e.data, e.client_id, e.seq]


def _conf_state_array(cs: ConfState) -> list[Any]:
    return [
        list(cs.voters),
        list(cs.learners),
        list(cs.voters_outgoing),
        list(cs.learners_next),
        cs.auto_leave,
    ]


def _snapshot_metadata_array(m: SnapshotMetadata) -> list[Any]:
    return [m.index, m.term, _conf_state_array(m.conf_state)]


def _message_array(m: Message) -> list[Any]:
    snap = None
    if m.snapshot is not None:
        snap = [_snapshot_metadata_array(m.snapshot.metadata), m.snapshot.data]
    return [
        int(m.type),
        m.to,
        m.frm,
        m.term,
        m.log_term,
        m.index,
        [_entry_array(e) for e in m.entries],
        m.commit,
        m.reject,
        m.reject_hint,
        snap,
        m.snapshot_offset,
        m.snapshot_done,
        m.context,
    ]


def _pack(kind: Kind, body: list[Any]) -> bytes:
    try:
        packed: bytes = msgpack.packb(body, use_bin_type=True)
        return _HEADERS[kind] + packed
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode {kind.name}: {exc}") from exc


# ---------------------------------------------------------------- decoding (array -> value)


def _unpack(kind: Kind, data: bytes, max_size: int) -> Any:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"{kind.name}: expected bytes, got {type(data).__name__}")
    if len(data) > max_size:
        raise CodecError(f"{kind.name}: {len(data)} bytes exceeds the limit of {max_size}")
    if len(data) < 3:
        raise CodecError(f"{kind.name}: truncated record ({len(data)} bytes)")
    if data[0] != FORMAT_VERSION:
        raise CodecError(f"{kind.name}: unknown format version {data[0]}")
    if data[1] != kind:
        raise CodecError(f"expected a {kind.name} record, got kind {data[1]}")
    try:
        return msgpack.unpackb(memoryview(data)[2:], raw=False, use_list=True)
    except Exception as exc:  # msgpack raises many types; the contract is one
        raise CodecError(f"{kind.name}: malformed msgpack: {exc!r}") from exc


def _array(v: Any, n: int, what: str) -> list[Any]:
    if type(v) is not list or len(v) != n:
        raise CodecError(f"{what}: expected an array of {n} fields")
    return v


def _uint(v: Any, what: str) -> int:
    if type(v) is not int or v < 0 or v > _U64_MAX:
        raise CodecError(f"{what}: expected an unsigned 64-bit integer, got {v!r:.40}")
    return v


def _bytes(v: Any, what: str) -> bytes:
    if type(v) is not bytes:
        raise CodecError(f"{what}: expected bytes, got {type(v).__name__}")
    return v


def _bool(v: Any, what: str) -> bool:
    if type(v) is not bool:
        raise CodecError(f"{what}: expected a bool, got {type(v).__name__}")
    return v


def _enum(table: dict[int, Any], v: Any, what: str) -> Any:
    if type(v) is not int or v not in table:
        raise CodecError(f"{what}: unknown value {v!r:.40}")
    return table[v]


def _ids(v: Any, what: str) -> tuple[int, ...]:
    if type(v) is not list:
        raise CodecError(f"{what}: expected an array of node ids")
    return tuple(_uint(x, what) for x in v)


def _entry_from(v: Any) -> Entry:
    term, index, etype, data, client_id, seq = _array(v, 6, "entry")
    # The common case checked inline (every entry of every append goes through here: ~8% of
    # a follower's CPU); anything unusual takes the field-by-field checks and their messages.
    if (
        type(term) is int and type(index) is int and type(seq) is int
        and 0 <= term <= _U64_MAX and 0 <= index <= _U64_MAX and 0 <= seq <= _U64_MAX
        and type(data) is bytes and type(client_id) is bytes
    ):
        entry_type = _ENTRY_TYPES.get(etype) if type(etype) is int else None
        if entry_type is not None:
            return Entry(term, index, entry_type, data, client_id, seq)
    return Entry(
        term=_uint(term, "entry.term"),
        index=_uint(index, "entry.index"),
        type=_enum(_ENTRY_TYPES, etype, "entry.type"),
        data=_bytes(data, "entry.data"),
        client_id=_bytes(client_id, "entry.client_id"),
        seq=_uint(seq, "entry.seq"),
    )


def _conf_state_from(v: Any) -> ConfState:
    voters, learners, outgoing, learners_next, auto_leave = _array(v, 5, "conf_state")
    return ConfState(
        voters=_ids(voters, "conf_state.voters"),
        learners=_ids(learners, "conf_state.learners"),
        voters_outgoing=_ids(outgoing, "conf_state.voters_outgoing"),
        learners_next=_ids(learners_next, "conf_state.learners_next"),
        auto_leave=_bool(auto_leave, "conf_state.auto_leave"),
    )


def _snapshot_metadata_from(v: Any) -> SnapshotMetadata:
    index, term, cs = _array(v, 3, "snapshot_metadata")
    return SnapshotMetadata(
        index=_uint(index, "snapshot.index"),
        term=_uint(term, "snapshot.term"),
        conf_state=_conf_state_from(cs),
    )


def _message_from(v: Any) -> Message:
    (
        mtype,
        to,
        frm,
        term,
        log_term,
        index,
        entries,
        commit,
        reject,
        reject_hint,
        snap,
        snapshot_offset,
        snapshot_done,
        context,
    ) = _array(v, 14, "message")
    if type(entries) is not list:
        raise CodecError("message.entries: expected an array")
    # The common case checked inline, as in _entry_from: every message a node receives comes
    # through here, four of them on a write's path; anything unusual takes the field checks.
    if (
        snap is None and type(mtype) is int and type(to) is int and type(frm) is int
        and type(term) is int and type(log_term) is int and type(index) is int
        and type(commit) is int and type(reject_hint) is int and type(snapshot_offset) is int
        and 0 <= min(to, frm, term, log_term, index, commit, reject_hint, snapshot_offset)
        and max(to, frm, term, log_term, index, commit, reject_hint, snapshot_offset)
        <= _U64_MAX
        and type(reject) is bool and type(snapshot_done) is bool and type(context) is bytes
    ):
        message_type = _MESSAGE_TYPES.get(mtype)
        if message_type is not None:
            return Message(message_type, to, frm, term, log_term, index,
                           tuple([_entry_from(e) for e in entries]), commit, reject,
                           reject_hint, None, snapshot_offset, snapshot_done, context)
    snapshot = None
    if snap is not None:
        meta, sdata = _array(snap, 2, "message.snapshot")
        snapshot = Snapshot(
            metadata=_snapshot_metadata_from(meta), data=_bytes(sdata, "snapshot.data")
        )
    return Message(
        type=_enum(_MESSAGE_TYPES, mtype, "message.type"),
        to=_uint(to, "message.to"),
        frm=_uint(frm, "message.frm"),
        term=_uint(term, "message.term"),
        log_term=_uint(log_term, "message.log_term"),
        index=_uint(index, "message.index"),
        entries=tuple(_entry_from(e) for e in entries),
        commit=_uint(commit, "message.commit"),
        reject=_bool(reject, "message.reject"),
        reject_hint=_uint(reject_hint, "message.reject_hint"),
        snapshot=snapshot,
        snapshot_offset=_uint(snapshot_offset, "message.snapshot_offset"),
        snapshot_done=_bool(snapshot_done, "message.snapshot_done"),
        context=_bytes(context, "message.context"),
    )


# ---------------------------------------------------------------- public API


def encode_entry(e: Entry) -> bytes:
    return _pack(Kind.ENTRY, _entry_array(e))


def decode_entry(data: bytes, max_size: int = DEFAULT_MAX_RECORD) -> Entry:
    return _entry_from(_unpack(Kind.ENTRY, data, max_size))


def encode_hard_state(hs: HardState) -> bytes:
    return _pack(Kind.HARD_STATE, [hs.term, hs.vote, hs.commit])


def decode_hard_state(data: bytes, max_size: int = DEFAULT_MAX_RECORD) -> HardState:
    term, vote, commit = _array(_unpack(Kind.HARD_STATE, data, max_size), 3, "hard_state")
    return HardState(
        term=_uint(term, "hard_state.term"),
        vote=_uint(vote, "hard_state.vote"),
        commit=_uint(commit, "hard_state.commit"),
    )


def encode_conf_state(cs: ConfState) -> bytes:
    return _pack(Kind.CONF_STATE, _conf_state_array(cs))


def decode_conf_state(data: bytes, max_size: int = DEFAULT_MAX_RECORD) -> ConfState:
    return _conf_state_from(_unpack(Kind.CONF_STATE, data, max_size))


def encode_snapshot_metadata(m: SnapshotMetadata) -> bytes:
    return _pack(Kind.SNAPSHOT_METADATA, _snapshot_metadata_array(m))


def decode_snapshot_metadata(
    data: bytes, max_size: int = DEFAULT_MAX_RECORD
) -> SnapshotMetadata:
    return _snapshot_metadata_from(_unpack(Kind.SNAPSHOT_METADATA, data, max_size))


def encode_message(m: Message) -> bytes:
    return _pack(Kind.MESSAGE, _message_array(m))


def decode_message(data: bytes, max_size: int = DEFAULT_MAX_RECORD) -> Message:
    return _message_from(_unpack(Kind.MESSAGE, data, max_size))
