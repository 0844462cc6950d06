"""The fast Bind/Execute/Sync decoders (frontend.FAST_DECODERS) against the Reader decoders.

Source of truth: the Reader-based decoders of the same module (decode_bind, decode_execute,
the empty-body Sync), which follow PostgreSQL 15 docs 55.7 "Message Formats" and are checked
against hand-written frames in test_frontend.py. Contract: a fast decoder returns either the
event the Reader decoder returns, or None (then the Reader decoder runs and raises its error);
it never raises and never returns a different event."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.pgwire import frontend as fe
from raftsql.pgwire.errors import ProtocolError


def _reference(tag: str, body: bytes) -> object:
    try:
        return fe.READY_DECODERS[ord(tag)](fe.Reader(body))
    except ProtocolError as exc:
        return ("error", exc.sqlstate, str(exc))


def _check(tag: str, body: bytes) -> object:
    fast = fe.FAST_DECODERS[ord(tag)](body)
    ref = _reference(tag, body)
    if fast is not None:
        assert fast == ref, (body, fast, ref)
    return fast


def _bind_body(portal: bytes, stmt: bytes, pformats: list[int], values: list[bytes | None],
               rformats: list[int]) -> bytes:
    out = portal + b"\0" + stmt + b"\0" + struct.pack("!H", len(pformats))
    out += b"".join(struct.pack("!h", f) for f in pformats)
    out += struct.pack("!H", len(values))
    for v in values:
        out += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v
    out += struct.pack("!H", len(rformats)) + b"".join(struct.pack("!h", f) for f in rformats)
    return out


def test_well_formed_messages_take_the_fast_path() -> None:
    """asyncpg's prepared execution: binary int4 parameter, binary results."""
    body = _bind_body(b"", b"__asyncpg_stmt_1__", [1], [struct.pack("!i", 7)], [1])
    assert _check("B", body) == fe.Bind("", "__asyncpg_stmt_1__", (1,), (b"\0\0\0\x07",), (1,))
    assert _check("E", b"\0\0\0\0\0") == fe.Execute("", 0)
    assert _check("S", b"") == fe.Sync()


def test_unusual_messages_are_left_to_the_reader_decoders() -> None:
    good = _bind_body(b"p", b"s", [0, 1], [b"a", None], [])
    cases = [
        good[:-1],  # short
        good + b"\0",  # trailing byte
        _bind_body(b"p", b"s", [2], [b"a"], []),  # bad format code
        _bind_body(b"p", b"s", [0, 1], [b"a"], []),  # two formats, one value
        b"\xff\0s\0" + good[4:],  # bad UTF-8 in the portal name
        b"no terminator",
    ]
    for body in cases:
        assert _check("B", body) is None
        assert isinstance(_reference("B", body), tuple)  # the Reader decoder raises
    assert _check("E", b"p\0\0\0") is None
    assert _check("S", b"x") is None


names = st.binary(max_size=6).filter(lambda b: b"\0" not in b)
values = st.lists(st.one_of(st.none(), st.binary(max_size=8)), max_size=4)
codes = st.lists(st.integers(-1, 2), max_size=4)


@settings(max_examples=400, deadline=None)
@given(names, names, codes, values, codes, st.integers(0, 3))
def test_bind_fast_equals_reader(portal: bytes, stmt: bytes, pformats: list[int],
                                 vals: list[bytes | None], rformats: list[int],
                                 cut: int) -> None:
    body = _bind_body(portal, stmt, pformats, vals, rformats)
    _check("B", body)
    _check("B", body[: len(body) - cut])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=12))
def test_execute_and_sync_fast_equal_reader(body: bytes) -> None:
    _check("E", body)
    _check("S", body)
