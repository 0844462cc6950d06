"""The phase table (state.py) driven with real bytes. Source of truth: PostgreSQL 15 docs
55.2 "Message Flow" (sections cited per test) and postgres.c where the docs are silent."""

from __future__ import annotations

import pg_frames as f
import pytest
from pg_session import connect

from raftsql.pgwire import (
    NEED_DATA,
    PAUSED,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendCopyData,
    BackendCopyDone,
    BackendKeyData,
    CommandComplete,
    ConnectionClosed,
    CopyData,
    CopyDone,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    ErrorResponse,
    GSSENCResponse,
    LocalProtocolError,
    NoticeResponse,
    ParameterStatus,
    PasswordMessage,
    ProtocolError,
    Query,
    ReadyForQuery,
    SASLInitialResponse,
    SASLResponse,
    ServerConnection,
    SSLRequest,
    SSLResponse,
    StartupMessage,
    Sync,
    Terminate,
)
from raftsql.pgwire.state import BACKEND, FRONTEND, Phase


def test_ssl_refused_then_startup_on_same_connection() -> None:
    """55.2.10: after 'N' the client sends its StartupMessage on the same connection."""
    conn = ServerConnection()
    conn.receive_data(f.SSL_REQUEST + f.startup({"user": "u"}))
    assert conn.next_event() == SSLRequest()
    assert conn.next_event() is PAUSED
    assert conn.send(SSLResponse(False)) == b"N"
    ev = conn.next_event()
    assert isinstance(ev, StartupMessage) and ev.user == "u" and ev.database == "u"
    assert conn.phase is Phase.AUTH_SERVER


def test_gssenc_then_ssl_then_startup() -> None:
    """libpq sends GSSENCRequest, then SSLRequest, then the StartupMessage (PGWIRE.md 1.1)."""
    conn = ServerConnection()
    conn.receive_data(f.GSSENC_REQUEST)
    conn.next_event()
    assert conn.send(GSSENCResponse()) == b"N"
    conn.receive_data(f.SSL_REQUEST)
    conn.next_event()
    conn.send(SSLResponse(False))
    conn.receive_data(f.startup({"user": "u"}))
    assert isinstance(conn.next_event(), StartupMessage)


def test_second_ssl_request_is_fatal() -> None:
    """postgres.c ProcessStartupPacket: a repeated negotiation code is an unknown protocol."""
    conn = ServerConnection()
    conn.receive_data(f.SSL_REQUEST)
    conn.next_event()
    conn.send(SSLResponse(False))
    conn.receive_data(f.SSL_REQUEST)
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.fatal and info.value.sqlstate == "0A000"
    assert conn.phase is Phase.CLOSED


def test_ssl_accept_with_pipelined_plaintext_is_refused() -> None:
    """CVE-2021-23214: data buffered before the TLS handshake must not be processed."""
    conn = ServerConnection()
    conn.receive_data(f.SSL_REQUEST + f.startup({"user": "u"}))
    conn.next_event()
    with pytest.raises(ProtocolError) as info:
        conn.send(SSLResponse(True))
    assert info.value.sqlstate == "08P01"


def test_cancel_request_closes() -> None:
    """55.2.8 Canceling Requests: the cancel connection carries nothing else."""
    conn = ServerConnection()
    conn.receive_data(f.cancel(1, 2))
    conn.next_event()
    assert conn.next_event() == ConnectionClosed(clean=True)


@pytest.mark.parametrize("version", [(2 << 16), (4 << 16), (1234 << 16) | 5677])
def test_other_protocol_versions_rejected(version: int) -> None:
    """55.2.1: the server rejects a major version it does not support (FATAL, 0A000)."""
    conn = ServerConnection()
    conn.receive_data(f.startup({"user": "u"}, version))
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.fatal and info.value.sqlstate == "0A000"
    assert conn.send(ErrorResponse("FATAL", "0A000", "x"))[:1] == b"E"


