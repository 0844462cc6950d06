"""WAL checkpoints of the state machine's database, on a thread of their own.

Why: SQLite's automatic checkpoint runs inside the COMMIT that finds the WAL past
`wal_autocheckpoint` pages (1000 by default), on the committing thread. Here that is the event
loop's thread, which applies log entries: it then copies pages into the database file and,
with synchronous=NORMAL, fsyncs both files, while no client statement and no Raft message is
handled. TPC-B at 16 clients checkpoints a few times a second (issue 8; docs/benchmarks.md,
"Eighth round").

So the apply connection gets a WAL hook instead of the automatic checkpoint (setting a hook
replaces it: sqlite.org/c3ref/wal_hook.html). SQLite calls the hook after each commit with the
WAL's size in pages; past the threshold it only wakes this thread, which runs a PASSIVE
checkpoint on a connection of its own. A PASSIVE checkpoint neither waits for nor blocks the
writer and the readers (sqlite.org/wal.html, "Checkpointing"); what it cannot copy yet (frames
a reader still needs, frames committed meanwhile) waits for the next one. As with the automatic
checkpoint, the writer restarts the WAL at its next commit once a checkpoint copied all of it
and no reader uses it, and journal_size_limit then cuts the file back.

A checkpoint that overlaps a commit cannot copy everything, and then the WAL cannot restart: under
a steady stream of commits the background thread alone could let it grow without bound. So when
the WAL is still at WAL_CATCH_UP_PAGES or more after a checkpoint run of the thread that began
once it got there, the state machine runs a PASSIVE checkpoint itself right after its commit
(`catch_up`), when no write is in progress: what the automatic checkpoint did at every threshold
crossing, now only when the thread fell behind. A single big commit (a bulk INSERT of 16 MB is
4,000 pages) takes the WAL past that size at once; the thread copies it, and the writer copies
only what was committed meanwhile. Before, the writer copied all of it itself, holding the event
loop for 0.3-0.5 s (issue 8, fifteenth round in docs/benchmarks.md). Durability does not
depend on checkpoints: the Raft log is replayed from the applied index after a crash, and
compaction calls StateMachine.flush first (docs/transactions.md, "Durability").
"""

from __future__ import annotations

import logging
import threading

import apsw

log = logging.getLogger("raftsql.sql.walcheckpoint")

WAL_CHECKPOINT_PAGES = 1000
"""WAL size, in pages, past which a commit wakes the checkpointer (SQLite's default
wal_autocheckpoint)."""
WAL_CATCH_UP_PAGES = 4 * WAL_CHECKPOINT_PAGES
"""WAL size, in pages, past which the writer checkpoints after its commit (`catch_up`) once the
thread had a run of its own at that size."""


class WalCheckpointer:
    """The checkpoint thread of one database file; `hook` goes to the writer's connection."""

    def __init__(self, path: str, pages: int = WAL_CHECKPOINT_PAGES,
                 catch_up_pages: int = WAL_CATCH_UP_PAGES) -> None:
        self._path = path
        self._pages = pages
        self._catch_up_pages = catch_up_pages
        self.behind = False  # the thread fell behind: the writer should catch_up()
        self._due = threading.Event()
        self._stopping = False
        self.checkpoints = 0  # completed PASSIVE checkpoint runs (read by tests)
        self._runs_started = 0  # the thread's checkpoint runs, one at a time
        self._runs_ended = 0  # of those, the ones that ended, having copied all or not
        self._runs_before_big: int | None = None
        """`_runs_started` when the WAL reached catch_up_pages (None: it is below); the thread
        has had its turn once `_runs_ended` passes it."""
        self._last_pages = 0  # the WAL's size at the last commit: smaller now, it restarted
        self.catch_ups = 0  # checkpoints the writer ran itself (catch_up; read by tests)
        self._thread: threading.Thread | None = None  # started when first needed

    def hook(self, _conn: apsw.Connection, _db: str, pages: int) -> int:
        """The writer's WAL hook: runs on the committing thread after each commit, so it only
        sets a flag (and starts the thread the first time)."""
        before_big = self._runs_before_big
        restarted = pages < self._last_pages
        self._last_pages = pages
        if pages < self._catch_up_pages:
            self._runs_before_big = None
        elif self._stopping:
            self.behind = True  # no thread to wait for
        elif before_big is None or restarted:
            self._runs_before_big = self._runs_started  # the thread's turn first
        elif self._runs_ended > before_big:
            self.behind = True
        if pages >= self._pages and not self._stopping:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wal-checkpoint", daemon=True)
                self._thread.start()
            self._due.set()
        return apsw.SQLITE_OK

    def catch_up(self, conn: apsw.Connection) -> None:
        """On the writer's connection, between its transactions: a PASSIVE checkpoint, which
        can copy everything (no write is in progress) unless a reader needs the last frames,
        so that the next commit restarts the WAL. The caller lets its own statements past its
        authorizer."""
        self.behind = False
        self._runs_before_big = None
        if self._checkpoint(conn):
            self.catch_ups += 1

    def close(self) -> None:
        """Stop the thread (after a checkpoint in progress) and close its connection."""
        self._stopping = True
        self._due.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        conn = apsw.Connection(self._path, statementcachesize=0)
        try:
            while True:
                self._due.wait()
                self._due.clear()  # a commit from now on wakes the next run
                if self._stopping:
                    return
                self._runs_started += 1
                if self._checkpoint(conn):
                    self.checkpoints += 1
                self._runs_ended += 1
        finally:
            conn.close()

    def _checkpoint(self, conn: apsw.Connection) -> bool:
        """One PASSIVE checkpoint; False when another one held the lock (the next commit asks
        again) or it failed (logged: the WAL only grows until one succeeds; the entries
        applied are committed either way)."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            return True
        except apsw.BusyError:
            return False
        except apsw.Error:
            log.exception("WAL checkpoint of %s failed", self._path)
            return False
