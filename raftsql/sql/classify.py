"""What a statement is (read, write, DDL, transaction control, session, forbidden) and the
result type of translation.

Why here: the frontend routes on the kind (reads run locally behind the lease/ReadIndex gate,
writes and DDL are proposed, transaction and session statements change session state) and
must refuse dangerous statements before they reach any SQLite connection. Transaction and
session statements are recognised from their leading words, without sqlglot: their grammar is
small and sqlglot does not parse all of it (RELEASE SAVEPOINT, START TRANSACTION ISOLATION ...).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from raftsql.sql import sqlstate
from raftsql.sql.errors import SqlError, unsupported
from raftsql.sql.rewrite.scan import Piece, leading_words


class StatementKind(enum.Enum):
    READ = "read"
    WRITE = "write"
    DDL = "ddl"
    TRANSACTION = "transaction"
    SESSION = "session"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class TxnAction:
    """BEGIN/COMMIT/ROLLBACK/SAVEPOINT x/RELEASE x/ROLLBACK TO x/SET TRANSACTION ...

    action: 'begin', 'commit', 'rollback', 'savepoint', 'release', 'rollback_to',
    'set_transaction'. `name` is the savepoint name; `isolation` e.g. 'serializable';
    `read_only` True/False when the statement says READ ONLY / READ WRITE."""

    action: str
    name: str | None = None
    isolation: str | None = None
    read_only: bool | None = None


@dataclass(frozen=True)
class SessionAction:
    """SET/SHOW/RESET/DISCARD/DEALLOCATE/LISTEN/UNLISTEN/VACUUM-like no-ops.

    action: 'set', 'show', 'reset', 'reset_all', 'discard_all', 'deallocate',
    'deallocate_all', 'listen', 'unlisten', 'noop'. For 'set', `value` is the value text as
    PostgreSQL would store it (quotes removed, list items joined by ', '), None for DEFAULT;
    `local` is True for SET LOCAL."""

    action: str
    name: str | None = None
    value: str | None = None
    local: bool = False


@dataclass(frozen=True)
class ColumnInfo:
    """A column declared by CREATE TABLE / ALTER TABLE ADD COLUMN."""

    name: str
    pg_type: str  # canonical PostgreSQL name, e.g. 'bigint', 'numeric(10,2)'
    oid: int
    sqlite_type: str  # what the SQLite DDL declares
    default: str | None = None  # the PostgreSQL default expression text, if any
    nondeterministic_default: bool = False


@dataclass(frozen=True)
class Translated:
    """One translated statement; see docs/sql.md for every field's contract."""

    kind: StatementKind
    sql: str  # SQLite SQL with '?' placeholders, in order
    param_order: tuple[int, ...]  # for each '?', the 0-based $n it binds
    nparams: int  # number of $n in the original (highest n)
    command_tag: str
    returns_rows: bool
    needs_fixing: bool  # contains now()/random()/gen_random_uuid()... calls
    original: str = ""  # the client's statement text
    json_params: frozenset[int] = frozenset()  # $n (0-based) bound as a JSON array
    table: str | None = None  # target table of DML/DDL
    insert_columns: tuple[str, ...] | None = None  # explicit INSERT column list
    insert_width: int | None = None  # values per INSERT row, when known
    columns: tuple[ColumnInfo, ...] = ()  # CREATE TABLE / ADD COLUMN
    txn: TxnAction | None = None
    session: SessionAction | None = None
    catalog_tables: tuple[str, ...] = ()  # pg_catalog / information_schema tables read
    rebuild_primary_key: tuple[str, ...] = ()  # ALTER TABLE ADD PRIMARY KEY: needs a rebuild
    # CREATE TRIGGER: the INSERTs of its body, (table, column list; None without one, () for
    # DEFAULT VALUES), checked against the leader's schema for defaults no node may compute
    trigger_inserts: tuple[tuple[str, tuple[str, ...] | None], ...] = ()


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*)'
_ISOLATION = re.compile(r"ISOLATION\s+LEVEL\s+(SERIALIZABLE|REPEATABLE\s+READ|READ\s+COMMITTED"
                        r"|READ\s+UNCOMMITTED)", re.I)
_FORBIDDEN_WORDS = {"ATTACH", "DETACH", "PRAGMA", "LOAD"}
_UNSUPPORTED_WORDS = {
    "COPY": "COPY", "GRANT": "GRANT", "REVOKE": "REVOKE", "LOCK": "LOCK TABLE",
    "NOTIFY": "NOTIFY", "DO": "DO", "CALL": "CALL", "CLUSTER": "CLUSTER", "REINDEX": "REINDEX",
    "CHECKPOINT": "CHECKPOINT", "PREPARE": "PREPARE", "EXECUTE": "EXECUTE", "FETCH": "FETCH",
    "DECLARE": "DECLARE CURSOR", "CLOSE": "CLOSE", "MOVE": "MOVE", "COMMENT": "COMMENT",
    "SECURITY": "SECURITY LABEL", "REFRESH": "REFRESH MATERIALIZED VIEW", "IMPORT": "IMPORT",
    "MERGE": "MERGE",
}