def test_minor_version_negotiation() -> None:
    """55.2.1: NegotiateProtocolVersion names the newest minor and the unknown _pq_ options."""
    conn = ServerConnection()
    conn.receive_data(f.startup({"user": "u", "_pq_.opt": "1"}, (3 << 16) | 2))
    ev = conn.next_event()
    assert isinstance(ev, StartupMessage) and ev.minor == 2
    msg = conn.negotiate_protocol()
    assert msg is not None
    assert f.split_backend(conn.send(msg)) == [(b"v", b"\0\0\0\0\0\0\0\1_pq_.opt\0")]
    conn.send(AuthenticationOk())


def test_startup_without_user_is_fatal() -> None:
    conn = ServerConnection()
    conn.receive_data(f.startup({"database": "x"}))
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.sqlstate == "28000" and info.value.fatal


def test_md5_flow() -> None:
    """55.2.1: AuthenticationMD5Password -> PasswordMessage -> AuthenticationOk."""
    conn = connect(Phase.AUTH_SERVER)
    assert conn.next_event() is PAUSED
    conn.send(AuthenticationMD5Password(b"abcd"))
    conn.receive_data(f.password("md5deadbeef"))
    assert conn.next_event() == PasswordMessage("md5deadbeef")
    assert conn.next_event() is PAUSED
    conn.send(AuthenticationOk())
    conn.send(ParameterStatus("server_version", "15.6"))
    conn.send(BackendKeyData(1, 2))
    conn.send(ReadyForQuery("I"))
    assert conn.phase is Phase.READY


def test_sasl_flow_knows_which_p_message_to_expect() -> None:
    """55.3 SASL: the same 'p' tag is SASLInitialResponse, then SASLResponse."""
    conn = connect(Phase.AUTH_SERVER)
    conn.send(AuthenticationSASL(("SCRAM-SHA-256",)))
    conn.receive_data(f.sasl_initial("SCRAM-SHA-256", b"n,,n=,r=x"))
    assert isinstance(conn.next_event(), SASLInitialResponse)
    conn.send(AuthenticationSASLContinue(b"r=xy,s=c2FsdA==,i=4096"))
    conn.receive_data(f.sasl_response(b"c=biws,r=xy,p=AAAA"))
    assert conn.next_event() == SASLResponse(b"c=biws,r=xy,p=AAAA")
    conn.send(AuthenticationSASLFinal(b"v=AAAA"))
    conn.send(AuthenticationOk())
    assert conn.phase is Phase.SETTING_UP


def test_non_password_message_during_auth_is_fatal() -> None:
    """postgres auth.c: 'expected password response, got message type %d' (FATAL)."""
    conn = connect(Phase.AUTH_PASSWORD)
    conn.receive_data(f.query("SELECT 1"))
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.fatal


def test_failed_auth_closes() -> None:
    conn = connect(Phase.AUTH_PASSWORD)
    conn.receive_data(f.password("wrong"))
    conn.next_event()
    conn.send(ErrorResponse("FATAL", "28P01", 'password authentication failed for user "u"'))
    assert conn.phase is Phase.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(AuthenticationOk())


def test_client_pipelining_before_ready_waits() -> None:
    """The backend reads commands only after its first ReadyForQuery (55.2.1)."""
    conn = connect(Phase.SETTING_UP)
    conn.receive_data(f.query("SELECT 1"))
    assert conn.next_event() is PAUSED
    conn.send(ReadyForQuery("I"))
    assert conn.next_event() == Query("SELECT 1")


def test_skip_until_sync() -> None:
    """55.2.3: after an error in an extended message the backend discards messages until Sync,
    and sends ReadyForQuery only then."""
    conn = connect()
    conn.receive_data(f.parse("", "bad") + f.bind("", "", (), (), ()) + f.execute("", 0)
                      + f.query("SELECT 'skipped too'") + f.SYNC + f.query("SELECT 1"))
    conn.next_event()  # Parse fails on the server side
    conn.send(ErrorResponse("ERROR", "42601", "syntax error"))
    conn.skip_until_sync()
    with pytest.raises(LocalProtocolError):
        conn.send(ReadyForQuery("I"))
    assert conn.next_event() == Sync()
    conn.send(ReadyForQuery("I"))
    assert conn.next_event() == Query("SELECT 1")


