"""PEP 249 "Type Objects and Constructors".

Values go to raftsql as sqlite3's default adapters send them (dates and times as ISO text,
bytes as BLOB), so the constructors are the datetime types themselves. A type object compares
equal to a ``description`` type code: None in the SQLite dialect (as sqlite3, which reports no
types), the declared column type in the PostgreSQL dialect, classified by SQLite's affinity
rules (https://www.sqlite.org/datatype3.html, section 3.1).
"""

from __future__ import annotations

import datetime as dt
import time

Date = dt.date
Time = dt.time
Timestamp = dt.datetime
Binary = bytes


def DateFromTicks(ticks: float) -> dt.date:  # noqa: N802 - the name is fixed by PEP 249
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> dt.time:  # noqa: N802
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> dt.datetime:  # noqa: N802
    return Timestamp(*time.localtime(ticks)[:6])


def _affinity(declared: str) -> str:
    d = declared.upper()
    if any(w in d for w in ("DATE", "TIME")):
        return "DATETIME"
    if "INT" in d:
        return "NUMBER"
    if any(w in d for w in ("CHAR", "CLOB", "TEXT", "UUID", "JSON")):
        return "STRING"
    if "BLOB" in d or "BYTEA" in d:
        return "BINARY"
    return "NUMBER"  # REAL, FLOAT, DOUBLE, NUMERIC, DECIMAL, BOOLEAN


class DBAPITypeObject:
    """Equal to every declared column type of its kind."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DBAPITypeObject):
            return other.name == self.name
        if isinstance(other, str):
            return _affinity(other) == self.name
        return False

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return self.name


STRING = DBAPITypeObject("STRING")
BINARY = DBAPITypeObject("BINARY")
NUMBER = DBAPITypeObject("NUMBER")
DATETIME = DBAPITypeObject("DATETIME")
ROWID = DBAPITypeObject("ROWID")
