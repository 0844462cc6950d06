"""The deterministic, exactly-once SQLite state machine every node applies committed entries to.

It is handed (index, command bytes, client_id, seq) and never learns that Raft exists.

Invariants (checked at the gateway, `apply_batch`; STYLE.md rule 8):
  * entries arrive in order without gaps: index == applied_index + 1, or index <= applied_index
    for a replay after a crash, which is a no-op returning the stored result;
  * one SQLite transaction per batch of entries holds the entries' effects AND the new
    applied_index (the batch's last index), so after any crash the database is exactly "all
    entries up to applied_index" and the log is replayed from applied_index + 1;
  * the results and the state are exactly those of applying the entries one at a time: an
    entry of several statements (or one checked against an expected result) runs under its
    own SAVEPOINT, so a statement error that every node would raise identically (constraint,
    SQL error) rolls back that entry only and is recorded as its result; an entry of one
    statement needs none, since SQLite rolls a failed statement back itself (statement
    journal; conflict clause ABORT, see below for ROLLBACK), and the two SAVEPOINT statements
    cost a one-row upsert an eighth of its apply time (bench/apply_bench.py, batch 64);
    an error that depends on this node (I/O, disk full) rolls the whole batch back and is
    raised.
docs/transactions.md explains durability (synchronous=NORMAL), deduplication and the
optimistic check for interactive transactions.

Batching. Per entry there is one session lookup (cached for the batch) and a savepoint; the
client sessions, the per-table versions (the index of the LAST entry of the batch that wrote the
table, what txn.py's `idx > base_index` check needs) and applied_index are written once, just
before COMMIT. Sessions and table versions are written in first-change order, which is the
order applying one entry at a time inserts them, so their rowids, and the content checksum, are
the same however the log was cut into batches. That is also why replicated statements may not
read `_raftsql_*` tables (authorizer.py): inside a batch they hold deferred values.

Conflict clauses. An `OR ROLLBACK` clause (in a statement or a table's constraint) or a
trigger's RAISE(ROLLBACK) ends SQLite's whole transaction, savepoints included
(sqlite.org/lang_conflict.html); in a batch that would drop the earlier entries' effects. It
is detected (the connection is no longer in a transaction after the entry) and the batch is
split there: the entries before it are applied again in their own transaction (deterministic:
the same results, and the same values of the leader's fixed random(), whose per-seed streams
on this connection are put back first, functions.SeededStreams), then the rest, where the rolled-back entry comes first, so its transaction
loss costs nothing and it fails like the entry-level ABORT it amounts to. Every commit still
ends with its own applied_index, so atomicity holds for each part.

Applying ahead (`apply_ahead`, the leader with one write waiting). A run of entries not yet
committed may be run in a write transaction left open; `apply_batch` commits it when it is
handed exactly those entries first, and rolls it back otherwise, and so does an interactive
transaction that takes the write lock (txn.py `release_write_lock`) or `close`; a roll back
also puts back the connection's seeded random streams it moved (functions.SeededStreams). None
of it is visible before the commit (readers use connections of their own; applied_index is
written in the same transaction), so the invariants above hold as if it had not happened.

Checkpoints. Every `checkpoint_every` entries (default 10 000, or $RAFTSQL_CHECKPOINT_EVERY), or
every few such intervals once the database is big (`checkpoint_stride`: the hashing stays under
1 MiB per interval), the content checksum of the state at that index is recorded so the
divergence detector can compare nodes at identical indexes. Batches are cut so one ends exactly
at each checkpoint index; right after it commits, before the next batch begins, a read
transaction is opened on a new connection (WAL snapshot), and a background thread hashes that
snapshot (snapshot.ChecksumWorker), off the apply path. The finished pair is written to
`_raftsql_checkpoints` by the apply thread inside its next batch transaction (so no second
writer competes for the lock), or at close(). `_raftsql_checkpoints` is outside the content
checksum, so when it is written changes nothing replicated; backups and snapshots copy it like
any table. A crash before the pair is written loses that checkpoint only: the detector compares
the indexes both nodes have. `checkpoints()` reports recorded and finished pairs. Only the
newest CHECKPOINTS_KEPT are kept: the detector compares the last 20, and reading a history
that grew by one row per interval for the life of the cluster cost every comparison more.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import apsw

from raftsql.sql.authorizer import SCHEMA_TABLE, Profile
from raftsql.sql.command import (
    Command,
    CommandDecodeError,
    NewerCommandError,
    StmtResult,
    decode,
    decode_results,
    encode_results,
    result_digest,
)
from raftsql.sql.engine import ENGINE_VERSION, open_connection, run_cached
from raftsql.sql.functions import seeded_streams
from raftsql.sql.snapshot import ChecksumWorker, backup_to_file, content_checksum
from raftsql.sql.sqlite_errors import classify
from raftsql.sql.txn import (
    close_pool,
    hold_write_lock,
    open_transactions,
    release_write_lock,
    unhold_write_lock,
)
from raftsql.sql.walcheckpoint import WalCheckpointer

WAL_SIZE_LIMIT = 64 << 20
"""PRAGMA journal_size_limit of the apply connection, in bytes."""

FORMAT_VERSION = 2
"""Of the state machine's own tables. 2: `_raftsql_sessions.last_index` (session expiry); a
format 1 file is upgraded when opened or restored (`_upgrade_format`)."""
SESSION_WINDOW = 1 << 20
"""Entries after its latest request that a client's session is kept, and after its proposal
that a request may still be applied (docs/transactions.md, "Session expiry")."""
DEFAULT_CHECKPOINT_EVERY = 10_000
CHECKPOINT_EVERY_ENV = "RAFTSQL_CHECKPOINT_EVERY"
CHECKPOINT_HASH_BUDGET = 1 << 20
"""Bytes of database hashed per `checkpoint_every` entries, at most (see checkpoint_stride)."""
CHECKPOINTS_KEPT = 64
MAX_STORED_RESULT_BYTES = 1 << 20
MAX_CACHED_SESSIONS = 1 << 16
MAX_PROPOSED_KEPT = 4096
"""Commands this node proposed, kept to be applied without decoding (`note_proposed`)."""

Item = tuple[int, bytes | None, str | None, int | None]
"""(index, command bytes or None for an entry without one, client_id, seq)."""

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS _raftsql_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        applied_index INTEGER NOT NULL,
        sqlite_version TEXT NOT NULL,
        format INTEGER NOT NULL)""",
    # last_index is NULL for a session kept for good. The text is exactly what format 1's
    # table becomes after _upgrade_format's ADD COLUMN: the content checksum hashes it.
    """CREATE TABLE IF NOT EXISTS _raftsql_sessions (
        client_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        result BLOB NOT NULL, last_index INTEGER)""",
    """CREATE TABLE IF NOT EXISTS _raftsql_table_versions (
        name TEXT PRIMARY KEY,
        idx INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _raftsql_checkpoints (
        idx INTEGER PRIMARY KEY,
        checksum TEXT NOT NULL)""",
)

