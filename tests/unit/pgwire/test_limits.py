"""Bounded buffers (STYLE.md rule 15). Sources: PostgreSQL pqcomm.c pq_getmessage ("invalid
message length"), postmaster.c MAX_STARTUP_PACKET_LENGTH = 10000 ("invalid length of startup
packet"), postgres.c PQ_SMALL_MESSAGE_LIMIT for Sync/Flush/Describe/Close/Execute/Terminate."""

from __future__ import annotations

import struct

import pg_frames as f
import pytest
from pg_session import connect

from raftsql.pgwire import NEED_DATA, ProtocolError, Query, ServerConnection
from raftsql.pgwire.state import Phase


def test_oversized_length_rejected_before_the_body_is_buffered() -> None:
    conn = connect(max_message_size=1 << 20)
    header = b"Q" + struct.pack("!i", (1 << 30))
    conn.receive_data(header + b"x" * 100)
    conn.receive_data(b"y" * 10_000)  # more body: must not be kept
    assert conn.buffered == 0
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.sqlstate == "54000" and info.value.fatal
    assert conn.phase is Phase.CLOSED


def test_default_limit_is_64_mib() -> None:
    conn = connect()
    conn.receive_data(b"Q" + struct.pack("!i", 64 * 1024 * 1024 + 1))
    with pytest.raises(ProtocolError):
        conn.next_event()
    ok = connect()
    ok.receive_data(b"Q" + struct.pack("!i", 64 * 1024 * 1024))
    assert ok.next_event() is NEED_DATA


def test_bad_header_after_good_messages_is_raised_in_order() -> None:
    """Messages before the bad frame are still delivered; the bad frame's bytes are dropped."""
    conn = connect(max_message_size=1000)
    conn.receive_data(f.query("SELECT 1") + b"Q" + struct.pack("!i", 5000) + b"z" * 4000)
    assert conn.buffered == len(f.query("SELECT 1"))
    assert conn.next_event() == Query("SELECT 1")
    with pytest.raises(ProtocolError):
        conn.next_event()


@pytest.mark.parametrize("length", [-1, 0, 3])
def test_length_below_four_is_fatal(length: int) -> None:
    conn = connect()
    conn.receive_data(b"S" + struct.pack("!i", length))
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.sqlstate == "08P01" and info.value.fatal


def test_small_messages_have_a_small_cap() -> None:
    conn = connect()
    conn.receive_data(b"S" + struct.pack("!i", 10_001))
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.sqlstate == "08P01"


def test_unknown_type_byte_is_fatal() -> None:
    conn = connect()
    conn.receive_data(b"Z\0\0\0\4")
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.fatal and "invalid frontend message type 90" in info.value.message


@pytest.mark.parametrize("length", [0, 7, 10_005, 1 << 30])
def test_startup_packet_cap(length: int) -> None:
    conn = ServerConnection()
    conn.receive_data(struct.pack("!ii", length, 196608))
    assert conn.buffered == 0
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.fatal and info.value.sqlstate == "08P01"


def test_startup_packet_of_exactly_the_cap_is_read() -> None:
    """postmaster.c: the cap applies to the length word minus its own 4 bytes."""
    params = {"user": "u", "options": "x" * (10_004 - 25)}
    data = f.startup(params)
    assert len(data) == 10_004
    conn = ServerConnection()
    conn.receive_data(data)
    assert conn.next_event().parameters == params  # type: ignore[union-attr]


def test_buffer_is_compacted() -> None:
    """Consumed bytes are released, so a long session does not grow the buffer forever."""
    conn = connect()
    one = f.query("SELECT 1")
    for _ in range(20_000):
        conn.receive_data(one)
        assert conn.next_event() == Query("SELECT 1")
    assert len(conn._buf) < 70_000


def test_password_messages_are_capped_at_the_auth_token_limit() -> None:
    """auth.c: PG_MAX_AUTH_TOKEN_LENGTH = 65535 for password and SASL messages."""
    ok = connect(Phase.AUTH_SASL_CONTINUE)
    ok.receive_data(b"p" + struct.pack("!i", 20_004) + b"x" * 20_000)
    assert ok.next_event().data == b"x" * 20_000  # type: ignore[union-attr]
    bad = connect(Phase.AUTH_SASL_CONTINUE)
    bad.receive_data(b"p" + struct.pack("!i", 65_540))
    with pytest.raises(ProtocolError) as info:
        bad.next_event()
    assert info.value.sqlstate == "08P01" and info.value.fatal
