"""raftsql: a Raft-replicated SQL database. SQLite on every node, Postgres clients on the wire."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``raftsql.connect`` and the rest of the embedded DB-API driver's module interface
    (PEP 249: the module globals, the exceptions, the type constructors), imported on first
    use so that ``import raftsql`` stays light."""
    if name.startswith("__"):  # tools probing for dunders need not load the driver
        raise AttributeError(f"module 'raftsql' has no attribute {name!r}")
    import importlib

    dbapi = importlib.import_module("raftsql.dbapi")  # `from raftsql import` would recurse here
    if name in dbapi.__all__:
        return getattr(dbapi, name)
    raise AttributeError(f"module 'raftsql' has no attribute {name!r}")
