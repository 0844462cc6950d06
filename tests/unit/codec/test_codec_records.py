"""Round trips, golden bytes and strict validation of the record codec.

Sources of truth: the layout table in ``raftsql/codec/records.py`` (our format contract: logs
written today must decode tomorrow) and the msgpack specification
(https://github.com/msgpack/msgpack/blob/master/spec.md: fixarray 0x90|n, positive fixint,
bin8 0xc4, nil 0xc0, true 0xc3, false 0xc2).
"""

from __future__ import annotations

import msgpack
import pytest
from codec_strategies import (
    conf_states,
    entries,
    hard_states,
    messages,
    snapshot_metadata,
)
from hypothesis import given, settings

from raftsql.codec import (
    FORMAT_VERSION,
    CodecError,
    Kind,
    decode_conf_state,
    decode_entry,
    decode_hard_state,
    decode_message,
    decode_snapshot_metadata,
    encode_conf_state,
    encode_entry,
    encode_hard_state,
    encode_message,
    encode_snapshot_metadata,
)
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

# ------------------------------------------------------------------ golden bytes (format contract


def test_entry_golden_bytes() -> None:
    e = Entry(term=3, index=7, type=EntryType.NORMAL, data=b"ab", client_id=b"", seq=0)
    expected = bytes([1, Kind.ENTRY, 0x96, 3, 7, 0, 0xC4, 2, ord("a"), ord("b"), 0xC4, 0, 0])
    assert encode_entry(e) == expected
    assert decode_entry(expected) == e


def test_hard_state_golden_bytes() -> None:
    assert encode_hard_state(HardState(term=5, vote=2, commit=4)) == bytes(
        [1, Kind.HARD_STATE, 0x93, 5, 2, 4]
    )


def test_heartbeat_golden_bytes() -> None:
    m = Message(MessageType.HEARTBEAT, to=2, frm=1, term=4, commit=3)
    body = [0x9E, 17, 2, 1, 4, 0, 0, 0x90, 3, 0xC2, 0, 0xC0, 0, 0xC3, 0xC4, 0]
    assert encode_message(m) == bytes([1, Kind.MESSAGE, *body])


def test_version_byte_leads() -> None:
    assert encode_entry(Entry(term=1, index=1))[0] == FORMAT_VERSION == 1


# ------------------------------------------------------------------ round trips


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(entries())
def test_entry_round_trip(e: Entry) -> None:
    assert decode_entry(encode_entry(e)) == e


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(hard_states())
def test_hard_state_round_trip(hs: HardState) -> None:
    assert decode_hard_state(encode_hard_state(hs)) == hs


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(conf_states())
def test_conf_state_round_trip(cs: ConfState) -> None:
    assert decode_conf_state(encode_conf_state(cs)) == cs


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(snapshot_metadata())
def test_snapshot_metadata_round_trip(m: SnapshotMetadata) -> None:
    assert decode_snapshot_metadata(encode_snapshot_metadata(m)) == m


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(messages())
def test_message_round_trip(m: Message) -> None:
    decoded = decode_message(encode_message(m))
    assert decoded == m
    assert type(decoded.type) is MessageType
    assert all(type(e.type) is EntryType for e in decoded.entries)


def test_message_with_snapshot_round_trip() -> None:
    cs = ConfState(voters=(1, 2, 3), learners=(4,))
    snap = Snapshot(SnapshotMetadata(index=100, term=7, conf_state=cs), data=b"\x00sqlite")
    m = Message(MessageType.SNAP, to=4, frm=1, term=7, snapshot=snap, snapshot_offset=1 << 20,
                snapshot_done=False)
    assert decode_message(encode_message(m)) == m


# ------------------------------------------------------------------ strict validation


def _record(kind: Kind, body: object) -> bytes:
    return bytes([FORMAT_VERSION, kind]) + msgpack.packb(body, use_bin_type=True)


