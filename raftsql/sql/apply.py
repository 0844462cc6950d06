"""The deterministic, exactly-once SQLite state machine every node applies committed entries to.

It is handed (index, command bytes, client_id, seq) and never learns that Raft exists.

Invariants (checked at the gateway, `apply`/`apply_noop`; STYLE.md rule 8):
  * entries arrive in order without gaps: index == applied_index + 1, or index <= applied_index
    for a replay after a crash, which is a no-op;
  * one SQLite transaction per entry holds the entry's effects AND the new applied_index, so
    after any crash the database is exactly "all entries up to applied_index";
  * a statement error that every node would raise identically (constraint, SQL error) rolls the
    entry's statements back and is recorded as the entry's result: the loop never wedges; an
    error that depends on this node (I/O, disk full) is raised and nothing is recorded.
docs/transactions.md explains durability (synchronous=NORMAL), deduplication and the
optimistic check for interactive transactions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import apsw

from raftsql.sql.authorizer import Profile
from raftsql.sql.command import (
    CommandDecodeError,
    StmtResult,
    decode,
    decode_results,
    encode_results,
    result_digest,
)
from raftsql.sql.engine import ENGINE_VERSION, open_connection
from raftsql.sql.execute import run_statement
from raftsql.sql.snapshot import backup_to_file, content_checksum
from raftsql.sql.sqlite_errors import classify
from raftsql.sql.txn import release_write_lock

FORMAT_VERSION = 1
DEFAULT_CHECKPOINT_EVERY = 1000
MAX_STORED_RESULT_BYTES = 1 << 20

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS _raftsql_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        applied_index INTEGER NOT NULL,
        sqlite_version TEXT NOT NULL,
        format INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _raftsql_sessions (
        client_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        result BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _raftsql_table_versions (
        name TEXT PRIMARY KEY,
        idx INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _raftsql_checkpoints (
        idx INTEGER PRIMARY KEY,
        checksum TEXT NOT NULL)""",
)


def _serialization_failure(number: int, base_index: int) -> StmtResult:
    return StmtResult.failed(
        "40001",
        f"could not serialize access: statement {number} of the transaction gives a different "
        f"result at its commit point than it gave on the snapshot at index {base_index}",
    )


class EngineVersionMismatch(RuntimeError):
    """The data file was written by another SQLite engine than this build's (see
    docs/transactions.md: nodes must run the same engine to stay byte-identical)."""


class ApplyOrderError(RuntimeError):
    """An entry was handed out of order (a gap): a bug in the caller, never skipped."""


