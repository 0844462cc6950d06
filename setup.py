"""Build raftsql with its hot path compiled by mypyc (docs/design.md, "The compiled build").

The modules below are the leader's per-statement path: the Postgres session and codec, the
SQL engine, transaction and apply code, the node driver, the log store and the Raft core.
Compiled, they take 27% less CPU per pgbench transaction (docs/benchmarks.md, seventh round).
Everything else stays interpreted. RAFTSQL_PURE=1 builds the same package without compiling.
"""

import os

from setuptools import setup

COMPILED = [
    "raftsql/codec/frame.py",
    "raftsql/codec/records.py",
    "raftsql/node/ready.py",
    "raftsql/node/sqlsm.py",
    "raftsql/pgwire/backend.py",
    "raftsql/pgwire/connection.py",
    "raftsql/pgwire/frontend.py",
    "raftsql/server/portal.py",
    "raftsql/server/values.py",
    "raftsql/sql/apply.py",
    "raftsql/sql/authorizer.py",
    "raftsql/sql/command.py",
    "raftsql/sql/engine.py",
    "raftsql/sql/txn.py",
    "raftsql/storage/log_store.py",
]


def extensions() -> list:
    if os.environ.get("RAFTSQL_PURE"):
        return []
    from mypyc.build import mypycify

    return mypycify(COMPILED, opt_level="3")


setup(ext_modules=extensions())