def _unquote_ident(text: str) -> str:
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def _txn_modes(text: str) -> tuple[str | None, bool | None]:
    iso = _ISOLATION.search(text)
    isolation = " ".join(iso.group(1).lower().split()) if iso else None
    upper = " ".join(text.upper().split())
    read_only = True if "READ ONLY" in upper else False if "READ WRITE" in upper else None
    return isolation, read_only


def _simple(kind: StatementKind, piece: Piece, tag: str, sql: str = "", *,
            txn: TxnAction | None = None, session: SessionAction | None = None,
            returns_rows: bool = False) -> Translated:
    return Translated(kind=kind, sql=sql, param_order=(), nparams=piece.nparams,
                      command_tag=tag, returns_rows=returns_rows, needs_fixing=False,
                      original=piece.original, txn=txn, session=session)


def _set_value(raw: str) -> str | None:
    """SET's value list as PostgreSQL stores it: quotes removed, items joined by ', '."""
    items = re.findall(r"'((?:[^']|'')*)'|([^,\s][^,]*)", raw)
    values = [q.replace("''", "'") if q or not b else b.strip() for q, b in items]
    if len(values) == 1 and values[0].upper() == "DEFAULT" and not raw.strip().startswith("'"):
        return None
    return ", ".join(values)


def _transaction(piece: Piece, words: list[str]) -> Translated | None:
    text = piece.text
    first = words[0]
    kind = StatementKind.TRANSACTION
    if first in ("BEGIN", "START"):
        if first == "START" and (len(words) < 2 or words[1] != "TRANSACTION"):
            raise SqlError(sqlstate.SYNTAX_ERROR, f'syntax error at or near "{words[0]}"')
        isolation, read_only = _txn_modes(text)
        tag = "BEGIN" if first == "BEGIN" else "START TRANSACTION"
        return _simple(kind, piece, tag, "BEGIN",
                       txn=TxnAction("begin", isolation=isolation, read_only=read_only))
    if first in ("COMMIT", "END"):
        if len(words) > 1 and words[1] == "PREPARED":
            raise unsupported("COMMIT PREPARED")
        return _simple(kind, piece, "COMMIT", "COMMIT", txn=TxnAction("commit"))
    if first in ("ROLLBACK", "ABORT"):
        m = re.match(r"\s*(?:ROLLBACK|ABORT)\s+(?:WORK\s+|TRANSACTION\s+)?TO\s+(?:SAVEPOINT\s+)?"
                     rf"({_IDENT})\s*$", text, re.I)
        if m:
            name = _unquote_ident(m.group(1))
            return _simple(kind, piece, "ROLLBACK", f'ROLLBACK TO "{name}"',
                           txn=TxnAction("rollback_to", name=name))
        if len(words) > 1 and words[1] == "PREPARED":
            raise unsupported("ROLLBACK PREPARED")
        return _simple(kind, piece, "ROLLBACK", "ROLLBACK", txn=TxnAction("rollback"))
    if first == "SAVEPOINT":
        m = re.match(rf"\s*SAVEPOINT\s+({_IDENT})\s*$", text, re.I)
        if not m:
            raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error in SAVEPOINT")
        name = _unquote_ident(m.group(1))
        return _simple(kind, piece, "SAVEPOINT", f'SAVEPOINT "{name}"',
                       txn=TxnAction("savepoint", name=name))
    if first == "RELEASE":
        m = re.match(rf"\s*RELEASE\s+(?:SAVEPOINT\s+)?({_IDENT})\s*$", text, re.I)
        if not m:
            raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error in RELEASE")
        name = _unquote_ident(m.group(1))
        return _simple(kind, piece, "RELEASE", f'RELEASE "{name}"',
                       txn=TxnAction("release", name=name))
    if first == "SET" and len(words) > 1 and words[1] == "TRANSACTION":
        isolation, read_only = _txn_modes(text)
        return _simple(kind, piece, "SET",
                       txn=TxnAction("set_transaction", isolation=isolation, read_only=read_only))
    if first == "SET" and words[1:3] == ["SESSION", "CHARACTERISTICS"]:
        # the modes of the session's later transactions: PostgreSQL's
        # default_transaction_read_only (every isolation level is serializable here)
        _, read_only = _txn_modes(text)
        action = SessionAction("noop", name="set") if read_only is None else SessionAction(
            "set", name="default_transaction_read_only", value="on" if read_only else "off")
        return _simple(StatementKind.SESSION, piece, "SET", session=action)
    if first == "PREPARE" and len(words) > 1 and words[1] == "TRANSACTION":
        raise unsupported("PREPARE TRANSACTION")
    return None


