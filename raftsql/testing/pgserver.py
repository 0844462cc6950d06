"""A throwaway PostgreSQL server for tests and benchmarks: PgServer(start/stop/dsn).

Why: the SQL translation corpus is checked against a real PostgreSQL 15 (the reference
implementation, STYLE.md rule 11), and other suites (client compatibility, benchmarks) want
the same baseline. It runs initdb into a temp dir and starts `postgres` on 127.0.0.1 with a
free port; as root it runs both as an unprivileged user (PostgreSQL refuses to run as root).
stop() ends only the process it started, by PID.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from raftsql.testing.procs import free_port

BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/15/bin")
RUN_AS = "postgres"


def _find(binary: str) -> str | None:
    for directory in BIN_DIRS:
        path = Path(directory) / binary
        if path.exists():
            return str(path)
    return shutil.which(binary)


class PgServerUnavailable(RuntimeError):
    """PostgreSQL binaries are missing or the server did not come up."""


class PgServer:
    """`with PgServer() as pg: psycopg.connect(pg.dsn)`; database `postgres`, user `postgres`."""

    def __init__(
        self,
        *,
        start_timeout: float = 30.0,
        locale: str = "C.UTF-8",
        settings: dict[str, str] | None = None,
    ) -> None:
        """`locale` C.UTF-8: code point collation (as SQLite's BINARY) with Unicode case
        mapping for lower()/upper(). `settings` are extra `-c name=value` options given after
        the defaults, so they override them (a benchmark turns fsync back on)."""
        self.start_timeout = start_timeout
        self.settings = dict(settings or {})
        self.locale = locale
        self.port = 0
        self.datadir: Path | None = None
        self._tmp: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _demote(self) -> None:
        assert self._user is not None
        os.setgid(self._user.pw_gid)
        os.setuid(self._user.pw_uid)

    def _preexec(self) -> Callable[[], None] | None:
        return self._demote if self._user is not None else None

    def start(self) -> PgServer:
        initdb, postgres = _find("initdb"), _find("postgres")
        if initdb is None or postgres is None:
            raise PgServerUnavailable("initdb/postgres binaries not found")
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam(RUN_AS)
            except KeyError as exc:
                raise PgServerUnavailable(f"running as root and no {RUN_AS!r} user") from exc
        self._tmp = tempfile.mkdtemp(prefix="raftsql-pg-")
        self.datadir = Path(self._tmp) / "data"
        if self._user is not None:
            os.chown(self._tmp, self._user.pw_uid, self._user.pw_gid)
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        result = subprocess.run(
            [
                initdb,
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                f"--locale={self.locale}",
                "--no-sync",
            ],
            capture_output=True,
            env=env,
            timeout=120,
            preexec_fn=self._preexec(),
        )
        if result.returncode != 0:
            raise PgServerUnavailable(f"initdb failed: {result.stderr.decode()[-500:]}")
        self.port = free_port()  # below the ephemeral range (procs.PORT_RANGE)
        self._proc = subprocess.Popen(
            [
                postgres,
                "-D",
                str(self.datadir),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                self._tmp,
                "-c",
                "fsync=off",
                "-c",
                "TimeZone=UTC",
                "-c",
                "max_connections=20",
                "-c",
                "shared_buffers=16MB",
                *(arg for k, v in self.settings.items() for arg in ("-c", f"{k}={v}")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=self._preexec(),
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                self.stop()
                raise PgServerUnavailable(f"postgres exited: {err[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.3)  # accept() is up; give startup a moment to finish
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise PgServerUnavailable("postgres did not accept connections in time")

    @property
    def pid(self) -> int | None:
        """The postmaster's PID (benchmarks sum CPU and memory over its process tree)."""
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
