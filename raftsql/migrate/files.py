"""Migration files: ``NNNN_name.sql`` in the PostgreSQL dialect, an optional down section.

Layout of a file::

    -- migrate:up            (optional marker line)
    CREATE TABLE users (...);
    -- migrate:down
    DROP TABLE users;

The checksum covers the whole file (up and down), so any edit of an applied migration is
noticed; the fix is a new migration, not an edited one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from raftsql.sql.errors import SqlError
from raftsql.sql.rewrite.scan import leading_words, split

FILE_NAME = re.compile(r"^(\d+)_([A-Za-z0-9][A-Za-z0-9_\-]*)\.sql$")
DOWN_MARKER = re.compile(r"^\s*--\s*migrate:down\s*$", re.I | re.M)
UP_MARKER = re.compile(r"^\s*--\s*migrate:up\s*$", re.I | re.M)


class MigrationFileError(ValueError):
    """A migrations directory that cannot be used as it is (bad name, duplicate version)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    up: str
    down: str | None
    checksum: str

    @property
    def label(self) -> str:
        return self.path.stem


def parse(path: Path) -> Migration:
    m = FILE_NAME.match(path.name)
    if m is None:
        raise MigrationFileError(f"{path.name}: expected NNNN_name.sql")
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    parts = DOWN_MARKER.split(text)
    if len(parts) > 2:
        raise MigrationFileError(f"{path.name}: more than one '-- migrate:down' line")
    up = UP_MARKER.sub("", parts[0]).strip()
    down = parts[1].strip() if len(parts) == 2 else None
    if not up:
        raise MigrationFileError(f"{path.name}: the up section is empty")
    _check_no_transaction_control(path, up)
    if down:
        _check_no_transaction_control(path, down)
    return Migration(int(m.group(1)), m.group(2), path, up, down or None,
                     hashlib.sha256(raw).hexdigest())


_TXN_WORDS = {"BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT", "START", "SAVEPOINT", "RELEASE",
              "PREPARE"}


def _check_no_transaction_control(path: Path, section: str) -> None:
    """The runner wraps each migration in its own transaction; a COMMIT inside would end it
    early and break "all or nothing", so such files are refused. Statements are found with
    raftsql's quote-aware PostgreSQL splitter, so a CASE ... END or a string is not mistaken
    for one."""
    try:
        pieces = split(section)
    except SqlError:
        return  # the server reports the syntax error, with its position
    for piece in pieces:
        words = leading_words(piece.text, 2)
        if words and words[0] in _TXN_WORDS and (words[0] != "PREPARE" or words[1:] == [
                "TRANSACTION"]):
            raise MigrationFileError(
                f"{path.name}: remove {piece.original.strip()!r}: each migration already runs "
                "as one transaction")


def load(directory: str | Path) -> list[Migration]:
    """Every migration of the directory, by version; refuses duplicate versions."""
    root = Path(directory)
    if not root.is_dir():
        raise MigrationFileError(f"{root}: no such migrations directory")
    found = sorted((parse(p) for p in root.iterdir() if p.suffix == ".sql"),
                   key=lambda mig: mig.version)
    seen: dict[int, Migration] = {}
    for mig in found:
        if mig.version in seen:
            raise MigrationFileError(f"version {mig.version} is used by both "
                                     f"{seen[mig.version].path.name} and {mig.path.name}")
        seen[mig.version] = mig
    return found
