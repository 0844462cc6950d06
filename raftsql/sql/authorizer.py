"""The SQLite authorizer on every raftsql connection: safety policy plus read/write tracking.

SQLite calls the authorizer once per action while it compiles a statement (sqlite.org/c3ref/
set_authorizer.html), including the bodies of triggers, views and foreign-key actions. We use
that single hook for two jobs:

1. Safety (ARCHITECTURE.md, "Determinism"): refuse what would make a node's database differ from
   its peers' or reach outside it: ATTACH/DETACH (VACUUM INTO arrives as an ATTACH of the target
   path), load_extension, writable PRAGMAs (temp_store_directory is how temp files get a path),
   TEMP objects (connection-local state a restarted node would not have), transaction control
   inside a replicated entry, writes to raftsql's own `_raftsql_*` tables, and, on connections
   whose statements are replicated, reads of those tables and functions whose value differs
   between nodes.
2. Tracking: which tables a statement reads (SQLITE_READ) and writes (INSERT/UPDATE/DELETE and
   DDL), for the optimistic transaction check and the per-table versions (docs/transactions.md).

A denied action makes SQLite fail the statement with a bare "not authorized"; the reason and its
SQLSTATE are kept in `denial` so the caller can report a clear error. A cached statement is not
compiled again, so the authorizer does not see it: a connection with a statement cache must
either need only the verdict (a denied statement never compiles, so it is never cached; SQLite
recompiles a cached one after a schema change, asking again) or call `settle(sql)` after each
statement, which keeps each compile's findings per SQL text and gives them back to a run that
was not compiled. Either way a client's statement must never find one of raftsql's own
statements compiled (they compile under `internal()`, past the policy): engine.run_cached
prepares client statements with their own flags, which apsw's cache keys on.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import apsw

INTERNAL_PREFIX = "_raftsql_"
SCHEMA_TABLE = "sqlite_master"  # the pseudo-table whose version moves on every DDL


class Profile(enum.Enum):
    """Which connection the authorizer guards; replicated profiles forbid node-local values."""

    APPLY = "apply"  # the state machine's writer: statements from the log
    TXN = "txn"  # an interactive transaction on the leader: statements that will be replayed
    READ = "read"  # a read-only query: its result goes to one client and is never replayed

    @property
    def replicated(self) -> bool:
        return self is not Profile.READ


# PRAGMAs that only read. Those taking a table/index name as argument are listed separately,
# because for the others an argument means "set".
READ_PRAGMAS_WITH_ARG = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)
READ_PRAGMAS_NO_ARG = READ_PRAGMAS_WITH_ARG | frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "database_list",
        "data_version",
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "journal_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "schema_version",
        "user_version",
    }
)

# Functions whose value differs between nodes or between a first run and a replay: random
# values, and per-connection counters (a restarted node's connection starts at zero).
# 'now'-based date functions cannot be told apart here (the argument is not visible); the
# translator rewrites them before proposal.
NONDETERMINISTIC_FUNCTIONS = frozenset(
    {"random", "randomblob", "changes", "total_changes", "last_insert_rowid"}
)
ALLOWED_VTABLE_MODULES = frozenset({"fts3", "fts4", "fts5", "rtree"})

_A = apsw
_TEMP_ACTIONS = frozenset(
    {
        _A.SQLITE_CREATE_TEMP_INDEX,
        _A.SQLITE_CREATE_TEMP_TABLE,
        _A.SQLITE_CREATE_TEMP_TRIGGER,
        _A.SQLITE_CREATE_TEMP_VIEW,
        _A.SQLITE_DROP_TEMP_INDEX,
        _A.SQLITE_DROP_TEMP_TABLE,
        _A.SQLITE_DROP_TEMP_TRIGGER,
        _A.SQLITE_DROP_TEMP_VIEW,
    }
)
_ROW_WRITES = frozenset({_A.SQLITE_INSERT, _A.SQLITE_UPDATE, _A.SQLITE_DELETE})
# DDL action -> which callback argument names the table it changes.
_DDL_TARGET_ARG = {
    _A.SQLITE_CREATE_TABLE: 1,
    _A.SQLITE_DROP_TABLE: 1,
    _A.SQLITE_CREATE_VIEW: 1,
    _A.SQLITE_DROP_VIEW: 1,
    _A.SQLITE_CREATE_VTABLE: 1,
    _A.SQLITE_DROP_VTABLE: 1,
    _A.SQLITE_ALTER_TABLE: 2,
    _A.SQLITE_CREATE_INDEX: 2,
    _A.SQLITE_DROP_INDEX: 2,
    _A.SQLITE_CREATE_TRIGGER: 2,
    _A.SQLITE_DROP_TRIGGER: 2,
}


FINDINGS_PER_CONNECTION = 512
"""SQL texts whose findings `settle` keeps (about the statement cache's size or more)."""


class Findings(NamedTuple):
    """What one compile of a statement showed: tables read and written, and whether it is a
    row write (INSERT/UPDATE/DELETE) or DDL."""

    reads: frozenset[str]
    writes: frozenset[str]
    row_write_seen: bool
    ddl_seen: bool


def _norm(name: str) -> str:
    name = name.lower()
    return SCHEMA_TABLE if name in ("sqlite_schema", "sqlite_master") else name


class Authorizer:
    """Callable installed with `conn.authorizer = Authorizer(profile)`.

    Call `reset()` before compiling a user statement; afterwards `reads`, `writes` and
    `denial` describe it. Wrap raftsql's own statements in `with auth.internal():`.
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.denial: tuple[str, str] | None = None
        self._row_write_seen = False
        self._ddl_seen = False
        self._internal = 0
        self._internal_scope = _InternalScope(self)
        self.compiled = False  # the authorizer was asked about the statement since reset()
        self._known: dict[str, Findings] = {}

    def reset(self) -> None:
        self.reads = set()
        self.writes = set()
        self.denial = None
        self._row_write_seen = False
        self._ddl_seen = False
        self.compiled = False

    def settle(self, sql: str) -> Findings | None:
        """After running ``sql`` on a connection with a statement cache: remember what its
        compile showed, or, when it was not compiled (a cached statement, compiled against the
        current schema, else SQLite would have recompiled it), take back what the compile
        that cached it showed. Returns the statement's findings (None if unknown or denied)."""
        if self.compiled:
            if self.denial is not None:
                self._known.pop(sql, None)
                return None
            found = Findings(
                frozenset(self.reads), frozenset(self.writes), self._row_write_seen,
                self._ddl_seen,
            )
            if sql not in self._known and len(self._known) >= FINDINGS_PER_CONNECTION:
                self._known.clear()  # a cached statement then is "unknown": callers cope
            self._known[sql] = found
            return found
        known = self._known.get(sql)
        if known is not None:
            self.reads = set(known.reads)
            self.writes = set(known.writes)
            self._row_write_seen = known.row_write_seen
            self._ddl_seen = known.ddl_seen
        return known

    def known(self, sql: str) -> Findings | None:
        """The findings of ``sql``'s last compile on this connection, if kept."""
        return self._known.get(sql)

    @property
    def dml(self) -> bool:
        """The statement is an INSERT/UPDATE/DELETE on a user table (not DDL)."""
        return self._row_write_seen and not self._ddl_seen

    def internal(self) -> _InternalScope:
        """Let raftsql's own statements through and keep them out of the tracked sets
        (``with auth.internal(): ...``; nests)."""
        return self._internal_scope

    def _deny(self, sqlstate: str, message: str) -> int:
        if self.denial is None:
            self.denial = (sqlstate, message)
        return apsw.SQLITE_DENY

    def __call__(
        self, op: int, p1: str | None, p2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if self._internal:
            return apsw.SQLITE_OK
        self.compiled = True
        if op in (apsw.SQLITE_ATTACH, apsw.SQLITE_DETACH):
            return self._deny(
                "0A000",
                "ATTACH, DETACH and VACUUM INTO are not supported: a node may only use its "
                "replicated database",
            )
        if op in _TEMP_ACTIONS:
            return self._deny(
                "0A000", "temporary tables, views, indexes and triggers are not supported"
            )
        if op in (apsw.SQLITE_TRANSACTION, apsw.SQLITE_SAVEPOINT):
            return self._deny(
                "0A000", "transaction control is handled by raftsql, not inside a statement"
            )
        if op == apsw.SQLITE_PRAGMA:
            return self._pragma((p1 or "").lower(), p2)
        if op == apsw.SQLITE_FUNCTION:
            return self._function((p2 or "").lower())
        if op == apsw.SQLITE_READ:
            if p1 and p1.lower().startswith(INTERNAL_PREFIX):
                return self._internal_read(p1)
            if p1:
                self.reads.add(_norm(p1))
            return apsw.SQLITE_OK
        if op in _ROW_WRITES:
            return self._row_write(p1 or "", trigger)
        if op in _DDL_TARGET_ARG:
            return self._ddl(op, p1 if _DDL_TARGET_ARG[op] == 1 else p2, p2)
        return apsw.SQLITE_OK

    def _internal_read(self, table: str) -> int:
        """raftsql's own tables hold node-local or batch-deferred values (apply.py writes
        sessions, table versions and applied_index once per batch, checkpoints whenever a
        background checksum finishes), so a replicated statement reading them could see
        different values on different nodes. Plain reads may look."""
        if not self.profile.replicated:
            return apsw.SQLITE_OK
        return self._deny(
            "42501", f"table {table} is internal to raftsql and cannot be read in a write"
        )

    def _pragma(self, name: str, arg: str | None) -> int:
        if name in READ_PRAGMAS_NO_ARG and (arg is None or name in READ_PRAGMAS_WITH_ARG):
            return apsw.SQLITE_OK
        return self._deny(
            "42501",
            f"PRAGMA {name} is not allowed: only read-only PRAGMAs are, settings are fixed by "
            "raftsql on every node",
        )

    def _function(self, name: str) -> int:
        if name == "load_extension":
            return self._deny("0A000", "load_extension() is not supported")
        if self.profile.replicated and name in NONDETERMINISTIC_FUNCTIONS:
            return self._deny(
                "0A000",
                f"{name}() gives different values on different nodes and cannot be used in a "
                "write or transaction",
            )
        return apsw.SQLITE_OK

    def _row_write(self, table: str, trigger: str | None) -> int:
        name = _norm(table)
        if name.startswith(INTERNAL_PREFIX):
            return self._deny("42501", f"table {table} is internal to raftsql and read-only")
        if name in (SCHEMA_TABLE, "sqlite_temp_master"):
            self.writes.add(SCHEMA_TABLE)
        elif not name.startswith("sqlite_"):  # sqlite_sequence/stat follow their own table
            self.writes.add(name)
            self._row_write_seen = self._row_write_seen or trigger is None
        return apsw.SQLITE_OK

    def _ddl(self, op: int, target: str | None, module: str | None) -> int:
        name = _norm(target or "")
        if name.startswith(INTERNAL_PREFIX):
            return self._deny("42501", f"{target} is internal to raftsql and cannot be changed")
        if op == apsw.SQLITE_CREATE_VTABLE and (module or "").lower() not in ALLOWED_VTABLE_MODULES:
            return self._deny("0A000", f"virtual table module {module} is not supported")
        if name:
            self.writes.add(name)
        self.writes.add(SCHEMA_TABLE)
        self._ddl_seen = True
        return apsw.SQLITE_OK


class _InternalScope:
    """The context manager `Authorizer.internal()` returns: a plain counter, not a generator
    (contextlib), because raftsql runs several of its own statements per client statement."""

    __slots__ = ("_auth",)

    def __init__(self, auth: Authorizer) -> None:
        self._auth = auth

    def __enter__(self) -> None:
        self._auth._internal += 1

    def __exit__(self, *exc: object) -> None:
        self._auth._internal -= 1
