"""The connection's phase machine, as two tables in one place (STYLE.md rule 6, h11 _state.py).

One `Phase` describes where both sides are, because the protocol is strictly turn-based until
the ready phase. `FRONTEND[phase][event type]` and `BACKEND[phase][message type]` give the next
phase; a missing entry is an invalid transition and raises (ProtocolError for the client's
bytes, LocalProtocolError for the server's own sends). Phases in `SERVER_TURN` make
`next_event()` return PAUSED: the client has no business speaking there and whatever it sent is
left buffered until the server has answered.

Source of truth: PostgreSQL 15 docs 55.2 "Message Flow" (Start-up, Simple Query, Extended
Query, COPY Operations, Termination, SSL Session Encryption, GSSAPI Session Encryption).

    STARTUP --SSLRequest--> SSL_RESPONSE --SSLResponse--> STARTUP (same socket, maybe TLS)
    STARTUP --GSSENCRequest--> GSS_RESPONSE --GSSENCResponse--> STARTUP
    STARTUP --CancelRequest--> CLOSED
    STARTUP --StartupMessage--> AUTH_SERVER
    AUTH_SERVER --AuthCleartext/MD5--> AUTH_PASSWORD --PasswordMessage--> AUTH_SERVER
    AUTH_SERVER --AuthSASL--> AUTH_SASL_INITIAL --SASLInitialResponse--> AUTH_SERVER
    AUTH_SERVER --AuthSASLContinue--> AUTH_SASL_CONTINUE --SASLResponse--> AUTH_SERVER
    AUTH_SERVER --AuthenticationOk--> SETTING_UP --ReadyForQuery--> READY
    READY --skip_until_sync()--> FAILED_EXTENDED --Sync--> READY
    READY --CopyInResponse--> COPY_IN --CopyDone/CopyFail (or server ErrorResponse)--> READY
    READY --CopyOutResponse--> COPY_OUT --CopyDone/ErrorResponse--> READY
    any --ErrorResponse(FATAL) / Terminate--> CLOSED
"""

from __future__ import annotations

from enum import Enum

from . import backend as be
from . import frontend as fe


class Phase(Enum):
    STARTUP = "startup"
    SSL_RESPONSE = "ssl-response"
    GSS_RESPONSE = "gss-response"
    AUTH_SERVER = "auth-server"
    AUTH_PASSWORD = "auth-password"
    AUTH_SASL_INITIAL = "auth-sasl-initial"
    AUTH_SASL_CONTINUE = "auth-sasl-continue"
    SETTING_UP = "setting-up"
    READY = "ready"
    FAILED_EXTENDED = "failed-extended"
    COPY_IN = "copy-in"
    COPY_OUT = "copy-out"
    COPY_BOTH = "copy-both"
    CLOSED = "closed"

    # Members are singletons: identity hashing is correct and, unlike Enum.__hash__, runs in
    # C (the phase is looked up several times per message).
    __hash__ = object.__hash__


class Action(Enum):
    """Frontend-table outcomes that are not a new phase."""

    IGNORE = "ignore"  # consume silently (Sync/Flush in copy-in; stray copy data when ready)


P = Phase
_READY_QUERIES = (fe.Query, fe.Parse, fe.Bind, fe.Describe, fe.Execute, fe.Close, fe.Sync,
                  fe.Flush, fe.FunctionCall)

FRONTEND: dict[Phase, dict[type, Phase | Action]] = {
    P.STARTUP: {
        fe.SSLRequest: P.SSL_RESPONSE,
        fe.GSSENCRequest: P.GSS_RESPONSE,
        fe.CancelRequest: P.CLOSED,
        fe.StartupMessage: P.AUTH_SERVER,
    },
    P.AUTH_PASSWORD: {fe.PasswordMessage: P.AUTH_SERVER},
    P.AUTH_SASL_INITIAL: {fe.SASLInitialResponse: P.AUTH_SERVER},
    P.AUTH_SASL_CONTINUE: {fe.SASLResponse: P.AUTH_SERVER},
    P.READY: {
        **{t: P.READY for t in _READY_QUERIES},
        fe.Terminate: P.CLOSED,
        # "we probably got here because a COPY failed, and the frontend is still sending
        # data" (PostgreSQL postgres.c): accept and ignore.
        fe.CopyData: Action.IGNORE,
        fe.CopyDone: Action.IGNORE,
        fe.CopyFail: Action.IGNORE,
    },
    # Everything but Sync/Terminate is discarded before it is even decoded (connection.py).
    P.FAILED_EXTENDED: {fe.Sync: P.READY, fe.Terminate: P.CLOSED},
    P.COPY_IN: {
        fe.CopyData: P.COPY_IN,
        fe.CopyDone: P.READY,
        fe.CopyFail: P.READY,
        # 55.2.6: "The backend will ignore Flush and Sync messages received during copy-in".
        fe.Sync: Action.IGNORE,
        fe.Flush: Action.IGNORE,
        fe.Terminate: P.CLOSED,
    },
    P.COPY_BOTH: {
        fe.CopyData: P.COPY_BOTH,
        fe.CopyDone: P.READY,
        fe.CopyFail: P.READY,
        fe.Terminate: P.CLOSED,
    },
}

