"""Content checksum and online backup for the state machine's database.

The checksum is over content, not file bytes: two nodes that applied the same entries hold the
same rows and schema, but their files may differ in page layout (a restored snapshot, a
checkpoint at another moment, free pages). It hashes, in a fixed order, every schema row and
every row of every table, ordered by rowid (or by primary key for WITHOUT ROWID tables), each
value tagged with its SQLite storage class so 1, 1.0, '1' and x'31' all differ. raftsql's own
bookkeeping that is node-local (`_raftsql_meta`: the engine version and applied index, which
the caller compares separately; `_raftsql_checkpoints`: the checksums themselves) is left out;
the dedup sessions and table versions are replicated state and are included.

`ChecksumWorker` computes checksums of pinned committed states on a background thread, so the
state machine's checkpoints cost the apply loop only the opening of a read transaction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterator

import apsw

EXCLUDED_TABLES = frozenset({"_raftsql_meta", "_raftsql_checkpoints"})
BACKUP_STEP_PAGES = 256
CHECKSUM_CHUNK_ROWS = 4096

log = logging.getLogger(__name__)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_INT = struct.Struct(">cq").pack
_REAL = struct.Struct(">cd").pack
_LEN = struct.Struct(">cQ").pack


def _encode(value: object) -> bytes:
    """One value, tagged with its SQLite storage class: N; I + 8-byte signed big-endian; R +
    8-byte IEEE double; T or B + 8-byte length + bytes (text as UTF-8)."""
    if value is None:
        return b"N"
    if isinstance(value, int):
        return _INT(b"I", value)
    if isinstance(value, float):
        return _REAL(b"R", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _LEN(b"T", len(data)) + data
    if isinstance(value, bytes):
        return _LEN(b"B", len(value)) + value
    raise TypeError(type(value))  # pragma: no cover - SQLite has no other storage class


def _key_columns(info: list[tuple], without_rowid: bool) -> list[str]:
    """The columns giving a total, engine-independent row order (``info``: the table's
    PRAGMA table_xinfo rows): the rowid, or the primary key of a WITHOUT ROWID table (whose
    columns are NOT NULL).

    The rowid goes by the first of its three names that no column of the table takes: a
    column named `rowid` hides the real one, and paging by a column that may repeat or be NULL
    would skip rows."""
    if not without_rowid:
        taken = {str(row[1]).lower() for row in info}
        return [next((n for n in ("rowid", "_rowid_", "oid") if n not in taken), "rowid")]
    return [_q(col) for _, col in sorted((row[5], row[1]) for row in info if row[5])]


def _value_sql(column: str) -> str:
    """SQL giving `_encode`'s bytes for one value (REAL through `_raftsql_real`: SQL has no
    function for a double's IEEE bytes). printf's %x of a negative integer is its 64-bit two's
    complement, as struct's signed big-endian packing; `||` keeps every byte, NULs included."""
    return (
        f"CASE typeof({column}) "
        f"WHEN 'integer' THEN x'49' || unhex(printf('%016x', {column})) "
        f"WHEN 'text' THEN x'54' || unhex(printf('%016x', octet_length({column}))) || {column} "
        f"WHEN 'real' THEN _raftsql_real({column}) "
        f"WHEN 'blob' THEN x'42' || unhex(printf('%016x', length({column}))) || {column} "
        "ELSE x'4e' END"
    )


def _real_bytes(value: float) -> bytes:
    return _REAL(b"R", value)


