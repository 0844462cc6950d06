"""Fuzz: whatever bytes arrive, a decoder returns a value or raises CodecError, nothing else.

Source of truth: the codec contract in ``raftsql/codec/errors.py`` (one typed error), the same
property pgwire's fuzz asserts for ProtocolError (ARCHITECTURE.md testing pyramid, level 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from codec_strategies import messages
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.codec import (
    FORMAT_VERSION,
    CodecError,
    Kind,
    decode_conf_state,
    decode_entry,
    decode_hard_state,
    decode_message,
    decode_snapshot_metadata,
    encode_message,
)
from raftsql.raft.types import Message

DECODERS: dict[Kind, Callable[[bytes], Any]] = {
    Kind.ENTRY: decode_entry,
    Kind.HARD_STATE: decode_hard_state,
    Kind.CONF_STATE: decode_conf_state,
    Kind.SNAPSHOT_METADATA: decode_snapshot_metadata,
    Kind.MESSAGE: decode_message,
}


def _only_codec_error(decode: Callable[[bytes], Any], data: bytes) -> None:
    try:
        decode(data)
    except CodecError:
        pass


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.name)
@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(data=st.binary(max_size=200))
def test_random_bytes(kind: Kind, data: bytes) -> None:
    _only_codec_error(DECODERS[kind], bytes([FORMAT_VERSION, kind]) + data)
    _only_codec_error(DECODERS[kind], data)


# Arbitrary msgpack values under a valid header: the interesting failures are type confusions.
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=15) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=40,
)


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.name)
@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(value=msgpack_values)
def test_arbitrary_msgpack_values(kind: Kind, value: Any) -> None:
    _only_codec_error(DECODERS[kind], bytes([FORMAT_VERSION, kind]) + msgpack.packb(value))


@settings(deadline=None, max_examples=200)
@given(m=messages(), pos=st.integers(min_value=0), byte=st.integers(0, 255), cut=st.integers(0))
def test_mutated_valid_messages(m: Message, pos: int, byte: int, cut: int) -> None:
    """Flip one byte of a valid encoding, or truncate it: still only CodecError (or a value)."""
    data = bytearray(encode_message(m))
    data[pos % len(data)] = byte
    _only_codec_error(decode_message, bytes(data))
    _only_codec_error(decode_message, bytes(data[: cut % len(data)]))


def test_ext_and_timestamp_types_rejected() -> None:
    ext = msgpack.packb([msgpack.ExtType(5, b"xx")] * 6)
    with pytest.raises(CodecError):
        decode_entry(bytes([FORMAT_VERSION, Kind.ENTRY]) + ext)
    with pytest.raises(CodecError):
        decode_entry(bytes([FORMAT_VERSION, Kind.ENTRY]) + b"\xd6\xff\x00\x00\x00\x01")


def test_deep_nesting_rejected() -> None:
    deep = b"\x91" * 100_000 + b"\xc0"
    with pytest.raises(CodecError):
        decode_message(bytes([FORMAT_VERSION, Kind.MESSAGE]) + deep)
