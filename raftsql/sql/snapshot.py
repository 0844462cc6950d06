"""Content checksum and online backup for the state machine's database.

The checksum is over content, not file bytes: two nodes that applied the same entries hold the
same rows and schema, but their files may differ in page layout (a restored snapshot, a
checkpoint at another moment, free pages). It hashes, in a fixed order, every schema row and
every row of every table, ordered by rowid (or by primary key for WITHOUT ROWID tables), each
value tagged with its SQLite storage class so 1, 1.0, '1' and x'31' all differ. raftsql's own
bookkeeping that is node-local (`_raftsql_meta`: the engine version and applied index, which
the caller compares separately; `_raftsql_checkpoints`: the checksums themselves) is left out;
the dedup sessions and table versions are replicated state and are included.
"""

from __future__ import annotations

import hashlib
import os
import struct

import apsw

EXCLUDED_TABLES = frozenset({"_raftsql_meta", "_raftsql_checkpoints"})
BACKUP_STEP_PAGES = 256


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _feed(h: hashlib._Hash, value: object) -> None:
    if value is None:
        h.update(b"N")
    elif isinstance(value, int):
        h.update(b"I" + value.to_bytes(8, "big", signed=True))
    elif isinstance(value, float):
        h.update(b"R" + struct.pack(">d", value))
    elif isinstance(value, str):
        data = value.encode("utf-8")
        h.update(b"T" + len(data).to_bytes(8, "big") + data)
    elif isinstance(value, bytes):
        h.update(b"B" + len(value).to_bytes(8, "big") + value)
    else:  # pragma: no cover - SQLite has no other storage class
        raise TypeError(type(value))


def _order_by(conn: apsw.Connection, table: str, without_rowid: bool) -> tuple[str, str]:
    """(select list prefix, ORDER BY clause) giving a total, engine-independent row order."""
    if not without_rowid:
        return "rowid, ", "rowid"
    pk = sorted(
        (row[5], row[1]) for row in conn.execute(f"PRAGMA table_info({_q(table)})") if row[5]
    )
    return "", ", ".join(_q(col) for _, col in pk)


def content_checksum(conn: apsw.Connection) -> str:
    """Hex SHA-256 of schema plus table contents (see module docstring)."""
    h = hashlib.sha256()
    schema = list(
        conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    )
    for row in schema:
        for value in row:
            _feed(h, value)
    for kind, name, _tbl, sql in schema:
        if (
            kind != "table"
            or name in EXCLUDED_TABLES
            or (sql or "").upper().startswith("CREATE VIRTUAL")
        ):
            continue
        without_rowid = "WITHOUT ROWID" in (sql or "").upper()
        prefix, order = _order_by(conn, name, without_rowid)
        h.update(b"\x00table:" + name.encode())
        for row in conn.execute(f"SELECT {prefix}* FROM {_q(name)} ORDER BY {order}"):
            h.update(b"\x01")
            for value in row:
                _feed(h, value)
    return h.hexdigest()


def backup_to_file(source: apsw.Connection, path: str, step_pages: int = BACKUP_STEP_PAGES) -> None:
    """Copy `source`'s main database to `path` (atomically: temp file, fsync, rename).

    The caller holds a read transaction on `source`, so every step copies the same snapshot;
    in WAL mode that read transaction never blocks the writer, and stepping keeps each call short.
    """
    tmp = path + ".tmp"
    for leftover in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
        if os.path.exists(leftover):
            os.remove(leftover)
    dest = apsw.Connection(tmp)
    try:
        with dest.backup("main", source, "main") as backup:
            while not backup.done:
                backup.step(step_pages)
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dirfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
