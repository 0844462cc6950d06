"""Opening SQLite connections the one way raftsql uses them (apsw, pinned engine).

Why one function: every connection must have the same settings or nodes diverge in subtle ways
(foreign keys off on one connection, a helper function missing on another). apsw bundles its
own SQLite, so the engine version is part of the build; `ENGINE_VERSION` is recorded in each
database (see apply.py) so a data file written by another engine is noticed.
"""

from __future__ import annotations

import datetime as dt

import apsw

from raftsql.sql import functions
from raftsql.sql.authorizer import Authorizer, Profile

ENGINE_VERSION: str = apsw.sqlite_lib_version()
BUSY_TIMEOUT_MS = 5000


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_connection(
    path: str, profile: Profile, *, authorizer: Authorizer | None = None,
    statement_cache: int = 0,
) -> tuple[apsw.Connection, Authorizer]:
    """A configured connection and its authorizer.

    Statement caching is off by default so the authorizer sees every statement compiled (a
    cached one would skip it, and the apply and transaction paths read what it tracked). A
    caller that needs only the authorizer's verdict may ask for a cache (`statement_cache`
    statements): a denied statement never compiles, so it is never cached, and SQLite
    recompiles a cached one after a schema change, asking the authorizer again. Only READ
    connections get a real clock for now()/random(): on replicated profiles those functions
    raise, because a write must carry fixed values (functions.py).
    """
    conn = apsw.Connection(path, statementcachesize=statement_cache)
    conn.enable_load_extension(False)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    # can_cache=False: a client sending the same text must not find it compiled (authorizer.py)
    conn.execute("PRAGMA foreign_keys=ON", can_cache=False)
    if profile is Profile.READ:
        conn.execute("PRAGMA query_only=ON", can_cache=False)
    functions.register(conn, clock=None if profile.replicated else _utc_now)
    auth = authorizer if authorizer is not None else Authorizer(profile)
    conn.authorizer = auth
    return conn, auth
