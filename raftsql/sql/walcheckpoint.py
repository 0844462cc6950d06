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
the WAL is at WAL_CATCH_UP_PAGES or more and the last checkpoint did not leave all of it copied
(commits came during it, or a reader was in the way), the state machine runs a PASSIVE
checkpoint itself right after its commit (`catch_up`), when no write is in progress, which
copies the rest: what the automatic checkpoint did at every threshold crossing, now only when
the thread fell behind. A single big commit (a bulk INSERT of 16 MB is 4,000 pages) takes the
WAL past that size at once, after a checkpoint that left it all copied: it is left to the
thread's next run. The writer used to copy it itself, holding the event loop for 0.15-0.3 s
(issue 8, fifteenth round in docs/benchmarks.md). At WAL_HARD_PAGES the writer catches up in
any case. Durability does not depend on checkpoints: the Raft log is replayed from the applied
index after a crash, and compaction calls StateMachine.flush first (docs/transactions.md,
"Durability").

The WAL is written back as it grows. With synchronous=NORMAL, commits leave the WAL's pages
dirty in the page cache, and a checkpoint begins by fsyncing the WAL: 4 MB written at once,
three times over on a machine whose three nodes checkpoint together, and every Raft log fsync
queued behind it. So every WAL_WRITEBACK_PAGES pages the writer has this thread ask the kernel
to start writing the WAL's dirty pages (sync_file_range, SYNC_FILE_RANGE_WRITE: it neither
waits for the writes nor flushes the disk's cache, and it commits no journal), and the
checkpoint's fsync finds little left to write. PostgreSQL bounds its own dirty data the same
way (checkpoint_flush_after, wal_writer_flush_after). The thread makes the call, not the
writer: it takes 0.2 ms at the median and waits for the disk's queue when that is full (up to
4 ms at 64 clients, 41 ms after a 16 MB commit), time the event loop would be held. Measured
at one client, the longest writes went from 32-40 ms (p99.9) to 11-13 ms (issue 8, sixteenth
round in docs/benchmarks.md). It is only a hint to the kernel: nothing depends on it for
durability, and where the call does not exist (not Linux) it is left out. Requests made while
one is pending are one call: each covers the whole file.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Callable

import apsw

log = logging.getLogger("raftsql.sql.walcheckpoint")

WAL_CHECKPOINT_PAGES = 1000
"""WAL size, in pages, past which a commit wakes the checkpointer (SQLite's default
wal_autocheckpoint)."""
WAL_CATCH_UP_PAGES = 4 * WAL_CHECKPOINT_PAGES
"""WAL size, in pages, past which the writer checkpoints after its commit (`catch_up`) when the
last checkpoint did not leave the whole WAL copied."""
WAL_HARD_PAGES = 4 * WAL_CATCH_UP_PAGES
"""WAL size, in pages, past which the writer checkpoints after its commit in any case."""
WAL_WRITEBACK_PAGES = 64
"""WAL growth, in pages (256 KiB), after which the writer has the thread start the kernel's
writeback of the WAL: PostgreSQL's checkpoint_flush_after. 16 and 256 pages did as well at one
client."""

_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback of the range's dirty pages


def _find_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's sync_file_range(fd, offset, nbytes, flags), or None where there is none. The
    os module has no binding for it; a ctypes call releases the GIL while it runs."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


sync_file_range = _find_sync_file_range()