# The state machine's own statements, as constants: built once, never formatted per entry.
_SESSION_GET = "SELECT seq, result FROM _raftsql_sessions WHERE client_id = ?"
_SESSION_PUT = (
    "INSERT INTO _raftsql_sessions VALUES (?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE "
    "SET seq = excluded.seq, result = excluded.result, last_index = excluded.last_index "
    "WHERE excluded.seq > seq"
)
_SESSION_EXPIRY_INDEX = (
    "CREATE INDEX IF NOT EXISTS _raftsql_sessions_expiry ON _raftsql_sessions (last_index) "
    "WHERE last_index IS NOT NULL"
)
_SESSION_EXPIRE = "DELETE FROM _raftsql_sessions WHERE last_index < ?"
_VERSION_PUT = (
    "INSERT INTO _raftsql_table_versions VALUES (?, ?) "
    "ON CONFLICT(name) DO UPDATE SET idx = excluded.idx"
)
_APPLIED_PUT = "UPDATE _raftsql_meta SET applied_index = ?"
_CHECKPOINT_PUT = "INSERT OR REPLACE INTO _raftsql_checkpoints VALUES (?, ?)"
_CHECKPOINT_PRUNE = (
    "DELETE FROM _raftsql_checkpoints WHERE idx < "
    "(SELECT idx FROM _raftsql_checkpoints ORDER BY idx DESC LIMIT 1 OFFSET ?)"
)


def _default_checkpoint_every() -> int:
    value = int(os.environ.get(CHECKPOINT_EVERY_ENV, DEFAULT_CHECKPOINT_EVERY))
    if value <= 0:
        raise ValueError(f"{CHECKPOINT_EVERY_ENV} must be positive, not {value}")
    return value


def checkpoint_stride(db_bytes: int, budget: int) -> int:
    """Every how many checkpoints a database of `db_bytes` is hashed: the smallest power of two
    that keeps the hashing under `budget` bytes per `checkpoint_every` entries.

    Why: a content hash is O(database), about 25 ms of CPU per MB. Hashing at every checkpoint
    cost each node ~20% of its CPU at 6,000 writes/s with a 15 MB database (upsert throughput
    5,600/s against 7,000/s without checksums), and once the hash outlasted the interval a
    whole core; with this budget it costs at most ~3 µs per entry. (CockroachDB checks replica
    consistency once a day by default: a rare check is the norm, a costly one is not.)

    The stride follows the database's size at that index, which is the same on every node that
    applied the same entries, so nodes still hash at the same indexes; a power of two, so two
    nodes whose sizes straddle a boundary still share every checkpoint of the larger stride."""
    stride = 1
    while stride * budget < db_bytes:
        stride *= 2
    return stride


