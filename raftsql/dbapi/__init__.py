"""raftsql's embedded PEP 249 (DB-API 2.0) driver, shaped like ``sqlite3``.

``connect("path/to/data")`` runs a single-voter Raft group inside the application's process
(durable RocksDB log + SQLite state in that directory); ``connect(node={...})`` makes the
process a full member of a multi-node cluster, optionally serving the Postgres frontend too.
docs/dbapi.md is the user's guide.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from raftsql.dbapi import embedded
from raftsql.dbapi.connection import Connection, Cursor
from raftsql.dbapi.exceptions import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    SqliteDatatypeError,
    SqliteOperationalError,
    Warning,
)
from raftsql.dbapi.types import (
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
)
from raftsql.node.driver import NodeConfig
from raftsql.server.app import ServeOptions, parse_addr, parse_peers

apilevel = "2.0"
threadsafety = 2
"""Threads may share the module and connections: a lock per connection serialises its calls
(cursors of one connection are not isolated from each other, as in sqlite3)."""
paramstyle = "qmark"
"""``?`` (and sqlite3's ``?NNN``, ``:name``, ``@name``, ``$name``); with dialect="postgres",
PostgreSQL's ``$1``."""

SINGLE_NODE_TICK_MS = 20
SINGLE_NODE_ELECTION_TICK = 5
LEADER_TIMEOUT = 10.0


def _addr(value: Any) -> tuple[str, int]:
    if isinstance(value, str):
        return parse_addr(value)
    host, port = value
    return str(host), int(port)


def _options(node: Any) -> ServeOptions:
    """ServeOptions from a ServeOptions, a NodeConfig or a dict with node_id, data_dir,
    raft_listen, peers and optionally pg_listen, http_listen, users_file, tick_ms..."""
    if isinstance(node, ServeOptions):
        return node
    if isinstance(node, NodeConfig):
        node = {f.name: getattr(node, f.name) for f in fields(node)}
    if not isinstance(node, Mapping):
        raise InterfaceError("node= takes a dict, a NodeConfig or a ServeOptions")
    spec = dict(node)
    peers = spec.pop("peers")
    peers = parse_peers(peers) if isinstance(peers, str) else {
        int(k): _addr(v) for k, v in peers.items()}
    if "tick_interval" in spec:
        spec["tick_ms"] = int(spec.pop("tick_interval") * 1000)
    known = {f.name for f in fields(ServeOptions)}
    opts = ServeOptions(
        node_id=int(spec.pop("node_id")),
        data_dir=Path(spec.pop("data_dir")),
        raft_listen=_addr(spec.pop("raft_listen")),
        pg_listen=_addr(spec["pg_listen"]) if spec.get("pg_listen") else None,
        http_listen=_addr(spec["http_listen"]) if spec.get("http_listen") else None,
        peers=peers,
        **{k: v for k, v in spec.items() if k in known and k not in (
            "pg_listen", "http_listen") and v is not None},
    )
    opts.validate()
    return opts


def connect(database: str | os.PathLike[str] | None = None, *, dialect: str = "sqlite",
            read_consistency: str = "lease", isolation_level: str | None = "",
            node: Any = None, timeout: float = LEADER_TIMEOUT) -> Connection:
    """Open a connection.

    ``database`` is a directory (created if missing) holding a single-node group; or give
    ``node=`` to embed a member of a multi-node cluster. ``dialect`` is the SQL the
    application writes ("sqlite" or "postgres"); ``read_consistency`` is "lease",
    "linearizable" or "stale"; ``isolation_level`` None means autocommit, anything else
    sqlite3's implicit transactions. ``timeout`` bounds the wait for a single node to elect
    itself (a cluster member does not wait: its statements fail with OperationalError until
    the cluster has a leader).
    """
    if (database is None) == (node is None):
        raise InterfaceError("give either a data directory or node=, not both")
    if node is None:
        assert database is not None
        if os.fspath(database) == ":memory:":
            raise NotSupportedError("raftsql needs a directory for its durable log; "
                                    "use a temporary directory instead of :memory:")
        opts = ServeOptions(node_id=1, data_dir=Path(database), raft_listen=("127.0.0.1", 0),
                            pg_listen=None, http_listen=None, peers={1: ("127.0.0.1", 0)},
                            tick_ms=SINGLE_NODE_TICK_MS,
                            election_tick=SINGLE_NODE_ELECTION_TICK)
    else:
        try:
            opts = _options(node)
        except (KeyError, TypeError, ValueError) as e:
            raise InterfaceError(f"bad node= configuration: {e}") from None
    try:
        shared = embedded.acquire(opts)
    except embedded.DataDirLocked as e:
        raise OperationalError(str(e)) from None
    except ValueError as e:
        raise InterfaceError(str(e)) from None
    try:
        if node is None and not shared.wait_for_leader(timeout, self_only=True):
            raise OperationalError(f"the embedded node did not become leader in {timeout}s",
                                   "57P03")
        return Connection(shared, dialect=dialect, read_consistency=read_consistency,
                          isolation_level=isolation_level)
    except BaseException:
        embedded.release(shared)
        raise



__all__ = ["apilevel", "threadsafety", "paramstyle", "connect", "Connection", "Cursor",
           "Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
           "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
           "NotSupportedError", "SqliteOperationalError", "SqliteDatatypeError", "Binary", "Date",
           "Time", "Timestamp", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks",
           "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID"]
