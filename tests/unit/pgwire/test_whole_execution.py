"""ServerConnection.whole_execution against the general path (receive_data, next_event).

Contract: for any packet, whole_execution either returns None, or returns (Bind, describe, n)
where the general path makes of the same bytes exactly Bind, [Describe('P', ''),]
Execute('', n), Sync() and nothing more. Either way it consumes nothing: the connection then
frames the same bytes as if it had not been called. The frames are built by pg_frames (from
the PostgreSQL 15 docs 55.7, independently of raftsql.pgwire)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_frames import cstr, msg
from pg_session import connect

from raftsql.pgwire import NEED_DATA
from raftsql.pgwire import frontend as fe
from raftsql.pgwire.errors import ProtocolError


def _bind(portal: str = "", statement: str = "s", formats: tuple[int, ...] = (0,),
          params: tuple[bytes | None, ...] = (b"7",), results: tuple[int, ...] = (1,)) -> bytes:
    body = cstr(portal) + cstr(statement) + struct.pack(f"!h{len(formats)}h", len(formats),
                                                        *formats)
    body += struct.pack("!h", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    return msg(b"B", body + struct.pack(f"!h{len(results)}h", len(results), *results))


FRAMES = {
    "bind": _bind(),
    "bind_no_params": _bind(statement="", formats=(), params=(), results=()),
    "bind_null": _bind(formats=(), params=(None, b"x")),
    "bind_named_portal": _bind(portal="p1"),
    "bind_bad_format": _bind(formats=(5,)),
    "bind_short": msg(b"B", cstr("") + cstr("s")),
    "describe_portal": msg(b"D", b"P" + cstr("")),
    "describe_statement": msg(b"D", b"S" + cstr("")),
    "execute_all": msg(b"E", cstr("") + struct.pack("!i", 0)),
    "execute_one": msg(b"E", cstr("") + struct.pack("!i", 1)),
    "execute_named": msg(b"E", cstr("p1") + struct.pack("!i", 0)),
    "sync": msg(b"S"),
    "flush": msg(b"H"),
    "query": msg(b"Q", cstr("SELECT 1")),
}


def _general(data: bytes, **kw: int) -> list[object] | str:
    """What the general path makes of `data` on a fresh connection: its events, or "error"."""
    conn = connect(**kw)
    try:
        conn.receive_data(data)
        out = []
        while (ev := conn.next_event()) is not NEED_DATA:
            out.append(ev)
    except ProtocolError:
        return "error"
    return out


BINDS = sorted(n for n in FRAMES if n.startswith("bind"))
# mostly shapes close to a whole execution, so that the near misses are tried too
PACKETS = st.one_of(
    st.tuples(st.sampled_from([[], ["sync"], ["query"]]),
              st.sampled_from(BINDS).map(lambda n: [n]),
              st.sampled_from([[], ["describe_portal"], ["describe_statement"]]),
              st.sampled_from([["execute_all"], ["execute_one"], ["execute_named"], []]),
              st.sampled_from([["sync"], ["sync"], ["sync", "flush"], ["flush"], []]),
              ).map(lambda parts: sum(parts, [])),
    st.lists(st.sampled_from(sorted(FRAMES)), min_size=1, max_size=5),
)


@settings(max_examples=600, deadline=None)
@given(PACKETS, st.integers(0, 60), st.booleans())
def test_decodes_exactly_the_whole_execution_or_nothing(names: list[str], cut: int,
                                                        small_limit: bool) -> None:
    data = b"".join(FRAMES[n] for n in names)
    kw = {"max_message_size": 20} if small_limit else {}
    conn = connect(**kw)
    found = conn.whole_execution(data)
    if found is not None:
        bind, describe, max_rows = found
        assert bind.portal == ""  # after a named portal's Bind, Execute "" is another portal
        group: list[object] = [bind, fe.Execute("", max_rows), fe.Sync()]
        if describe:
            group.insert(1, fe.Describe("P", ""))
        assert _general(data, **kw) == group
    assert conn.buffered == 0  # nothing consumed: the general path frames the same bytes
    cut = min(cut, len(data) - 1)
    if cut > 0:  # bytes already buffered: never decoded around them
        conn.receive_data(data[:cut])
        assert conn.whole_execution(data[cut:]) is None


@pytest.mark.parametrize("names, describe, max_rows", [
    (["bind", "execute_one", "sync"], False, 1),  # asyncpg's fetchrow()
    (["bind_null", "describe_portal", "execute_all", "sync"], True, 0),  # psycopg, pgbench
    (["bind_no_params", "execute_all", "sync"], False, 0),
])
def test_takes_what_clients_send(names: list[str], describe: bool, max_rows: int) -> None:
    found = connect().whole_execution(b"".join(FRAMES[n] for n in names))
    assert found is not None
    assert found[1:] == (describe, max_rows)


def test_only_in_the_ready_phase() -> None:
    conn = connect()
    conn.skip_until_sync()  # after a failed Bind, messages up to Sync are skipped, not run
    assert conn.whole_execution(FRAMES["bind"] + FRAMES["execute_all"] + FRAMES["sync"]) is None


@pytest.mark.parametrize("buffered", [FRAMES["query"][:3], FRAMES["sync"], FRAMES["flush"]])
def test_never_around_buffered_bytes(buffered: bytes) -> None:
    """Bytes still buffered (part of a message, or a whole one not yet taken) come first."""
    conn = connect()
    conn.receive_data(buffered)
    assert conn.whole_execution(FRAMES["bind"] + FRAMES["execute_all"] + FRAMES["sync"]) is None