def _serialization_failure(number: int, base_index: int) -> StmtResult:
    return StmtResult.failed(
        "40001",
        f"could not serialize access: statement {number} of the transaction gives a different "
        f"result at its commit point than it gave on the snapshot at index {base_index}",
    )


def _stored(results: list[StmtResult]) -> bytes:
    """The client's result as kept for a retry. Bounded (STYLE.md rule 15): above
    MAX_STORED_RESULT_BYTES the rows (e.g. a huge RETURNING) are dropped, deterministically,
    and a retry gets the command tag and row count without them."""
    stored = encode_results(results)
    if len(stored) > MAX_STORED_RESULT_BYTES:
        stored = encode_results([replace(r, rows=()) for r in results])
    return stored


@dataclass
class _Batch:
    """What one batch transaction has done and writes only at its end."""

    ran: int = 0  # entries whose statements took effect in the SQLite transaction
    looked_up: dict[str, tuple[int, bytes] | None] = field(default_factory=dict)
    # client -> (seq, stored result, last_index) of requests applied in this batch, in
    # first-change order; last_index None: the session is kept for good
    sessions: dict[str, tuple[int, bytes, int | None]] = field(default_factory=dict)
    # table -> index of the last entry of the batch that wrote it, in first-write order
    versions: dict[str, int] = field(default_factory=dict)


