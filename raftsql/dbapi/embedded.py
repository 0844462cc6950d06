"""An embedded node: a ``NodeServer`` on a private asyncio loop in a background thread.

Why a thread of its own: DB-API calls are synchronous, but the node (Raft ticks, the Ready
loop, peer connections) must keep running between them, and the application may not have an
event loop at all. The driver owns one loop per embedded node; every call is handed to it with
``run_coroutine_threadsafe`` and the caller blocks on the result.

One node per data directory per process: connections to the same directory share it (reference
counted; the last close stops it). A second PROCESS is kept out by an exclusive ``flock`` on
``<data_dir>/raftsql.lock``, held for the node's lifetime, so the error is immediate and says
which process holds the directory (RocksDB would refuse too, but later and obscurely).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from raftsql.server.app import NodeServer, ServeOptions

T = TypeVar("T")

LOCK_NAME = "raftsql.lock"
START_TIMEOUT = 30.0
CALL_TIMEOUT = 120.0
"""Upper bound on one call: the node's own propose/read timeouts fire well before it."""


class DataDirLocked(RuntimeError):
    """Another process has the data directory open."""


class _DirLock:
    """An exclusive, non-blocking flock on a file in the data dir (released on close or on
    process death, so a kill -9 never leaves a stale lock behind)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / LOCK_NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise DataDirLocked(
                f"{data_dir} is in use by another process (pid {holder}); a raftsql data "
                "directory can be opened by one process at a time") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


class EmbeddedNode:
    """A started NodeServer and the loop thread that runs it."""

    def __init__(self, opts: ServeOptions, key: str) -> None:
        self.opts = opts
        self.key = key
        self.refs = 0
        self.closed = False
        self._lock = _DirLock(Path(opts.data_dir))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name=f"raftsql-node-{key}",
                                        daemon=True)
        self._thread.start()
        try:
            self.server = NodeServer(opts)
            self.call(self.server.start(), timeout=START_TIMEOUT)
        except BaseException:
            self._stop_loop()
            self._lock.release()
            raise

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def db(self) -> Any:
        return self.server.db

    @property
    def node(self) -> Any:
        return self.server.node

    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the node's loop and wait for it (from any other thread)."""
        if self.closed:
            coro.close()
            raise RuntimeError("the embedded node is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a DB-API call from inside the node's own event loop would "
                               "deadlock; use raftsql.dbapi.aio")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def wait_for_leader(self, timeout: float, *, self_only: bool = False) -> bool:
        """Poll until a leader is known (this node itself when ``self_only``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.node.leader_id
            if leader and (not self_only or leader == self.opts.node_id):
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.call(self.server.stop(), timeout=START_TIMEOUT)
        finally:
            self.closed = True
            self._stop_loop()
            self._lock.release()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


_registry: dict[str, EmbeddedNode] = {}
_registry_lock = threading.Lock()


def acquire(opts: ServeOptions) -> EmbeddedNode:
    """The process's node for ``opts.data_dir``: started on first use, shared afterwards."""
    key = os.path.realpath(opts.data_dir)
    with _registry_lock:
        node = _registry.get(key)
        if node is None:
            node = EmbeddedNode(opts, key)
            _registry[key] = node
        elif node.opts.node_id != opts.node_id or node.opts.peers != opts.peers:
            raise ValueError(f"{opts.data_dir} is already open in this process with another "
                             "node configuration")
        node.refs += 1
        return node


def release(node: EmbeddedNode) -> None:
    """Drop one reference; the last one stops the node and frees the directory."""
    with _registry_lock:
        node.refs -= 1
        if node.refs > 0:
            return
        _registry.pop(node.key, None)
    node.close()


@atexit.register
def _close_all() -> None:
    """Stop nodes whose connections were never closed, so RocksDB and SQLite shut cleanly."""
    with _registry_lock:
        nodes = list(_registry.values())
        _registry.clear()
    for node in nodes:
        with contextlib.suppress(Exception):
            node.close()
