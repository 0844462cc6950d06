"""raftsql: a Raft-replicated SQL database. SQLite on every node, Postgres clients on the wire."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``raftsql.connect`` is the embedded DB-API driver's connect, imported on first use so
    that ``import raftsql`` stays light."""
    if name == "connect":
        from raftsql.dbapi import connect

        return connect
    raise AttributeError(f"module 'raftsql' has no attribute {name!r}")