class _TransactionLost(Exception):
    """SQLite's transaction ended inside the entry at `position` of the batch."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


@dataclass
class _Ahead:
    """A run of entries applied ahead of their commit (`apply_ahead`): its SQLite transaction
    is open and holds them; `apply_batch` commits it when the same entries commit."""

    run: list[Item]
    batch: _Batch
    results: list[list[StmtResult] | None]


class EngineVersionMismatch(RuntimeError):
    """The data file was written by another SQLite engine than this build's (see
    docs/transactions.md: nodes must run the same engine to stay byte-identical)."""


class NewerFormatError(RuntimeError):
    """The data file (or a snapshot being restored) was written by a later release, whose
    state machine tables this one does not know."""


class ApplyOrderError(RuntimeError):
    """An entry was handed out of order (a gap): a bug in the caller, never skipped."""


class StateMachine:
    """One node's SQLite database, advanced only by `apply_batch` (and its one-entry forms
    `apply` / `apply_noop`) and `restore_from`.

    One thread applies (any thread, but one at a time; no asyncio inside). The queries
    (`checksum`, `checkpoints`, `table_versions`, `applied_index`) read committed state on
    their own connections and may be called from any thread while apply runs. Reads use
    reads.ReadPool on other connections.
    """

    def __init__(
        self,
        path: str,
        *,
        checkpoint_every: int | None = None,
        allow_engine_mismatch: bool = False,
        session_window: int = SESSION_WINDOW,
    ) -> None:
        if checkpoint_every is None:
            checkpoint_every = _default_checkpoint_every()
        assert checkpoint_every > 0 and session_window > 0
        self.path = path
        self.checkpoint_every = checkpoint_every
        # Part of the replicated semantics, like the schema: every node uses the default (a
        # test may pass a small window to see expiry happen).
        self.session_window = session_window
        self._expire_every = max(1, session_window // 16)
        self._lock = threading.Lock()  # guards against accidental concurrent use
        # statements cached (engine.run_cached keeps the authorizer's findings per text)
        self._conn, self._auth = open_connection(path, Profile.APPLY, statement_cache=128)
        self._streams = seeded_streams(self._conn)
        with self._auth.internal():
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # after a checkpoint restarts the WAL, cut the file back (a long read, such as a
            # snapshot copy, lets it grow meanwhile; without a limit it keeps that size)
            self._conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        # checkpoints off the applying thread (walcheckpoint.py); the hook replaces SQLite's
        # automatic checkpoint
        self._checkpointer = WalCheckpointer(path)
        self._conn.set_wal_hook(self._checkpointer.hook)
        try:
            with self._auth.internal(), self._conn:
                for ddl in SCHEMA:
                    self._conn.execute(ddl)
                self._conn.execute(
                    "INSERT OR IGNORE INTO _raftsql_meta VALUES (1, 0, ?, ?)",
                    (ENGINE_VERSION, FORMAT_VERSION),
                )
                self._upgrade_format()
        except NewerFormatError:
            self._checkpointer.close()
            self._conn.close()
            raise
        self._applied, self.stored_engine_version = self._read_meta()
        self.schema_generation = 0
        """Moves whenever a committed batch changed the schema (an entry of it wrote
        sqlite_master, authorizer.py) or a snapshot replaced the state: a cache of schema facts
        read after apply (node/database.py) compares it instead of asking SQLite per write."""
        if self.stored_engine_version != ENGINE_VERSION:
            if not allow_engine_mismatch:
                self._checkpointer.close()
                self._conn.close()
                raise EngineVersionMismatch(
                    f"{path} was written by SQLite {self.stored_engine_version}, this build "
                    f"runs {ENGINE_VERSION}; rebuild the node from a snapshot and the log"
                )
            with self._auth.internal(), self._conn:
                self._conn.execute("UPDATE _raftsql_meta SET sqlite_version = ?", (ENGINE_VERSION,))
        self._checksums = ChecksumWorker(self._read_connection)
        # client -> seq of its latest request as committed in _raftsql_sessions (a cache)
        self._seqs: dict[str, int] = {}
        self._ahead: _Ahead | None = None
        # id(bytes) -> (those bytes, the command encoded into them): note_proposed
        self._proposed: dict[int, tuple[bytes, Command]] = {}

    # ---- queries about the state --------------------------------------------------------

    @property
    def applied_index(self) -> int:
        return self._applied

    @property
    def engine_version(self) -> str:
        return ENGINE_VERSION

    def _upgrade_format(self) -> None:
        """Bring a format 1 file (one opened, or a snapshot just restored) to FORMAT_VERSION,
        inside the caller's transaction. Deterministic: its sessions, written without a
        proposal index, get last_index NULL (kept for good), which is also what this version
        records when it applies a format 1 entry; so a node upgraded in place and one that
        applies the same log afresh hold the same state."""
        (stored,) = next(self._conn.execute("SELECT format FROM _raftsql_meta"))
        if stored == 1:
            self._conn.execute("ALTER TABLE _raftsql_sessions ADD COLUMN last_index INTEGER")
        elif stored != FORMAT_VERSION:
            raise NewerFormatError(f"{self.path} has state machine format {stored}; this "
                                   f"build knows {FORMAT_VERSION} and older: upgrade this node")
        self._conn.execute(_SESSION_EXPIRY_INDEX)
        self._conn.execute("UPDATE _raftsql_meta SET format = ?", (FORMAT_VERSION,))

    def _read_meta(self) -> tuple[int, str]:
        with self._auth.internal():
            rows = list(
                self._conn.execute("SELECT applied_index, sqlite_version FROM _raftsql_meta")
            )
        assert len(rows) == 1, rows
        return int(rows[0][0]), str(rows[0][1])

    def _read_connection(self) -> apsw.Connection:
        """A read-only connection (query_only) to the committed state, for raftsql's own
        queries only: it never runs a client's SQL, so it needs no authorizer policy. The
        caller closes it."""
        conn = open_connection(self.path, Profile.READ)[0]
        conn.authorizer = None
        return conn

    @contextmanager
    def _reading(self) -> Iterator[apsw.Connection]:
        """One read transaction on a fresh connection: a single committed state, never the
        apply connection's open batch, and safe from any thread."""
        conn = self._read_connection()
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    def table_versions(self) -> dict[str, int]:
        """name -> index of the last entry that wrote it (the optimistic-check clock)."""
        with self._reading() as conn:
            return {
                str(n): int(i)
                for n, i in conn.execute("SELECT name, idx FROM _raftsql_table_versions")
            }

    def checksum(self) -> str:
        """Deterministic content hash (snapshot.content_checksum) of the committed state."""
        return self.checksum_at()[1]

    def checksum_at(self) -> tuple[int, str]:
        """(applied index, content checksum) of one committed state, read together."""
        with self._reading() as conn:
            index = int(next(conn.execute("SELECT applied_index FROM _raftsql_meta"))[0])
            return index, content_checksum(conn)

    def checkpoints(self) -> list[tuple[int, str]]:
        """(index, checksum) pairs of the states at every `checkpoint_every`-th index: those
        recorded and those hashed but not yet recorded. A checksum still being computed is
        not there yet (see `wait_for_checkpoints`)."""
        finished = self._checksums.finished()  # before the table: a pair leaves this list
        with self._reading() as conn:  # only after its recording committed
            recorded = {
                int(i): str(c)
                for i, c in conn.execute("SELECT idx, checksum FROM _raftsql_checkpoints")
            }
        recorded.update(finished)
        return sorted(recorded.items())

    def wait_for_checkpoints(self, timeout: float | None = None) -> bool:
        """Wait until every checkpoint state pinned so far is hashed; False on timeout."""
        return self._checksums.wait(timeout)

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
        result = self.apply_batch([(index, data, client_id, seq)])[0]
        assert result is not None
        return result

    def apply_noop(self, index: int) -> None:
        """Advance applied_index over an entry with no command (empty entry, config change)."""
        self.apply_batch([(index, None, None, None)])

    def apply_batch(self, items: Sequence[Item]) -> list[list[StmtResult] | None]:
        """Apply committed entries (index, data, client_id, seq), in index order, atomically.

        The results, and the state reached, are exactly those of calling `apply` (or
        `apply_noop` where data is None, result None) for each item in order; the difference
        is that the batch is one SQLite transaction ending with applied_index = the last index
        (split only at checkpoint indexes and where an entry's conflict clause rolls SQLite's
        transaction back, see the module docstring). Items at or below applied_index are
        replays and return the stored result. A gap raises ApplyOrderError before anything is
        applied. A node-local error rolls the current transaction back and is raised; parts
        of the batch before a checkpoint index it crossed stay committed, and applied_index
        says how far (the caller feeds the log again from applied_index + 1).
        """
        with self._lock:
            results: list[list[StmtResult] | None] = []
            ahead = self._take_ahead()
            if ahead is not None:
                if list(items[: len(ahead.run)]) != ahead.run or not self._conn.in_transaction:
                    self._undo_ahead()
                else:
                    try:
                        self._commit_run(ahead.run[-1][0], ahead.batch, False)
                    except BaseException:
                        self._undo_ahead()
                        raise
                    self._streams.release()
                    results.extend(ahead.results)
                    items = items[len(ahead.run) :]
            first = 0
            while first < len(items) and items[first][0] <= self._applied:
                results.append(self._replayed(items[first]))
                first += 1
            rest = items[first:]
            for position, item in enumerate(rest):
                if item[0] != self._applied + 1 + position:
                    expected = self._applied + 1 + position
                    raise ApplyOrderError(f"entry {item[0]} handed where {expected} is next")
            start = 0
            while start < len(rest):
                end = start
                while (end < len(rest) - 1 and rest[end][0] % self.checkpoint_every
                       and rest[end][0] % self._expire_every):
                    end += 1
                results.extend(self._transaction(rest[start : end + 1]))
                start = end + 1
            return results

    def _replayed(self, item: Item) -> list[StmtResult] | None:
        index, data, client_id, seq = item
        assert (client_id is None) == (seq is None), "client_id and seq come together"
        if data is None:
            return None
        if client_id is None:
            return []
        with self._auth.internal():
            row = next(self._conn.execute(_SESSION_GET, (client_id,)), None)
        if row is not None and row[0] == seq:
            return decode_results(row[1])
        return []

    def _transaction(self, run: Sequence[Item]) -> list[list[StmtResult] | None]:
        """Apply `run` (consecutive, all after applied_index) in one SQLite transaction.

        Whatever rolls it back also puts back the seeded random streams it drew from (state
        of the connection, functions.SeededStreams): the entries run again, and must draw
        what they would have drawn the first time, as on a node that batched them apart."""
        self._streams.hold()
        try:
            batch, results = self._run_entries(run)
            last = run[-1][0]
            self._commit_run(last, batch, self._write_deferred(last, batch))
        except _TransactionLost as lost:
            # The entries before `lost.position` ran in the transaction SQLite just dropped;
            # apply them again (deterministic) and then the rest, where the entry that
            # rolled back comes first and so loses nothing.
            self._streams.restore()
            return self._transaction(run[: lost.position]) + self._transaction(run[lost.position :])
        except BaseException:
            self._rollback()
            self._streams.restore()
            raise
        self._streams.release()
        return results

    def _run_entries(self, run: Sequence[Item]) -> tuple[_Batch, list[list[StmtResult] | None]]:
        """Open the write transaction and run `run`'s entries in it, not committed yet."""
        release_write_lock(self.path)  # an interactive transaction's live writes step aside
        batch = _Batch()
        results: list[list[StmtResult] | None] = []
        with self._auth.internal():
            self._conn.execute("BEGIN IMMEDIATE")
        for position, (index, data, client_id, seq) in enumerate(run):
            if data is None:
                results.append(None)
                continue
            results.append(self._entry(batch, index, data, client_id, seq))
            if not self._conn.in_transaction:  # a ROLLBACK conflict clause ended it
                if batch.ran:
                    raise _TransactionLost(position)
                with self._auth.internal():  # it lost nothing: go on in a new one
                    self._conn.execute("BEGIN IMMEDIATE")
        return batch, results

    def _write_deferred(self, last: int, batch: _Batch) -> bool:
        """Write what the batch defers: its sessions, the expiry due at `last`, its table
        versions, applied_index = `last`. Whether a session expired."""
        with self._auth.internal():
            if batch.sessions:
                self._conn.executemany(
                    _SESSION_PUT, [(c, *session) for c, session in batch.sessions.items()]
                )
            expired = (last % self._expire_every == 0
                       and self._expire_sessions(last - self.session_window))
            if batch.versions:
                self._conn.executemany(_VERSION_PUT, list(batch.versions.items()))
            self._conn.execute(_APPLIED_PUT, (last,))
        return expired

    def _commit_run(self, last: int, batch: _Batch, expired: bool) -> None:
        """Record the checkpoints hashed meanwhile, COMMIT the run (its deferred rows written),
        then update what this object caches."""
        taken = self._checksums.finished()
        with self._auth.internal():
            if taken:
                self._record_checkpoints(taken)
            self._conn.execute("COMMIT")
        self._applied = last
        if self._checkpointer.behind:  # the WAL outgrew the checkpoint thread (walcheckpoint.py)
            with self._auth.internal():
                self._checkpointer.catch_up(self._conn)
        if SCHEMA_TABLE in batch.versions:
            self.schema_generation += 1
        if expired or len(self._seqs) + len(batch.sessions) > MAX_CACHED_SESSIONS:
            self._seqs.clear()  # a cache: bounded (STYLE.md rule 15), refilled from the table
        for client_id, (seq, _, _) in batch.sessions.items():
            self._seqs[client_id] = seq
        self._checksums.forget(taken)
        if last % self.checkpoint_every == 0 and self._hashed_checkpoint(last):
            self._checksums.pin(last)

    def _rollback(self) -> None:
        with self._auth.internal():
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    # ---- applying ahead of the commit (the leader) ----------------------------------------

    def apply_ahead(self, items: Sequence[Item]) -> None:
        """Run entries that are not committed yet, in order after applied_index, in a write
        transaction left open; `apply_batch` commits it when it is handed the same entries
        (same index, data, client and seq), and rolls it back when anything else comes first.
        Nothing of it is visible meanwhile: reads use connections of their own (WAL), and
        applied_index moves only at the commit.

        Why: the leader's entries are in its log before they commit, and between its own
        fsync and its followers' acks its loop has nothing to do. Applying then takes the
        apply (about 90 µs of a lone write) out of the wait of the client whose entry
        commits; the deferred rows are written ahead too, and at the commit only the COMMIT
        remains (and the checkpoints hashed meanwhile, which are node-local). The results
        are those of `apply_batch`: the run starts from all entries up to applied_index,
        and nothing else writes the file until it commits or is rolled back (an interactive
        transaction that takes the write lock rolls it back, `release_write_lock`).

        Only what `apply_batch` would do in one transaction: entries with a command, none at
        a checkpoint or session-expiry index (a batch is cut there), none after a run
        already ahead. And only while no interactive transaction is open: one would take the
        write lock at its next statement, and the work would be done twice (TPC-B at 16
        clients rolled back 45% of its runs that way). An entry that ends SQLite's
        transaction (a ROLLBACK conflict clause) or a node-local error drops the run; the
        commit then applies it as usual."""
        with self._lock:
            if (self._ahead is not None or not items or items[0][0] != self._applied + 1
                    or open_transactions(self.path)
                    or any(data is None or index % self.checkpoint_every == 0
                           or index % self._expire_every == 0
                           for index, data, _, _ in items)):
                return
            run = list(items)
            self._streams.hold()
            try:
                batch, results = self._run_entries(run)
                self._write_deferred(run[-1][0], batch)  # no expiry index in the run: False
            except Exception:  # noqa: BLE001 (the commit applies the run and raises it)
                self._undo_ahead()
                return
            self._ahead = _Ahead(run, batch, results)
            hold_write_lock(self.path, self._drop_ahead)

    def _take_ahead(self) -> _Ahead | None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            unhold_write_lock(self.path, self._drop_ahead)
        return ahead

    def _drop_ahead(self) -> None:
        """Roll back the run applied ahead, if any (its entries are applied when they
        commit). Called from `release_write_lock` on the same thread as the apply."""
        if self._take_ahead() is not None:
            self._undo_ahead()

    def _undo_ahead(self) -> None:
        """Roll back a run applied ahead: its writes, and the random streams it moved (state
        of the connection, not of the file: functions.SeededStreams)."""
        self._rollback()
        self._streams.restore()

    def _record_checkpoints(self, taken: list[tuple[int, str]]) -> None:
        """Write finished (index, checksum) pairs and drop all but the newest CHECKPOINTS_KEPT,
        in the caller's transaction."""
        self._conn.executemany(_CHECKPOINT_PUT, taken)
        self._conn.execute(_CHECKPOINT_PRUNE, (CHECKPOINTS_KEPT - 1,))

    def _expire_sessions(self, before: int) -> bool:
        """Forget the sessions whose latest request is older than entry `before` (whether any
        was). Run at the end of every `_expire_every`-th entry, so the batches are cut there
        too: the same rows go at the same index on every node, however the log was batched.

        Safe because `_entry` refuses a request whose proposal is more than the window older
        than its entry: a copy of a request that did apply (a re-proposal, a forwarded
        proposal held up in transit) is either refused or arrives while its session, which
        was written after that proposal, is still kept (docs/transactions.md)."""
        self._conn.execute(_SESSION_EXPIRE, (before,))
        return self._conn.changes() > 0

    def _hashed_checkpoint(self, index: int) -> bool:
        """Whether the checkpoint at `index` is hashed (checkpoint_stride, by database size)."""
        stride = checkpoint_stride(self.size_bytes(), CHECKPOINT_HASH_BUDGET)
        return (index // self.checkpoint_every) % stride == 0

    def size_bytes(self) -> int:
        """The database's size (pages in use or free, as of the last applied batch)."""
        with self._auth.internal():
            pages = int(next(self._conn.execute("PRAGMA page_count"))[0])
            page_size = int(next(self._conn.execute("PRAGMA page_size"))[0])
        return pages * page_size

    def note_proposed(self, data: bytes, cmd: Command) -> None:
        """``data`` is ``encode(cmd)``, about to be proposed by this node: should this very
        bytes object reach apply (as it does on the leader, through its own log), apply a copy
        of ``cmd`` instead of decoding ``data`` again (2.5 µs per upsert, 5.8 per pgbench
        transaction; issue 8). Identity, not equality, picks it out (the memo keeps the bytes,
        so their id is no other object's meanwhile): an entry read back from the log or sent
        by another node is decoded as on every follower. What decode would give is the same
        command (the codec's round-trip test), so every node still applies the same thing. A
        proposal that is never applied here (dropped, or applied by another leader's log)
        stays until the memo is full, and is then dropped with the rest: a cache (STYLE.md
        rule 15)."""
        if len(self._proposed) >= MAX_PROPOSED_KEPT:
            self._proposed.clear()
        self._proposed[id(data)] = (data, Command(cmd.stmts, cmd.base_index, cmd.read_tables,
                                                  cmd.write_tables, cmd.proposed_at))

    def _command(self, data: bytes) -> Command:
        """The entry's command: the one this node encoded into ``data`` (note_proposed), else
        ``decode(data)``."""
        if self._proposed:
            known = self._proposed.pop(id(data), None)
            if known is not None:  # the memo holds `data`: its id is no other object's
                return known[1]
        return decode(data)

    def _entry(
        self, batch: _Batch, index: int, data: bytes, client_id: str | None, seq: int | None
    ) -> list[StmtResult]:
        """One entry inside the batch transaction: deduplicate, run, note what it wrote."""
        assert (client_id is None) == (seq is None), "client_id and seq come together"
        try:
            cmd: Command | None = self._command(data)
        except NewerCommandError:
            raise  # node-local: this node is older than the log (the batch rolls back)
        except CommandDecodeError as exc:
            cmd, undecodable = None, str(exc)
        if client_id is not None and seq is not None:
            latest = self._latest_seq(batch, client_id)
            if latest is not None:
                if seq == latest:  # a retry: its first result (thesis 6.3)
                    row = self._session_row(batch, client_id)
                    assert row is not None and row[0] == seq, (client_id, seq, row)
                    return decode_results(row[1])
                if seq < latest:
                    # its result is gone and applying it now would reorder the client's
                    # writes, so it is refused (deterministically) and not applied
                    return [
                        StmtResult.failed(
                            "40001",
                            f"request {seq} of client {client_id} is older than its latest "
                            f"({latest}) and was not applied",
                        )
                    ]
            if cmd is not None and cmd.proposed_at and index - cmd.proposed_at > self.session_window:
                # its session may be forgotten already (_expire_sessions): were it a copy of
                # a request that did apply, applying it would apply that twice
                return [
                    StmtResult.failed(
                        "40001",
                        f"request {seq} of client {client_id}, made at index {cmd.proposed_at}, "
                        f"reached the log at index {index}, more than {self.session_window} "
                        "entries later, and was not applied",
                    )
                ]
        if cmd is None:
            results: list[StmtResult] = [
                StmtResult.failed("XX001", f"entry {index} holds no valid command: {undecodable}")
            ]
            written = None
        else:
            results, written = self._execute(cmd)
        if written is not None:
            batch.ran += 1
            for name in sorted(written):  # first-write order = sequential insertion order
                batch.versions[name] = index
        if client_id is not None and seq is not None:
            kept_for_good = cmd is None or not cmd.proposed_at
            batch.sessions[client_id] = (seq, _stored(results), None if kept_for_good else index)
        return results

    def _latest_seq(self, batch: _Batch, client_id: str) -> int | None:
        """The seq of the client's latest applied request (None: none yet), this batch
        included. Committed seqs are cached across batches, so a new request, the common
        case, reads nothing."""
        pending = batch.sessions.get(client_id)
        if pending is not None:
            return pending[0]
        cached = self._seqs.get(client_id)
        if cached is not None:
            return cached
        row = self._session_row(batch, client_id)
        return None if row is None else row[0]

    def _session_row(self, batch: _Batch, client_id: str) -> tuple[int, bytes] | None:
        """(seq, stored result) of the client's latest applied request, this batch included."""
        pending = batch.sessions.get(client_id)
        if pending is not None:
            return pending[0], pending[1]
        if client_id not in batch.looked_up:
            with self._auth.internal():
                row = next(self._conn.execute(_SESSION_GET, (client_id,)), None)
            batch.looked_up[client_id] = None if row is None else (int(row[0]), row[1])
        return batch.looked_up[client_id]

    def _execute(self, cmd: Command) -> tuple[list[StmtResult], set[str] | None]:
        """Run the entry's statements under a savepoint: (results, tables written), or
        (results, None) if it failed and changed nothing."""
        results: list[StmtResult] = []
        written: set[str] = set()
        # One statement that every node must run whatever it returns needs no savepoint: a
        # failing statement is rolled back by SQLite itself (statement journal, ABORT).
        savepoint = len(cmd.stmts) > 1 or bool(cmd.stmts and cmd.stmts[0].expect)
        if savepoint:
            with self._auth.internal():
                self._conn.execute("SAVEPOINT _raftsql_entry")
        for number, stmt in enumerate(cmd.stmts, 1):
            try:
                result = run_cached(self._conn, self._auth, stmt.sql, stmt.params)
            except Exception as exc:
                error = self._auth.denial or classify(exc)
                if error is None:
                    raise  # node-local failure: the batch rolls back, nothing is recorded
                if savepoint:
                    self._undo_entry()
                if stmt.expect:  # the client saw this statement succeed
                    return [_serialization_failure(number, cmd.base_index)], None
                results.append(StmtResult.failed(*error))
                return results, None
            if stmt.expect and result_digest(result) != stmt.expect:
                self._undo_entry()
                return [_serialization_failure(number, cmd.base_index)], None
            results.append(result)
            written |= self._auth.writes
        if savepoint:
            with self._auth.internal():
                self._conn.execute("RELEASE _raftsql_entry")
        return results, written

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
        """Replace the whole state with the snapshot at `path`; returns the new applied index.

        Checksums of our states still being hashed are waited for and dropped: the snapshot
        brings the checkpoints recorded by the node that made it."""
        release_write_lock(self.path)
        with self._lock:
            self._checksums.wait()
            self._checksums.forget(self._checksums.finished())
            self._seqs.clear()
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
            with self._auth.internal(), self._conn:
                self._upgrade_format()  # a snapshot of an older node
            self._applied, self.stored_engine_version = self._read_meta()
            self.schema_generation += 1
            return self._applied

    def flush(self) -> int:
        """Make everything applied so far durable and return that index. Raft log compaction up
        to index i must call this first (docs/transactions.md, "Durability").

        Safe on any thread while apply goes on, and it never takes the apply lock: the node
        calls it from its snapshot thread, and a Raft loop waiting on that lock through a
        checkpoint and two fsyncs is the stall snapshots are made in the background to avoid.
        The applied index is read first; every transaction up to it has committed (it is set
        after COMMIT). A PASSIVE checkpoint on a connection of its own never waits for readers
        or the writer; then both files are fsynced, which covers every committed frame: those
        still in the WAL (SQLite restarts the WAL only after a complete checkpoint, and with
        synchronous=NORMAL a checkpoint syncs the database file before that) and those already
        copied into the database file."""
        applied = self._applied
        conn = apsw.Connection(self.path, statementcachesize=0)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
        for name in (self.path + "-wal", self.path):
            if os.path.exists(name):
                fd = os.open(name, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        return applied

    def close(self) -> None:
        """Finish the checksums in flight, record them, and close."""
        with self._lock:
            self._drop_ahead()
            self._checksums.close()
            taken = self._checksums.finished()
            if taken:
                with self._auth.internal(), self._conn:
                    self._record_checkpoints(taken)
            self._checkpointer.close()
            self._conn.close()
        close_pool(self.path)  # idle interactive-transaction connections (txn.py)