def _table_chunks(conn: apsw.Connection, table: str, without_rowid: bool) -> Iterator[bytes]:
    """The table's rows, each b"\x01" + its values `_encode`d (rowid first for a rowid
    table), in key order, as the concatenations of CHECKSUM_CHUNK_ROWS rows each.

    SQLite builds every chunk in one statement step, during which apsw releases the GIL; the
    first version built each value in Python, and while a big database was hashed on the
    checksum thread, the Raft loop's thread, which gives up the GIL at every system call, ran
    at 11-15% of its speed (the GIL convoy; 25% when only fetching one SQL-built row at a time,
    85% with chunks). Chunks are found by key ranges, so memory stays bounded."""
    info = list(conn.execute(f"PRAGMA table_xinfo({_q(table)})"))
    keys = _key_columns(info, without_rowid)
    # what `SELECT *` returns: generated columns too, not hidden ones
    columns = [_q(row[1]) for row in info if row[6] != 1]
    if not without_rowid:
        columns.insert(0, keys[0])
    row_sql = " || ".join(["x'01'"] + [_value_sql(c) for c in columns])
    key_list = ", ".join(keys)
    aliases = ", ".join(f"_k{i}" for i in range(len(keys)))
    key_aliases = ", ".join(f"{k} AS _k{i}" for i, k in enumerate(keys))
    marks = ", ".join("?" * len(keys))
    after = f"({key_list}) > ({marks})"
    upto = f"({key_list}) <= ({marks})"
    bound: tuple[object, ...] | None = None
    while True:
        where = "" if bound is None else f"WHERE {after}"
        start = () if bound is None else bound
        end = next(conn.execute(
            f"SELECT {key_list} FROM {_q(table)} {where} ORDER BY {key_list} "
            f"LIMIT 1 OFFSET {CHECKSUM_CHUNK_ROWS - 1}", start), None)
        rng = " AND ".join(([after] if bound is not None else []) + ([upto] if end else []))
        chunk = next(conn.execute(
            f"SELECT CAST(group_concat(_row, '' ORDER BY {aliases}) AS BLOB) FROM "
            f"(SELECT {key_aliases}, {row_sql} AS _row FROM {_q(table)}"
            f"{' WHERE ' + rng if rng else ''})",
            (*start, *(end or ()))))[0]
        if chunk is not None:
            yield chunk
        if end is None:
            return
        bound = tuple(end)


def content_checksum(conn: apsw.Connection) -> str:
    """Hex SHA-256 of schema plus table contents (see module docstring)."""
    conn.create_scalar_function("_raftsql_real", _real_bytes, 1,  # type: ignore[arg-type]
                                deterministic=True)
    h = hashlib.sha256()
    schema = list(
        conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    )
    for row in schema:
        h.update(b"".join(map(_encode, row)))
    for kind, name, _tbl, sql in schema:
        if (
            kind != "table"
            or name in EXCLUDED_TABLES
            or (sql or "").upper().startswith("CREATE VIRTUAL")
        ):
            continue
        h.update(b"\x00table:" + name.encode())
        for chunk in _table_chunks(conn, name, "WITHOUT ROWID" in (sql or "").upper()):
            h.update(chunk)  # hashlib releases the GIL for a big buffer
    return h.hexdigest()


class CopyAborted(Exception):
    """A copy_database was told to stop (its owner is shutting down)."""


def remove_database_files(path: str) -> None:
    """Delete a database file and whatever journal, WAL or shm file it left."""
    for leftover in (path, path + "-wal", path + "-shm", path + "-journal"):
        if os.path.exists(leftover):
            os.remove(leftover)


def copy_database(source: apsw.Connection, path: str, step_pages: int = BACKUP_STEP_PAGES,
                  aborted: threading.Event | None = None) -> None:
    """Copy `source`'s main database into a new self-contained file at `path`, durably.

    The caller holds a read transaction on `source`, so every step copies the same snapshot;
    in WAL mode that read transaction never blocks the writer, and stepping keeps each call
    short (apsw releases the GIL during a step). Raises CopyAborted between steps once
    `aborted` is set.

    The copy is written without a journal or SQLite's own syncs (a half-made copy is only
    ever deleted), and each step's pages are fdatasync'ed before the next step. Why: with
    SQLite's defaults every step was a journaled, synced transaction, and the page cache held
    the rest. Three nodes copying 100 MB at once then held every other fsync on the disk behind
    them: a Raft log fsync took up to 0.65 s, longer than the election timeout. Synced step by
    step, the longest took 37-55 ms (measured here, issue 8, fourteenth round)."""
    remove_database_files(path)
    dest = apsw.Connection(path)
    fd: int | None = None
    try:
        dest.execute("PRAGMA journal_mode=OFF")
        dest.execute("PRAGMA synchronous=OFF")
        with dest.backup("main", source, "main") as backup:
            while not backup.done:
                if aborted is not None and aborted.is_set():
                    raise CopyAborted(f"copy to {path}")
                backup.step(step_pages)
                if fd is None:
                    fd = os.open(path, os.O_RDONLY)
                os.fdatasync(fd)
        # the copied header says WAL; a copy is one self-contained file
        dest.execute("PRAGMA journal_mode=DELETE")
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
    finally:
        if fd is not None:
            os.close(fd)
        dest.close()