def test_skip_until_sync_survives_broken_bodies() -> None:
    """Skipped messages are not decoded, so a bad body does not raise a second error."""
    conn = connect(Phase.FAILED_EXTENDED)
    conn.receive_data(f.msg(b"B", b"garbage") + f.SYNC)
    assert conn.next_event() == Sync()


def test_copy_in_flow() -> None:
    """55.2.6 COPY Operations: CopyData*, CopyDone; Flush/Sync ignored during copy-in."""
    conn = connect()
    conn.send(CopyInResponse(0, (0, 0)))
    conn.receive_data(f.copy_data(b"1\ta\n") + f.FLUSH + f.SYNC + f.copy_data(b"2\tb\n")
                      + f.COPY_DONE)
    assert conn.next_event() == CopyData(b"1\ta\n")
    assert conn.next_event() == CopyData(b"2\tb\n")
    assert conn.next_event() == CopyDone()
    assert conn.phase is Phase.READY
    conn.send(CommandComplete("COPY 2"))
    conn.send(ReadyForQuery("I"))


def test_other_message_during_copy_in_aborts_copy() -> None:
    """55.2.6: 'Receipt of any other non-copy message type constitutes an error that will
    abort the copy-in state'."""
    conn = connect()
    conn.send(CopyInResponse(0, ()))
    conn.receive_data(f.query("SELECT 1"))
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert not info.value.fatal and conn.phase is Phase.READY


def test_server_error_during_copy_in_then_stray_copy_data_ignored() -> None:
    """postgres.c: CopyData/CopyDone/CopyFail outside COPY are accepted and ignored."""
    conn = connect()
    conn.send(CopyInResponse(0, ()))
    conn.send(ErrorResponse("ERROR", "23505", "duplicate key"))
    conn.send(ReadyForQuery("I"))
    conn.receive_data(f.copy_data(b"x") + f.COPY_DONE + f.query("SELECT 1"))
    assert conn.next_event() == Query("SELECT 1")


def test_copy_out_flow() -> None:
    conn = connect()
    conn.receive_data(f.query("COPY t TO STDOUT"))
    conn.next_event()
    conn.send(CopyOutResponse(0, (0,)))
    assert conn.next_event() is PAUSED
    conn.send(BackendCopyData(b"1\n"))
    with pytest.raises(LocalProtocolError):
        conn.send(DataRow([b"1"]))
    conn.send(BackendCopyDone())
    conn.send(CommandComplete("COPY 1"))
    conn.send(ReadyForQuery("I"))


def test_terminate_and_eof() -> None:
    conn = connect()
    conn.receive_data(f.TERMINATE)
    assert conn.next_event() == Terminate()
    assert conn.next_event() == ConnectionClosed(clean=True)
    conn2 = connect()
    conn2.receive_data(f.SYNC[:2])
    conn2.receive_data(b"")
    assert conn2.next_event() == ConnectionClosed(clean=False)


def test_notices_allowed_while_ready_but_rows_not_during_auth() -> None:
    conn = connect(Phase.AUTH_SERVER)
    conn.send(NoticeResponse("NOTICE", "00000", "hello"))
    with pytest.raises(LocalProtocolError):
        conn.send(DataRow([b"1"]))
    with pytest.raises(LocalProtocolError):
        conn.send_rows([[b"1"]])


def test_tables_are_closed_over_phases() -> None:
    """Every phase a transition names has its own row in both tables (no dangling phase)."""
    targets = {p for row in FRONTEND.values() for p in row.values() if isinstance(p, Phase)}
    targets |= {p for row in BACKEND.values() for p in row.values()}
    assert targets <= set(BACKEND)
    assert NEED_DATA is not PAUSED
