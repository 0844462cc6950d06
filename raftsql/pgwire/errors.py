"""Typed errors of the pgwire codec.

Why two classes: `ProtocolError` is the *peer's* fault (malformed or out-of-order bytes from the
client, or an invalid value). The server answers it with an ErrorResponse carrying `sqlstate`.
`LocalProtocolError` is *our* fault (the server tried to send a message the current phase does
not allow); it is a programming error and must never be shown to a client. This mirrors h11's
RemoteProtocolError / LocalProtocolError split.
"""

from __future__ import annotations

# SQLSTATEs the codec itself produces (PostgreSQL errcodes.txt).
PROTOCOL_VIOLATION = "08P01"
PROGRAM_LIMIT_EXCEEDED = "54000"
FEATURE_NOT_SUPPORTED = "0A000"
INVALID_AUTHORIZATION = "28000"
INVALID_PASSWORD = "28P01"
CHARACTER_NOT_IN_REPERTOIRE = "22021"
INVALID_PARAMETER_VALUE = "22023"
INVALID_TEXT_REPRESENTATION = "22P02"
INVALID_BINARY_REPRESENTATION = "22P03"
NUMERIC_VALUE_OUT_OF_RANGE = "22003"
DATETIME_FIELD_OVERFLOW = "22008"
INVALID_DATETIME_FORMAT = "22007"
DATATYPE_MISMATCH = "42804"
ARRAY_SUBSCRIPT_ERROR = "2202E"


class ProtocolError(Exception):
    """Malformed input from the peer. `fatal` means the byte stream can no longer be framed
    (or the startup phase failed), so the server must send a FATAL ErrorResponse and close;
    otherwise the offending message was consumed whole and the connection stays usable
    (PostgreSQL reports those as ERROR and, in the extended protocol, skips to Sync)."""

    def __init__(self, sqlstate: str, message: str, *, fatal: bool = False) -> None:
        assert len(sqlstate) == 5, sqlstate
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate
        self.message = message
        self.fatal = fatal
        # The type byte of the frontend message that failed ('B', 'P', ...), when known: the
        # server skips to Sync after errors in extended-protocol messages.
        self.message_type: str | None = None


class InvalidValue(ProtocolError):
    """A value that cannot be converted between Python and its wire form (types.py).
    A subclass so one `except ProtocolError` covers framing and values alike."""


class LocalProtocolError(Exception):
    """The server asked the codec to do something the protocol forbids in this phase."""
