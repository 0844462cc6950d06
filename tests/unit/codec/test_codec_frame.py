"""The length-prefixed frame codec, sans I/O.

Source of truth: the frame format in ``raftsql/codec/frame.py`` (4-byte big-endian length, then
the payload), h11's ``tests/test_io.py`` habit of feeding input whole, one byte at a time and with
trailing bytes, and STYLE.md rule 15 (every buffer has a bound).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.codec import CodecError, FrameDecoder, encode_frame


def test_frame_layout() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"") == b"\x00\x00\x00\x00"


def test_whole_and_byte_at_a_time() -> None:
    stream = encode_frame(b"one") + encode_frame(b"") + encode_frame(b"three")
    assert FrameDecoder().feed(stream) == [b"one", b"", b"three"]
    dec = FrameDecoder()
    out: list[bytes] = []
    for i in range(len(stream)):
        out += dec.feed(stream[i : i + 1])
    assert out == [b"one", b"", b"three"]
    assert dec.buffered == 0


def test_trailing_partial_frame_is_kept() -> None:
    dec = FrameDecoder()
    assert dec.feed(encode_frame(b"a") + b"\x00\x00\x00\x05ab") == [b"a"]
    assert dec.buffered == 6
    assert dec.feed(b"cde" + encode_frame(b"z")) == [b"abcde", b"z"]


def test_oversize_header_raises_before_body_arrives() -> None:
    dec = FrameDecoder(max_frame=10)
    assert dec.feed(encode_frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(CodecError, match="exceeds"):
        dec.feed(b"\x00\x00\x00\x0b")  # only the header: no body was sent or buffered
    assert dec.buffered == 0
    with pytest.raises(CodecError):  # the stream stays broken
        dec.feed(encode_frame(b"ok"))


def test_huge_announced_length_is_refused_immediately() -> None:
    dec = FrameDecoder()
    with pytest.raises(CodecError):
        dec.feed(b"\xff\xff\xff\xff")


def test_encode_refuses_what_decoder_refuses() -> None:
    with pytest.raises(CodecError):
        encode_frame(b"x" * 11, max_frame=10)


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(
    payloads=st.lists(st.binary(max_size=50), max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=10),
)
def test_any_split_gives_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    dec = FrameDecoder(max_frame=50)
    out: list[bytes] = []
    for a, b in zip(points, points[1:], strict=False):
        out += dec.feed(stream[a:b])
    assert out == payloads
    assert dec.buffered == 0


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(st.binary(max_size=100))
def test_random_input_only_codec_error(data: bytes) -> None:
    dec = FrameDecoder(max_frame=16)
    try:
        for frame in dec.feed(data):
            assert len(frame) <= 16
    except CodecError:
        pass
    assert dec.buffered <= 16 + 4 + len(data)