class StateMachine:
    """One node's SQLite database, advanced only by `apply` / `apply_noop` / `restore_from`.

    Not thread-safe: one apply thread owns it. Reads use reads.ReadPool on other connections.
    """

    def __init__(
        self,
        path: str,
        *,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        allow_engine_mismatch: bool = False,
    ) -> None:
        assert checkpoint_every > 0
        self.path = path
        self.checkpoint_every = checkpoint_every
        self._lock = threading.Lock()  # guards against accidental concurrent use
        self._conn, self._auth = open_connection(path, Profile.APPLY)
        with self._auth.internal():
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._conn:
                for ddl in SCHEMA:
                    self._conn.execute(ddl)
                self._conn.execute(
                    "INSERT OR IGNORE INTO _raftsql_meta VALUES (1, 0, ?, ?)",
                    (ENGINE_VERSION, FORMAT_VERSION),
                )
        self._applied, self.stored_engine_version = self._read_meta()
        if self.stored_engine_version != ENGINE_VERSION:
            if not allow_engine_mismatch:
                self._conn.close()
                raise EngineVersionMismatch(
                    f"{path} was written by SQLite {self.stored_engine_version}, this build "
                    f"runs {ENGINE_VERSION}; rebuild the node from a snapshot and the log"
                )
            with self._auth.internal(), self._conn:
                self._conn.execute("UPDATE _raftsql_meta SET sqlite_version = ?", (ENGINE_VERSION,))

    # ---- queries about the state --------------------------------------------------------

    @property
    def applied_index(self) -> int:
        return self._applied

    @property
    def engine_version(self) -> str:
        return ENGINE_VERSION

    def _read_meta(self) -> tuple[int, str]:
        with self._auth.internal():
            rows = list(
                self._conn.execute("SELECT applied_index, sqlite_version FROM _raftsql_meta")
            )
        assert len(rows) == 1, rows
        return int(rows[0][0]), str(rows[0][1])

    def table_versions(self) -> dict[str, int]:
        """name -> index of the last entry that wrote it (the optimistic-check clock)."""
        with self._auth.internal():
            return dict(self._conn.execute("SELECT name, idx FROM _raftsql_table_versions"))

    def checksum(self) -> str:
        """Deterministic content hash (snapshot.content_checksum) of the applied state."""
        with self._auth.internal():
            return content_checksum(self._conn)

    def checkpoints(self) -> list[tuple[int, str]]:
        """(index, checksum) pairs recorded every `checkpoint_every` entries."""
        with self._auth.internal():
            return [
                (int(i), str(c))
                for i, c in self._conn.execute(
                    "SELECT idx, checksum FROM _raftsql_checkpoints ORDER BY idx"
                )
            ]

    # ---- applying -----------------------------------------------------------------------

    def apply(
        self, index: int, data: bytes, client_id: str | None = None, seq: int | None = None
    ) -> list[StmtResult]:
        """Apply the committed entry at `index` and return its per-statement results.

        An index already applied is a no-op returning the stored result for (client_id, seq)
        when that is still the client's latest request, else []. A (client_id, seq) already
        applied at an earlier index returns its first result without applying again
        (Raft thesis section 6.3); only the latest seq per client is kept.
        """
        assert (client_id is None) == (seq is None), "client_id and seq come together"
        with self._lock:
            if index <= self._applied:
                return self._stored_result(client_id, seq) or []
            with self._entry(index):
                results = self._stored_result(client_id, seq)
                if results is None:
                    results = self._stale_request(client_id, seq) or self._execute(index, data)
                    self._remember(client_id, seq, results)
            return results

    def apply_noop(self, index: int) -> None:
        """Advance applied_index over an entry with no command (empty entry, config change)."""
        with self._lock:
            if index <= self._applied:
                return
            with self._entry(index):
                pass

    @contextmanager
    def _entry(self, index: int) -> Iterator[None]:
        """One SQLite transaction for the entry, ending with the new applied_index."""
        release_write_lock(self.path)  # an interactive transaction's live writes step aside
        if index != self._applied + 1:
            raise ApplyOrderError(f"entry {index} handed after {self._applied}")
        with self._auth.internal():
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            with self._auth.internal():
                if not self._conn.in_transaction:  # INSERT OR ROLLBACK ended it; start again
                    self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("UPDATE _raftsql_meta SET applied_index = ?", (index,))
                if index % self.checkpoint_every == 0:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO _raftsql_checkpoints VALUES (?, ?)",
                        (index, content_checksum(self._conn)),
                    )
                self._conn.execute("COMMIT")
        except BaseException:
            with self._auth.internal():
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            raise
        self._applied = index

    def _stored_result(self, client_id: str | None, seq: int | None) -> list[StmtResult] | None:
        if client_id is None:
            return None
        with self._auth.internal():
            rows = list(
                self._conn.execute(
                    "SELECT seq, result FROM _raftsql_sessions WHERE client_id = ?", (client_id,)
                )
            )
        if rows and rows[0][0] == seq:
            return decode_results(rows[0][1])
        return None

    def _stale_request(self, client_id: str | None, seq: int | None) -> list[StmtResult] | None:
        """A seq older than the client's latest: its result is gone and applying it now would
        reorder the client's writes, so it is refused (deterministically) and not applied."""
        if client_id is None:
            return None
        with self._auth.internal():
            rows = list(
                self._conn.execute(
                    "SELECT seq FROM _raftsql_sessions WHERE client_id = ?", (client_id,)
                )
            )
        if rows and seq is not None and seq < rows[0][0]:
            return [
                StmtResult.failed(
                    "40001",
                    f"request {seq} of client {client_id} is older than its latest ({rows[0][0]}) "
                    "and was not applied",
                )
            ]
        return None

    def _remember(self, client_id: str | None, seq: int | None, results: list[StmtResult]) -> None:
        """Keep the client's latest result for a retry. Bounded (STYLE.md rule 15): above
        MAX_STORED_RESULT_BYTES the rows (e.g. a huge RETURNING) are dropped, deterministically,
        and a retry gets the command tag and row count without them."""
        if client_id is None:
            return
        stored = encode_results(results)
        if len(stored) > MAX_STORED_RESULT_BYTES:
            stored = encode_results([replace(r, rows=()) for r in results])
        with self._auth.internal():
            self._conn.execute(
                "INSERT INTO _raftsql_sessions VALUES (?, ?, ?) ON CONFLICT(client_id) DO UPDATE "
                "SET seq = excluded.seq, result = excluded.result WHERE excluded.seq > seq",
                (client_id, seq, stored),
            )

    def _execute(self, index: int, data: bytes) -> list[StmtResult]:
        try:
            cmd = decode(data)
        except CommandDecodeError as exc:
            return [StmtResult.failed("XX001", f"entry {index} holds no valid command: {exc}")]
        results: list[StmtResult] = []
        written: set[str] = set()
        with self._auth.internal():
            self._conn.execute("SAVEPOINT _raftsql_entry")
        for number, stmt in enumerate(cmd.stmts, 1):
            try:
                result = run_statement(self._conn, self._auth, stmt.sql, stmt.params)
            except Exception as exc:
                error = self._auth.denial or classify(exc)
                if error is None:
                    raise  # node-local failure: _entry rolls back, nothing is recorded
                self._undo_entry()
                if stmt.expect:  # the client saw this statement succeed
                    return [_serialization_failure(number, cmd.base_index)]
                results.append(StmtResult.failed(*error))
                return results
            if stmt.expect and result_digest(result) != stmt.expect:
                self._undo_entry()
                return [_serialization_failure(number, cmd.base_index)]
            results.append(result)
            written |= self._auth.writes
        with self._auth.internal():
            self._conn.execute("RELEASE _raftsql_entry")
            self._conn.executemany(
                "INSERT INTO _raftsql_table_versions VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET idx = excluded.idx",
                [(name, index) for name in sorted(written)],
            )
        return results

    def _undo_entry(self) -> None:
        with self._auth.internal():
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK TO _raftsql_entry")
                self._conn.execute("RELEASE _raftsql_entry")

    # ---- snapshots ----------------------------------------------------------------------

    def snapshot_to(self, path: str) -> int:
        """Write a consistent copy of the database to `path`; returns its applied index.

        Uses the online backup API from a separate connection inside one read transaction, so
        the copy is one snapshot and the apply connection is never blocked (WAL). It touches
        no state of this object, so it may run on another thread while apply goes on."""
        source = apsw.Connection(self.path, statementcachesize=0)
        try:
            source.execute("BEGIN")
            index = int(next(source.execute("SELECT applied_index FROM _raftsql_meta"))[0])
            backup_to_file(source, path)
            source.execute("ROLLBACK")
        finally:
            source.close()
        return index

    def restore_from(self, path: str) -> int:
        """Replace the whole state with the snapshot at `path`; returns the new applied index."""
        release_write_lock(self.path)
        with self._lock:
            source = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
            try:
                version = str(next(source.execute("SELECT sqlite_version FROM _raftsql_meta"))[0])
                if version != ENGINE_VERSION:
                    raise EngineVersionMismatch(
                        f"snapshot {path} was written by SQLite {version}, this node runs "
                        f"{ENGINE_VERSION}"
                    )
                with self._conn.backup("main", source, "main") as backup:
                    while not backup.done:
                        backup.step(-1)
            finally:
                source.close()
            self._applied, self.stored_engine_version = self._read_meta()
            return self._applied

    def flush(self) -> int:
        """Make everything applied so far durable and return that index. Raft log compaction up
        to index i must call this first (docs/transactions.md, "Durability").

        A PASSIVE checkpoint never waits for readers; then both files are fsynced: committed
        frames not yet checkpointed (a reader may pin them) are durable in the WAL, the rest in
        the database file."""
        with self._lock, self._auth.internal():
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            for name in (self.path + "-wal", self.path):
                if os.path.exists(name):
                    fd = os.open(name, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            return self._applied

    def close(self) -> None:
        self._conn.close()