# Phases where the client must wait for the server: next_event() returns PAUSED.
SERVER_TURN = frozenset(
    {P.SSL_RESPONSE, P.GSS_RESPONSE, P.AUTH_SERVER, P.SETTING_UP, P.COPY_OUT}
)
# Phases whose next packet has no type byte (a startup packet follows SSL/GSS answers too).
UNTAGGED = frozenset({P.STARTUP, P.SSL_RESPONSE, P.GSS_RESPONSE})
# Phases in which a broken message aborts COPY and returns to READY.
COPY_PHASES = frozenset({P.COPY_IN, P.COPY_BOTH})

_ASYNC = (be.NoticeResponse, be.ParameterStatus, be.NotificationResponse)
_RESULTS = (be.ReadyForQuery, be.RowDescription, be.DataRow, be.CommandComplete,
            be.EmptyQueryResponse, be.ParseComplete, be.BindComplete, be.CloseComplete,
            be.NoData, be.ParameterDescription, be.PortalSuspended, be.ErrorResponse)


def _same(phase: Phase, kinds: tuple[type, ...]) -> dict[type, Phase]:
    return {k: phase for k in kinds}


BACKEND: dict[Phase, dict[type, Phase]] = {
    P.STARTUP: {},
    P.SSL_RESPONSE: {be.SSLResponse: P.STARTUP},
    P.GSS_RESPONSE: {be.GSSENCResponse: P.STARTUP},
    P.AUTH_SERVER: {
        be.NegotiateProtocolVersion: P.AUTH_SERVER,
        be.NoticeResponse: P.AUTH_SERVER,
        be.AuthenticationCleartextPassword: P.AUTH_PASSWORD,
        be.AuthenticationMD5Password: P.AUTH_PASSWORD,
        be.AuthenticationSASL: P.AUTH_SASL_INITIAL,
        be.AuthenticationSASLContinue: P.AUTH_SASL_CONTINUE,
        be.AuthenticationSASLFinal: P.AUTH_SERVER,
        be.AuthenticationOk: P.SETTING_UP,
    },
    P.AUTH_PASSWORD: {},
    P.AUTH_SASL_INITIAL: {},
    P.AUTH_SASL_CONTINUE: {},
    P.SETTING_UP: {
        be.ParameterStatus: P.SETTING_UP,
        be.BackendKeyData: P.SETTING_UP,
        be.NoticeResponse: P.SETTING_UP,
        be.ReadyForQuery: P.READY,
    },
    P.READY: {
        **_same(P.READY, _RESULTS + _ASYNC),
        be.CopyInResponse: P.COPY_IN,
        be.CopyOutResponse: P.COPY_OUT,
        be.CopyBothResponse: P.COPY_BOTH,
    },
    # No ReadyForQuery until the client's Sync arrives (which moves the phase to READY).
    P.FAILED_EXTENDED: {**_same(P.FAILED_EXTENDED, _ASYNC), be.ErrorResponse: P.FAILED_EXTENDED},
    P.COPY_IN: {**_same(P.COPY_IN, _ASYNC), be.ErrorResponse: P.READY},
    P.COPY_OUT: {
        **_same(P.COPY_OUT, _ASYNC),
        be.CopyData: P.COPY_OUT,
        be.CopyDone: P.READY,
        be.ErrorResponse: P.READY,
    },
    P.COPY_BOTH: {
        **_same(P.COPY_BOTH, _ASYNC),
        be.CopyData: P.COPY_BOTH,
        be.CopyDone: P.READY,
        be.ErrorResponse: P.READY,
    },
    P.CLOSED: {},
}

# skip_until_sync() is allowed from these phases (an extended-protocol error, including a
# COPY started by Execute that failed).
SKIP_FROM = frozenset({P.READY, P.FAILED_EXTENDED, P.COPY_IN, P.COPY_BOTH})
