"""raftsql: a Raft-replicated SQL database. SQLite on every node, Postgres clients on the wire."""

__version__ = "0.1.0"