def _session(piece: Piece, words: list[str]) -> Translated | None:
    text = piece.text
    kind = StatementKind.SESSION
    first = words[0]
    if first == "SET":
        m = re.match(rf"\s*SET\s+(?:(SESSION|LOCAL)\s+)?({_IDENT}(?:\.{_IDENT})?)\s*(?:=|\bTO\b)\s*(.*?)\s*$",
                     text, re.I | re.S)
        if m:
            name = ".".join(_unquote_ident(p) for p in re.findall(_IDENT, m.group(2)))
            local = (m.group(1) or "").upper() == "LOCAL"
            return _simple(kind, piece, "SET", session=SessionAction(
                "set", name=name, value=_set_value(m.group(3)), local=local))
        m = re.match(r"\s*SET\s+(?:(SESSION|LOCAL)\s+)?TIME\s+ZONE\s+(.*?)\s*$", text, re.I | re.S)
        if m:
            return _simple(kind, piece, "SET", session=SessionAction(
                "set", name="timezone", value=_set_value(m.group(2)),
                local=(m.group(1) or "").upper() == "LOCAL"))
        m = re.match(r"\s*SET\s+(?:SESSION\s+|LOCAL\s+)?(?:SESSION\s+AUTHORIZATION|ROLE)\b", text, re.I)
        if m:
            raise unsupported("SET ROLE / SESSION AUTHORIZATION")
        raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error in SET")
    if first == "SHOW":
        m = re.match(rf"\s*SHOW\s+({_IDENT}(?:\.{_IDENT})?|TIME\s+ZONE|TRANSACTION\s+ISOLATION\s+LEVEL)\s*$",
                     text, re.I)
        if not m:
            raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error in SHOW")
        raw = " ".join(m.group(1).split())
        name = {"TIME ZONE": "timezone", "TRANSACTION ISOLATION LEVEL": "transaction_isolation"}.get(
            raw.upper(), ".".join(_unquote_ident(p) for p in re.findall(_IDENT, raw)))
        return _simple(kind, piece, "SHOW", session=SessionAction("show", name=name),
                       returns_rows=True)
    if first == "RESET":
        if words[1:2] == ["ALL"]:
            return _simple(kind, piece, "RESET", session=SessionAction("reset_all"))
        m = re.match(rf"\s*RESET\s+({_IDENT}(?:\.{_IDENT})?)\s*$", text, re.I)
        if not m:
            raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error in RESET")
        name = ".".join(_unquote_ident(p) for p in re.findall(_IDENT, m.group(1)))
        return _simple(kind, piece, "RESET", session=SessionAction("reset", name=name))
    if first == "DISCARD":
        if words[1:2] == ["ALL"]:
            return _simple(kind, piece, "DISCARD ALL", session=SessionAction("discard_all"))
        raise unsupported(f"DISCARD {' '.join(words[1:2])}".strip())
    if first == "DEALLOCATE":
        m = re.match(rf"\s*DEALLOCATE\s+(?:PREPARE\s+)?(ALL|{_IDENT})\s*$", text, re.I)
        if not m:
            raise SqlError(sqlstate.SYNTAX_ERROR, "syntax error in DEALLOCATE")
        if m.group(1).upper() == "ALL":
            return _simple(kind, piece, "DEALLOCATE ALL", session=SessionAction("deallocate_all"))
        return _simple(kind, piece, "DEALLOCATE", session=SessionAction(
            "deallocate", name=_unquote_ident(m.group(1))))
    if first in ("LISTEN", "UNLISTEN"):
        m = re.match(rf"\s*(?:UN)?LISTEN\s+(\*|{_IDENT})\s*$", text, re.I)
        if not m:
            raise SqlError(sqlstate.SYNTAX_ERROR, f"syntax error in {first}")
        name = m.group(1) if m.group(1) == "*" else _unquote_ident(m.group(1))
        return _simple(kind, piece, first, session=SessionAction(first.lower(), name=name))
    if first in ("VACUUM", "ANALYZE", "ANALYSE"):
        if re.search(r"\bINTO\b", text, re.I):
            raise SqlError(sqlstate.INSUFFICIENT_PRIVILEGE,
                           "VACUUM INTO writes a node-local file and is not allowed")
        tag = "VACUUM" if first == "VACUUM" else "ANALYZE"
        return _simple(kind, piece, tag, session=SessionAction("noop", name=tag.lower()))
    return None


def classify_prefix(piece: Piece) -> Translated | None:
    """Translate transaction/session statements and refuse forbidden/unsupported commands
    from their leading words; None means: parse it with sqlglot."""
    words = leading_words(piece.text, 4)
    if not words:
        return None
    first = words[0]
    if first in _FORBIDDEN_WORDS:
        raise SqlError(sqlstate.INSUFFICIENT_PRIVILEGE,
                       f"{first} is not allowed: it would make nodes diverge or touch node-local files")
    found = _transaction(piece, words) or _session(piece, words)
    if found is not None:
        return found
    if first in _UNSUPPORTED_WORDS:
        raise unsupported(_UNSUPPORTED_WORDS[first])
    return None


def classify(pg_sql: str) -> StatementKind:
    """The kind of the first statement in `pg_sql`; FORBIDDEN instead of raising 42501."""
    from raftsql.sql.translate import translate  # local import: translate imports this module

    try:
        return translate(pg_sql)[0].kind
    except SqlError as exc:
        if exc.sqlstate == sqlstate.INSUFFICIENT_PRIVILEGE:
            return StatementKind.FORBIDDEN
        raise
