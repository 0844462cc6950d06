"""`raftsql serve --check` validates the flags *and files* and exits (docs/operations.md): a
configuration it passes must start. A users file that is missing or malformed, or a port out
of range, passed `--check` and then failed the real start after the data directory had been
bootstrapped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _serve(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftsql.cli", "serve", "--node-id", "1", "--data-dir", str(data),
         "--raft-listen", "127.0.0.1:28900", "--peers", "1=127.0.0.1:28900", *extra],
        capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("start", [False, True], ids=["check", "start"])
@pytest.mark.parametrize("case", ["missing users file", "malformed users file", "port 99999"])
def test_bad_files_and_ports_fail_before_the_data_dir(tmp_path: Path, case: str,
                                                      start: bool) -> None:
    users = tmp_path / "users"
    users.write_text("garbage line\n")
    pg, flags = "127.0.0.1:28901", []
    if case == "missing users file":
        flags = ["--users-file", str(tmp_path / "nonexistent")]
    elif case == "malformed users file":
        flags = ["--users-file", str(users)]
    else:
        pg = "127.0.0.1:99999"
    data = tmp_path / "data"
    p = _serve(data, "--pg-listen", pg, *flags, *([] if start else ["--check"]))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr.startswith("raftsql serve: "), p.stderr
    assert not data.exists(), "nothing may be written before the configuration is valid"


def test_a_good_users_file_passes(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("alice:secret\n")
    p = _serve(tmp_path / "data", "--pg-listen", "127.0.0.1:28901", "--users-file", str(users),
               "--check")
    assert p.returncode == 0, p.stderr
    assert "is valid" in p.stdout