class WalCheckpointer:
    """The checkpoint thread of one database file; `hook` goes to the writer's connection."""

    def __init__(self, path: str, pages: int = WAL_CHECKPOINT_PAGES,
                 catch_up_pages: int = WAL_CATCH_UP_PAGES,
                 hard_pages: int = WAL_HARD_PAGES,
                 writeback_pages: int = WAL_WRITEBACK_PAGES) -> None:
        self._path = path
        self._writeback_pages = writeback_pages
        self._written_back_at = 0  # the WAL's size, in pages, at the last writeback asked for
        self._wal_fd: int | None = None  # opened at the first writeback; -1: none possible
        self.writeback_requests = 0  # writebacks the writer asked the thread for (read by tests)
        self.writebacks = 0  # writebacks of the WAL the thread started (read by tests)
        self._writeback_due = False
        self._checkpoint_due = False
        self._pages = pages
        self._catch_up_pages = catch_up_pages
        self._hard_pages = hard_pages
        self.behind = False  # the thread fell behind: the writer should catch_up()
        self._wake = threading.Event()  # set after a *_due flag
        self._stopping = False
        self.checkpoints = 0  # completed PASSIVE checkpoint runs (read by tests)
        self._copied_all = True
        """The last checkpoint (the thread's run or the writer's catch-up) left the WAL wholly
        copied: it copied every frame there when it began, no reader was in the way, and
        nothing was committed during it. The writer's next commit then restarts the WAL, and
        what is in it after that is for the thread's next run."""
        self._running = False  # the thread's checkpoint is in progress
        self._overlapped = False  # a commit came during the thread's checkpoint in progress
        self.catch_ups = 0  # checkpoints the writer ran itself (catch_up; read by tests)
        self._thread: threading.Thread | None = None  # started when first needed

    def hook(self, _conn: apsw.Connection, _db: str, pages: int) -> int:
        """The writer's WAL hook: runs on the committing thread after each commit, so it only
        sets flags for the thread (and starts it the first time)."""
        if pages < self._written_back_at:  # the WAL restarted: it is rewritten from its start
            self._written_back_at = 0
        if pages - self._written_back_at >= self._writeback_pages:
            self._written_back_at = pages
            self.writeback_requests += 1
            self._writeback_due = True
            self._wake_thread()
        if self._running:  # the checkpoint in progress cannot copy this commit's frames
            self._overlapped = True
            self._copied_all = False
        if pages >= self._catch_up_pages and (
                self._stopping or not self._copied_all or pages >= self._hard_pages):
            self.behind = True
        if pages >= self._pages and not self._checkpoint_due:
            # Once per run: until the thread takes the flag the wake is pending, and while
            # the WAL stays past the threshold every commit would otherwise set the event again
            # (a lock and a notify each, and the GIL handed to the thread).
            self._checkpoint_due = True
            self._wake_thread()
        return apsw.SQLITE_OK

    def _wake_thread(self) -> None:
        if self._stopping:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()
        self._wake.set()

    def catch_up(self, conn: apsw.Connection) -> None:
        """On the writer's connection, between its transactions: a PASSIVE checkpoint, which
        can copy everything (no write is in progress) unless a reader needs the last frames,
        so that the next commit restarts the WAL. The caller lets its own statements past its
        authorizer."""
        self.behind = False
        copied_all = self._checkpoint(conn)
        if copied_all is not None:  # between transactions: nothing committed during it
            self.catch_ups += 1
            self._copied_all = copied_all

    def _start_writeback(self) -> None:
        """On the thread: ask the kernel to start writing the WAL's dirty pages, without
        waiting for the writes. Any failure (no such call, the file cannot be opened, the call
        refused) only turns this off: it is a hint, logged once."""
        if self._wal_fd is None:
            self._wal_fd = self._open_wal()
        fd = self._wal_fd
        if fd < 0:
            return
        assert sync_file_range is not None
        if sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:  # 0, 0: the whole file
            self._give_up(os.strerror(ctypes.get_errno()))
            return
        self.writebacks += 1

    def _open_wal(self) -> int:
        if sync_file_range is None:
            return -1
        try:  # a descriptor of its own: SQLite's is not reachable; the page cache is shared
            return os.open(self._path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._give_up(str(exc))
            return -1

    def _give_up(self, reason: str) -> None:
        log.warning("writeback of %s-wal not started (%s); not asked again", self._path, reason)
        self._close_wal()
        self._wal_fd = -1

    def _close_wal(self) -> None:
        if self._wal_fd is not None and self._wal_fd >= 0:
            os.close(self._wal_fd)
        self._wal_fd = None

    def close(self) -> None:
        """Stop the thread (after a checkpoint in progress) and close its connection."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._close_wal()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        conn = apsw.Connection(self._path, statementcachesize=0)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()  # a commit from now on wakes the next run
                if self._stopping:
                    return
                if self._writeback_due:
                    self._writeback_due = False
                    self._start_writeback()
                if not self._checkpoint_due:
                    continue
                self._checkpoint_due = False
                self._overlapped = False
                self._running = True  # from now on a commit's frames may come after its start
                copied_all = self._checkpoint(conn)
                self._running = False
                if copied_all is not None:
                    self.checkpoints += 1
                    self._copied_all = copied_all and not self._overlapped
        finally:
            conn.close()

    def _checkpoint(self, conn: apsw.Connection) -> bool | None:
        """One PASSIVE checkpoint: whether it copied every frame the WAL held when it began
        (SQLite reports busy, frames, frames copied); None when another one held the lock (the
        next commit asks again) or it failed (logged: the WAL only grows until one succeeds;
        the entries applied are committed either way)."""
        try:
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        except apsw.BusyError:
            return None
        except apsw.Error:
            log.exception("WAL checkpoint of %s failed", self._path)
            return None
        if busy:
            return None
        return bool(copied == frames)
