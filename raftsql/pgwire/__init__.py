"""Sans-I/O PostgreSQL v3 server codec (stdlib only): bytes in, events out, messages to bytes.

    conn = ServerConnection()
    conn.receive_data(data)
    while (event := conn.next_event()) not in (NEED_DATA, PAUSED): ...
    sock.write(conn.send(ReadyForQuery("I")))

Never parses SQL and never knows Raft (ARCHITECTURE.md). Modules: frontend (events and their
decoders), backend (messages and encoders), state (the phase tables), connection
(ServerConnection), auth (SCRAM-SHA-256 and md5 helpers), types (value codecs and OIDs).
"""

from .backend import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendKeyData,
    BindComplete,
    CloseComplete,
    CommandComplete,
    CopyBothResponse,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    EmptyQueryResponse,
    ErrorResponse,
    FieldDescription,
    GSSENCResponse,
    NegotiateProtocolVersion,
    NoData,
    NoticeResponse,
    NotificationResponse,
    ParameterDescription,
    ParameterStatus,
    ParseComplete,
    PortalSuspended,
    ReadyForQuery,
    RowDescription,
    SSLResponse,
    encode_data_row,
    encode_data_rows,
)
from .backend import CopyData as BackendCopyData
from .backend import CopyDone as BackendCopyDone
from .connection import NEED_DATA, PAUSED, ServerConnection, Signal
from .errors import InvalidValue, LocalProtocolError, ProtocolError
from .frontend import (
    Bind,
    CancelRequest,
    Close,
    ConnectionClosed,
    CopyData,
    CopyDone,
    CopyFail,
    Describe,
    Execute,
    Flush,
    FunctionCall,
    GSSENCRequest,
    Parse,
    PasswordMessage,
    Query,
    SASLInitialResponse,
    SASLResponse,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)
from .state import Phase

__all__ = [
    "NEED_DATA", "PAUSED", "AuthenticationCleartextPassword", "AuthenticationMD5Password",
    "AuthenticationOk", "AuthenticationSASL", "AuthenticationSASLContinue",
    "AuthenticationSASLFinal", "BackendCopyData", "BackendCopyDone", "BackendKeyData", "Bind",
    "BindComplete", "CancelRequest", "Close", "CloseComplete", "CommandComplete",
    "ConnectionClosed", "CopyBothResponse", "CopyData", "CopyDone", "CopyFail",
    "CopyInResponse", "CopyOutResponse", "DataRow", "Describe", "EmptyQueryResponse",
    "ErrorResponse", "Execute", "FieldDescription", "Flush", "FunctionCall", "GSSENCRequest",
    "GSSENCResponse", "InvalidValue", "LocalProtocolError", "NegotiateProtocolVersion",
    "NoData", "NoticeResponse", "NotificationResponse", "ParameterDescription",
    "ParameterStatus", "Parse", "ParseComplete", "PasswordMessage", "Phase", "PortalSuspended",
    "ProtocolError", "Query", "ReadyForQuery", "RowDescription", "SASLInitialResponse",
    "SASLResponse", "SSLRequest", "SSLResponse", "ServerConnection", "Signal", "StartupMessage",
    "Sync", "Terminate", "encode_data_row", "encode_data_rows",
]
