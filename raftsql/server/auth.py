"""The users file and the choice of authentication method per user.

Format (docs/clients.md), one user per line, `#` comments and blank lines ignored:

    user:SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>     SCRAM-SHA-256 (recommended)
    user:md5<32 hex>                                            md5 (PostgreSQL's md5 secret)
    user:<plaintext password>                                   hashed to SCRAM at load
    user:<secret or password> <method>                          force md5 | password | scram-sha-256

Why this shape: the secrets are PostgreSQL's own pg_authid.rolpassword formats, so a secret
copied from a real server works, and a plaintext line is never kept as plaintext in memory
unless the `password` (cleartext) or `md5` method needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from raftsql.pgwire.auth import ScramSecret, md5_secret

METHODS = ("scram-sha-256", "md5", "password")


@dataclass(frozen=True)
class Credentials:
    """What the server needs to check one user's password with `method`."""

    method: str
    scram: ScramSecret | None = None
    md5: str | None = None
    password: str | None = None


class UsersFileError(ValueError):
    pass


def parse_line(line: str, lineno: int = 0) -> tuple[str, Credentials] | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    user, sep, rest = text.partition(":")
    if not sep or not user or not rest:
        raise UsersFileError(f"line {lineno}: expected user:secret")
    secret, _, method = rest.rpartition(" ") if " " in rest.strip() else (rest, "", "")
    secret, method = secret.strip(), method.strip().lower()
    if method and method not in METHODS:
        raise UsersFileError(f"line {lineno}: unknown method {method!r}")
    if secret.startswith("SCRAM-SHA-256$"):
        if method not in ("", "scram-sha-256"):
            raise UsersFileError(f"line {lineno}: a SCRAM secret allows only scram-sha-256")
        return user, Credentials("scram-sha-256", scram=ScramSecret.parse(secret))
    if len(secret) == 35 and secret.startswith("md5"):
        if method not in ("", "md5"):
            raise UsersFileError(f"line {lineno}: an md5 secret allows only md5")
        return user, Credentials("md5", md5=secret)
    method = method or "scram-sha-256"
    return user, Credentials(
        method,
        scram=ScramSecret.from_password(secret) if method == "scram-sha-256" else None,
        md5=md5_secret(user, secret) if method == "md5" else None,
        password=secret if method == "password" else None,
    )


class Users:
    """The loaded users file. `Users.trust()` (no file) accepts everyone without a password,
    which app.py allows only on loopback listeners."""

    def __init__(self, entries: dict[str, Credentials] | None) -> None:
        self._entries = entries

    @classmethod
    def trust(cls) -> Users:
        return cls(None)

    @classmethod
    def load(cls, path: Path) -> Users:
        entries: dict[str, Credentials] = {}
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            found = parse_line(line, n)
            if found is not None:
                entries[found[0]] = found[1]
        return cls(entries)

    @property
    def is_trust(self) -> bool:
        return self._entries is None

    def lookup(self, user: str) -> Credentials | None:
        """The user's credentials; None for an unknown user (who then fails SCRAM like a
        wrong password, so users cannot be enumerated)."""
        return None if self._entries is None else self._entries.get(user)
