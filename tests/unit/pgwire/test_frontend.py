"""Every frontend message decoded whole, one byte at a time, and followed by the first bytes
of the next message. Source of truth: PostgreSQL 15 docs 55.7 "Message Formats"; the frames
come from pg_frames.py, written from that page independently of the codec."""

from __future__ import annotations

import pg_frames as f
import pytest
from pg_session import connect

from raftsql.pgwire import (
    NEED_DATA,
    PAUSED,
    Bind,
    CancelRequest,
    Close,
    CopyData,
    CopyDone,
    CopyFail,
    CopyInResponse,
    Describe,
    Execute,
    Flush,
    FunctionCall,
    GSSENCRequest,
    Parse,
    PasswordMessage,
    ProtocolError,
    Query,
    SASLInitialResponse,
    SASLResponse,
    ServerConnection,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)
from raftsql.pgwire.state import Phase

CASES: list[tuple[str, Phase, bytes, object]] = [
    ("ssl", Phase.STARTUP, f.SSL_REQUEST, SSLRequest()),
    ("gssenc", Phase.STARTUP, f.GSSENC_REQUEST, GSSENCRequest()),
    ("cancel", Phase.STARTUP, f.cancel(4242, -7), CancelRequest(4242, -7)),
    ("startup", Phase.STARTUP, f.startup({"user": "bob", "application_name": "é"}),
     StartupMessage({"user": "bob", "application_name": "é"})),
    ("startup-3.2", Phase.STARTUP, f.startup({"user": "u", "_pq_.x": "1"}, 196610),
     StartupMessage({"user": "u"}, 2, {"_pq_.x": "1"})),
    ("password", Phase.AUTH_PASSWORD, f.password("s3cret"), PasswordMessage("s3cret")),
    ("sasl-initial", Phase.AUTH_SASL_INITIAL, f.sasl_initial("SCRAM-SHA-256", b"n,,n=,r=abc"),
     SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=abc")),
    ("sasl-initial-null", Phase.AUTH_SASL_INITIAL, f.sasl_initial("SCRAM-SHA-256", None),
     SASLInitialResponse("SCRAM-SHA-256", None)),
    ("sasl-response", Phase.AUTH_SASL_CONTINUE, f.sasl_response(b"c=biws,r=abc,p=xyz"),
     SASLResponse(b"c=biws,r=abc,p=xyz")),
    ("query", Phase.READY, f.query("SELECT 1; SELECT 'ü'"), Query("SELECT 1; SELECT 'ü'")),
    ("query-empty", Phase.READY, f.query(""), Query("")),
    ("parse", Phase.READY, f.parse("s1", "SELECT $1, $2", (23, 0)),
     Parse("s1", "SELECT $1, $2", (23, 0))),
    ("parse-oid-max", Phase.READY, f.parse("", "x", (4294967295,)), Parse("", "x", (4294967295,))),
    ("bind", Phase.READY, f.bind("p", "s", (1, 0, 1), (b"\x00\x01", None, b""), (1,)),
     Bind("p", "s", (1, 0, 1), (b"\x00\x01", None, b""), (1,))),
    ("bind-empty", Phase.READY, f.bind("", "", (), (), ()), Bind("", "", (), (), ())),
    ("describe-s", Phase.READY, f.describe(b"S", "stmt"), Describe("S", "stmt")),
    ("describe-p", Phase.READY, f.describe(b"P", ""), Describe("P", "")),
    ("execute", Phase.READY, f.execute("portal", 50), Execute("portal", 50)),
    ("execute-all", Phase.READY, f.execute("", 0), Execute("", 0)),
    ("close-s", Phase.READY, f.close(b"S", "a"), Close("S", "a")),
    ("close-p", Phase.READY, f.close(b"P", "b"), Close("P", "b")),
    ("sync", Phase.READY, f.SYNC, Sync()),
    ("flush", Phase.READY, f.FLUSH, Flush()),
    ("terminate", Phase.READY, f.TERMINATE, Terminate()),
    ("function-call", Phase.READY, f.function_call(1598, (1,), (b"\x00", None), 1),
     FunctionCall(1598, (1,), (b"\x00", None), 1)),
]
COPY_CASES: list[tuple[str, bytes, object]] = [
    ("copy-data", f.copy_data(b"1\tx\n2\t\\N\n"), CopyData(b"1\tx\n2\t\\N\n")),
    ("copy-data-empty", f.copy_data(b""), CopyData(b"")),
    ("copy-done", f.COPY_DONE, CopyDone()),
    ("copy-fail", f.copy_fail("user abort"), CopyFail("user abort")),
]


def _conn(phase: Phase | str) -> ServerConnection:
    if phase == "copy":
        conn = connect()
        conn.send(CopyInResponse(0, (0, 0)))
        return conn
    assert isinstance(phase, Phase)
    return connect(phase)


ALL = [(n, p, b, e) for n, p, b, e in CASES] + [(n, "copy", b, e) for n, b, e in COPY_CASES]
IDS = [c[0] for c in ALL]


@pytest.mark.parametrize(("name", "phase", "data", "expected"), ALL, ids=IDS)
def test_decoded_whole(name: str, phase: Phase, data: bytes, expected: object) -> None:
    conn = _conn(phase)
    conn.receive_data(data)
    assert conn.next_event() == expected
    assert conn.buffered == 0


@pytest.mark.parametrize(("name", "phase", "data", "expected"), ALL, ids=IDS)
def test_decoded_one_byte_at_a_time(name: str, phase: Phase, data: bytes, expected: object) -> None:
    conn = _conn(phase)
    for i in range(len(data) - 1):
        conn.receive_data(data[i : i + 1])
        assert conn.next_event() is NEED_DATA, i
    conn.receive_data(data[-1:])
    assert conn.next_event() == expected


@pytest.mark.parametrize(("name", "phase", "data", "expected"), ALL, ids=IDS)
def test_decoded_with_trailing_bytes(name: str, phase: Phase, data: bytes, expected: object) -> None:
    conn = _conn(phase)
    nxt = f.query("SELECT 2")
    conn.receive_data(data + nxt[:3])
    assert conn.next_event() == expected
    after = conn.next_event()
    if isinstance(expected, (SSLRequest, GSSENCRequest, StartupMessage, PasswordMessage,
                             SASLInitialResponse, SASLResponse)):
        assert after is PAUSED  # the server has to answer first (55.2.1)
    elif isinstance(expected, (CancelRequest, Terminate)):
        assert after.__class__.__name__ == "ConnectionClosed"
    else:
        assert after is NEED_DATA
        assert conn.buffered == 3
        if name in ("copy-data", "copy-data-empty"):
            return  # a Query inside COPY is an error, tested in test_phases.py
        conn.receive_data(nxt[3:])
        assert conn.next_event() == Query("SELECT 2")


def test_many_messages_in_one_chunk(ready: ServerConnection) -> None:
    """psycopg pipelines Parse/Bind/Describe/Execute/Sync in one write (PGWIRE.md 3)."""
    data = (f.parse("", "SELECT $1", (23,)) + f.bind("", "", (1,), (b"\0\0\0\1",), (1,))
            + f.describe(b"P", "") + f.execute("", 0) + f.SYNC)
    ready.receive_data(data)
    kinds = []
    while (ev := ready.next_event()) is not NEED_DATA:
        kinds.append(type(ev).__name__)
    assert kinds == ["Parse", "Bind", "Describe", "Execute", "Sync"]


BAD_BODIES = [
    ("bind-formats-mismatch", f.bind("", "", (0, 1), (b"a", b"b", b"c"), ())),
    ("bind-format-code-2", f.bind("", "", (2,), (b"a",), ())),
    ("bind-truncated-value", f.msg(b"B", b"\0\0\0\0\0\1\0\0\0\x09abc\0\0")),
    ("bind-negative-length", f.msg(b"B", b"\0\0\0\0\0\1\xff\xff\xff\xfe\0\0")),
    ("query-no-nul", f.msg(b"Q", b"SELECT 1")),
    ("query-trailing", f.msg(b"Q", b"SELECT 1\0x")),
    ("query-bad-utf8", f.msg(b"Q", b"SELECT '\xff'\0")),
    ("parse-short-oids", f.msg(b"P", b"\0x\0\0\2\0\0\0\x17")),
    ("describe-bad-kind", f.msg(b"D", b"X\0")),
    ("close-bad-kind", f.msg(b"C", b"Q\0")),
    ("execute-short", f.msg(b"E", b"\0\0\0")),
    ("sync-with-body", f.msg(b"S", b"x")),
]


@pytest.mark.parametrize(("name", "data"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_body_is_a_nonfatal_protocol_error(name: str, data: bytes) -> None:
    """PostgreSQL reports bad message contents as ERROR (not FATAL) and goes on: the frame was
    consumed whole, so the next message still decodes (postgres.c, pq_getmsg*)."""
    conn = connect()
    conn.receive_data(data + f.SYNC)
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert not info.value.fatal
    assert info.value.sqlstate in ("08P01", "22023", "22021")
    assert info.value.message_type == chr(data[0])
    assert conn.next_event() == Sync()


def test_bind_format_helpers() -> None:
    b = Bind("", "", (1,), (b"a", b"b"), ())
    assert b.param_format(1) == 1
    assert b.result_formats_for(3) == (0, 0, 0)
    assert Bind("", "", (), (), (1,)).result_formats_for(2) == (1, 1)
    with pytest.raises(ProtocolError) as info:
        Bind("", "", (), (), (1, 0)).result_formats_for(3)
    assert info.value.sqlstate == "08P01"
