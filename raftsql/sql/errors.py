"""The one error type of the SQL layer, shaped like a PostgreSQL ErrorResponse.

Why: the frontend turns it into an ErrorResponse field for field (C, M, D, H, P), so the
SQL layer speaks PostgreSQL's error vocabulary (SQLSTATE codes from sqlstate.py) and never
leaks SQLite's wording to clients.
"""

from __future__ import annotations

from raftsql.sql import sqlstate as _codes


class SqlError(Exception):
    """A PostgreSQL-style error: SQLSTATE code, message, optional detail/hint/position.

    `position` is the 1-based character offset into the client's query text, as in the
    ErrorResponse 'P' field; None when unknown.
    """

    def __init__(
        self,
        sqlstate: str,
        message: str,
        detail: str | None = None,
        hint: str | None = None,
        position: int | None = None,
    ) -> None:
        assert len(sqlstate) == 5, sqlstate
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position

    @property
    def condition(self) -> str:
        """PostgreSQL's condition name, e.g. 'division_by_zero'."""
        return _codes.name_of(self.sqlstate)

    def __repr__(self) -> str:
        return f"SqlError({self.sqlstate!r}, {self.message!r})"

    def __reduce__(self) -> tuple[type[SqlError], tuple[str, str, str | None, str | None, int | None]]:
        """copy/pickle rebuild it from its fields (Exception's default passes only args)."""
        return (SqlError, (self.sqlstate, self.message, self.detail, self.hint, self.position))


def unsupported(construct: str) -> SqlError:
    """0A000 naming the construct: never translate something we cannot do faithfully."""
    return SqlError(_codes.FEATURE_NOT_SUPPORTED, f"{construct} is not supported")
