"""Drive a ServerConnection into a given phase with real bytes (imported by the tests as
`pg_session`, a unique module name, so it never collides with another directory's conftest)."""

from __future__ import annotations

import pg_frames as f

from raftsql.pgwire import (
    NEED_DATA,
    AuthenticationCleartextPassword,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    ReadyForQuery,
    ServerConnection,
    StartupMessage,
)
from raftsql.pgwire.state import Phase


def connect(phase: Phase = Phase.READY, **kw: int) -> ServerConnection:
    conn = ServerConnection(**kw)  # type: ignore[arg-type]
    if phase is Phase.STARTUP:
        return conn
    conn.receive_data(f.startup({"user": "alice", "database": "db"}))
    assert isinstance(conn.next_event(), StartupMessage)
    if phase is Phase.AUTH_SERVER:
        return conn
    if phase is Phase.AUTH_PASSWORD:
        conn.send(AuthenticationCleartextPassword())
        return conn
    if phase is Phase.AUTH_SASL_INITIAL:
        conn.send(AuthenticationSASL())
        return conn
    if phase is Phase.AUTH_SASL_CONTINUE:
        conn.send(AuthenticationSASLContinue(b"r=x"))
        return conn
    conn.send(AuthenticationOk())
    if phase is Phase.SETTING_UP:
        return conn
    conn.send(ReadyForQuery("I"))
    assert conn.next_event() is NEED_DATA
    assert conn.phase is Phase.READY
    if phase is Phase.READY:
        return conn
    if phase is Phase.FAILED_EXTENDED:
        conn.skip_until_sync()
        return conn
    raise AssertionError(phase)
