"""ServerConnection.take_execute_sync against the general path (next_event).

Contract: after any input, take_execute_sync either takes nothing (None) and next_event goes on
as if it had not been called, or it takes exactly the frames next_event would have returned as
[Describe('P', ''),] Execute('', n), Sync(), returns (whether the Describe was there, n), and
next_event then returns what follows them. The frames are built by pg_frames (from the PostgreSQL 15
docs 55.7, independently of raftsql.pgwire)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from pg_frames import cstr, msg
from pg_session import connect

from raftsql.pgwire import NEED_DATA
from raftsql.pgwire import frontend as fe

FRAMES = {
    "describe_portal": msg(b"D", b"P" + cstr("")),
    "describe_named": msg(b"D", b"P" + cstr("p1")),
    "describe_statement": msg(b"D", b"S" + cstr("")),
    "execute_all": msg(b"E", cstr("") + struct.pack("!i", 0)),
    "execute_some": msg(b"E", cstr("") + struct.pack("!i", 2)),
    "execute_one": msg(b"E", cstr("") + struct.pack("!i", 1)),  # asyncpg's fetchrow()
    "execute_negative": msg(b"E", cstr("") + struct.pack("!i", -5)),
    "execute_named": msg(b"E", cstr("p1") + struct.pack("!i", 0)),
    "sync": msg(b"S"),
    "flush": msg(b"H"),
    "query": msg(b"Q", cstr("SELECT 1")),
}


def _events(data: bytes) -> list[object]:
    conn = connect()
    if data:  # b"" would be the end of the stream
        conn.receive_data(data)
    out = []
    while (ev := conn.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(sorted(FRAMES)), max_size=6), st.integers(0, 40))
def test_takes_exactly_the_group_or_nothing(names: list[str], cut: int) -> None:
    data = b"".join(FRAMES[n] for n in names)
    cut = min(cut, len(data))
    expected = _events(data[:cut])  # what the general path makes of the bytes received so far
    conn = connect()
    if cut:
        conn.receive_data(data[:cut])
    taken = conn.take_execute_sync()
    rest = []
    while (ev := conn.next_event()) is not NEED_DATA:
        rest.append(ev)
    group: list[object] = []
    if taken is not None:
        describe, max_rows = taken
        group = [fe.Execute("", max_rows), fe.Sync()]
        if describe:
            group.insert(0, fe.Describe("P", ""))
    assert expected == group + rest


def test_only_in_the_ready_phase() -> None:
    conn = connect()
    conn.skip_until_sync()  # after a failed Bind: the group must be skipped, not run
    conn.receive_data(FRAMES["execute_all"] + FRAMES["sync"])
    assert conn.take_execute_sync() is None
    assert conn.next_event() == fe.Sync()