@pytest.mark.parametrize(
    "body,why",
    [
        ([3, 7, 0, b"ab", b""], "too few fields"),
        ([3, 7, 0, b"ab", b"", 0, 0], "too many fields"),
        ([True, 7, 0, b"ab", b"", 0], "bool is not an int"),
        ([-1, 7, 0, b"ab", b"", 0], "negative term"),
        ([3, 7, 9, b"ab", b"", 0], "unknown entry type"),
        ([3, 7, 0, "ab", b"", 0], "str is not bytes"),
        ([3, 7, 0, b"ab", None, 0], "nil is not bytes"),
        ([3, 7.0, 0, b"ab", b"", 0], "float is not an int"),
        ({"term": 3}, "map instead of array"),
    ],
)
def test_entry_rejects_wrong_fields(body: object, why: str) -> None:
    with pytest.raises(CodecError):
        decode_entry(_record(Kind.ENTRY, body))


_GOOD_MESSAGE = [10, 2, 1, 4, 3, 7, [[4, 8, 0, b"x", b"c", 1]], 6, False, 0, None, 0, False, b""]


@pytest.mark.parametrize(
    "field,value,why",
    [
        (1, True, "bool is not a node id"),
        (2, -1, "negative sender"),
        (3, -4, "negative term"),
        (4, 3.0, "float is not an int"),
        (5, "7", "str is not an index"),
        (7, -6, "negative commit"),
        (8, 0, "int is not a bool"),
        (9, None, "nil is not a hint"),
        (11, True, "bool is not an offset"),
        (12, 1, "int is not a bool"),
        (13, "", "str is not bytes"),
        (0, -10, "negative type"),
    ],
)
def test_message_rejects_wrong_fields(field: int, value: object, why: str) -> None:
    """Each field checked, on the inline path for the common message as on the general one
    (_message_from): the good body decodes, one wrong field makes it a CodecError."""
    assert decode_message(_record(Kind.MESSAGE, _GOOD_MESSAGE)).commit == 6
    body = list(_GOOD_MESSAGE)
    body[field] = value
    with pytest.raises(CodecError):
        decode_message(_record(Kind.MESSAGE, body))


def test_rejects_unknown_version_and_wrong_kind() -> None:
    good = encode_entry(Entry(term=1, index=1))
    with pytest.raises(CodecError, match="version"):
        decode_entry(bytes([2]) + good[1:])
    with pytest.raises(CodecError, match="MESSAGE"):
        decode_message(good)


def test_rejects_truncated_and_trailing_bytes() -> None:
    good = encode_message(Message(MessageType.APP, to=2, frm=1, term=1,
                                  entries=(Entry(term=1, index=1, data=b"x" * 10),)))
    for cut in range(len(good)):
        with pytest.raises(CodecError):
            decode_message(good[:cut])
    with pytest.raises(CodecError):
        decode_message(good + b"\x00")


def test_rejects_oversized_input_before_parsing() -> None:
    good = encode_entry(Entry(term=1, index=1, data=b"x" * 100))
    with pytest.raises(CodecError, match="exceeds"):
        decode_entry(good, max_size=len(good) - 1)
    assert decode_entry(good, max_size=len(good)).data == b"x" * 100


def test_rejects_non_bytes_input() -> None:
    with pytest.raises(CodecError):
        decode_entry("not bytes")  # type: ignore[arg-type]


def test_rejects_unknown_message_type_and_node_id_overflow() -> None:
    body = [99, 2, 1, 4, 0, 0, [], 3, False, 0, None, 0, True, b""]
    with pytest.raises(CodecError, match="message.type"):
        decode_message(_record(Kind.MESSAGE, body))
    body = [17, 2, 1, 4, 0, 0, [], 3, False, 0, None, 0, 1, b""]
    with pytest.raises(CodecError, match="snapshot_done"):
        decode_message(_record(Kind.MESSAGE, body))


def test_encode_of_unencodable_value_raises_codec_error() -> None:
    with pytest.raises(CodecError):
        encode_entry(Entry(term=1 << 70, index=1))