def backup_to_file(source: apsw.Connection, path: str, step_pages: int = BACKUP_STEP_PAGES) -> None:
    """Copy `source`'s main database to `path` (atomically: temp file, rename, fsync of the
    directory; the copy itself is synced)."""
    tmp = path + ".tmp"
    copy_database(source, tmp, step_pages)
    os.replace(tmp, path)
    dirfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


class ChecksumWorker:
    """Content checksums of committed states, computed on a background thread.

    Why: hashing the whole database is O(database); inside the apply transaction it stalled
    every node's apply loop at each checkpoint. Instead `pin(index)` runs on the apply thread
    right after the transaction that made `index` the applied index commits, and before the next
    one begins: it opens a read transaction on a new connection (BEGIN plus a first read). In WAL
    mode that reader keeps seeing exactly the state at `index` however far apply moves on, and
    never blocks the writer (sqlite.org/wal.html, "Concurrency"; sqlite.org/isolation.html). One
    daemon thread hashes the pinned states in order; the owner reads the finished (index,
    checksum) pairs with `finished()`, records them, then `forget`s them.

    At most `max_pending` states are pinned at once, and a `pin` that finds no free slot within
    `PIN_WAIT_SECONDS` skips that checkpoint (a checkpoint is advice for the divergence
    detector, compared only where both nodes have one). Why not wait: with a big database the
    hash takes longer than the entries between two checkpoints, and the apply thread (the Raft
    loop) then stalled at every checkpoint; and with a pinned reader at every moment SQLite can
    never restart its WAL, which grew past 1.2 GB on a node after 4 M writes (memory bench).
    """

    PIN_WAIT_SECONDS = 0.05

    def __init__(self, connect: Callable[[], apsw.Connection], max_pending: int = 1) -> None:
        assert max_pending > 0
        self._connect = connect
        self._slots = threading.BoundedSemaphore(max_pending)
        self._todo: queue.SimpleQueue[tuple[int, apsw.Connection] | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0  # pinned, not yet hashed
        self._done: dict[int, str] = {}  # hashed, not yet forgotten by the owner
        self._thread: threading.Thread | None = None

    def pin(self, index: int) -> None:
        """Pin the committed state whose applied index is `index` and queue its checksum.

        A node-local failure to open the reader (apsw.Error: I/O, out of file handles) is
        logged and skips this checkpoint: the entries are committed already, and a checkpoint
        is advice for the divergence detector, never part of the replicated state."""
        if not self._slots.acquire(timeout=self.PIN_WAIT_SECONDS):
            log.info("checkpoint at index %d skipped: the previous checksum is still running",
                     index)
            return
        try:
            conn = self._connect()
        except apsw.Error:
            self._slots.release()
            log.exception("checkpoint at index %d skipped: no read connection", index)
            return
        try:
            conn.execute("BEGIN")  # deferred: the snapshot is taken by the first read
            pinned = int(next(conn.execute("SELECT applied_index FROM _raftsql_meta"))[0])
        except apsw.Error:
            conn.close()
            self._slots.release()
            log.exception("checkpoint at index %d skipped: the state could not be pinned", index)
            return
        assert pinned == index, f"pinned the state at {pinned}, expected {index}"
        with self._cond:
            self._pending += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="raftsql-checksum", daemon=True)
            self._thread.start()
        self._todo.put((index, conn))

    def _run(self) -> None:
        while (job := self._todo.get()) is not None:
            index, conn = job
            checksum: str | None = None
            try:
                checksum = content_checksum(conn)
            except Exception:  # a node-local failure (I/O): this checkpoint is skipped
                log.exception("checksum of the state at index %d failed", index)
            finally:
                conn.close()  # ends the read transaction: the WAL may be checkpointed past it
                self._slots.release()
            with self._cond:
                if checksum is not None:
                    self._done[index] = checksum
                self._pending -= 1
                self._cond.notify_all()

    def finished(self) -> list[tuple[int, str]]:
        """The finished (index, checksum) pairs not yet forgotten, in index order (a copy)."""
        with self._cond:
            return sorted(self._done.items())

    def forget(self, pairs: list[tuple[int, str]]) -> None:
        """Drop pairs the owner has recorded durably (or no longer wants)."""
        with self._cond:
            for index, _ in pairs:
                self._done.pop(index, None)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every pinned state is hashed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Finish the pinned work and stop the thread."""
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None
