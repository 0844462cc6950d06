"""Small pieces the session modules share: the ErrorResponse for an error, and the signal
that the client has gone away."""

from __future__ import annotations

from raftsql import pgwire as pw
from raftsql.pgwire.errors import ProtocolError
from raftsql.sql.errors import SqlError


def error_response(exc: SqlError | ProtocolError, severity: str = "ERROR") -> pw.ErrorResponse:
    if isinstance(exc, ProtocolError):
        return pw.ErrorResponse(severity, exc.sqlstate, exc.message)  # args[0] repeats the code
    return pw.ErrorResponse(severity, exc.sqlstate, exc.message, detail=exc.detail,
                            hint=exc.hint, position=exc.position)


class Closed(Exception):
    """The client went away (or sent Terminate): end the session quietly."""
