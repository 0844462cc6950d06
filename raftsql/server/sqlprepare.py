"""SQL-level PREPARE name [(types)] AS statement and EXECUTE name [(args)].

Why: they share the prepared-statement namespace with the protocol's Parse (PostgreSQL 15
docs, PREPARE: "prepared statements ... last for the duration of the current session"), so
they are stored in the session's statement table like a named Parse; EXECUTE's arguments are
literals, bound in text format by the statement's parameter types.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from raftsql.pgwire import oids as o
from raftsql.server.portal import Portal, Prepared
from raftsql.server.values import param_value
from raftsql.sql import pgtypes
from raftsql.sql.errors import SqlError

if TYPE_CHECKING:
    from raftsql.server.session import PgSession

_NAME = r'(?P<name>"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
PREPARE_RE = re.compile(rf"^\s*PREPARE\s+{_NAME}\s*(?:\((?P<types>[^)]*)\))?\s+AS\s+(?P<body>.+)$",
                        re.IGNORECASE | re.DOTALL)
EXECUTE_RE = re.compile(rf"^\s*EXECUTE\s+{_NAME}\s*(?:\((?P<args>.*)\))?\s*$",
                        re.IGNORECASE | re.DOTALL)


def _name(raw: str) -> str:
    return raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()


def split_args(text: str) -> list[str]:
    """Top-level comma-separated items (quotes and parentheses respected)."""
    items, depth, cur, quote = [], 0, [], ""
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur).strip())
    return items


def literal(text: str) -> bytes | None:
    """A literal argument's text form: NULL, 'string' (E'' too), or a bare number/word; a
    trailing ::type cast is dropped (the parameter's type decides)."""
    text = re.sub(r"::\s*[\w ]+(?:\([^)]*\))?\s*$", "", text.strip()) if not text.strip(
        ).endswith("'") else text.strip()
    if text.upper() == "NULL":
        return None
    if text[:2].upper() == "E'" and text.endswith("'"):
        return text[2:-1].replace("''", "'").encode().decode("unicode_escape").encode()
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'").encode()
    return text.encode()


def is_sql_prepare(text: str) -> bool:
    return bool(PREPARE_RE.match(text) or EXECUTE_RE.match(text))


async def run(session: PgSession, stmt: Prepared, portal: Portal) -> None:
    m = PREPARE_RE.match(stmt.sql)
    if m is not None:
        name = _name(m.group("name"))
        if name in session.statements:
            raise SqlError("42P05", f'prepared statement "{name}" already exists')
        types = split_args(m.group("types") or "")
        oids = []
        for t in types:
            found = pgtypes.lookup(t)
            oids.append(found.oid if found is not None else o.TEXT)
        session.statements[name] = await session.prepare(m.group("body"), tuple(oids))
        portal.tag = "PREPARE"
        return
    m = EXECUTE_RE.match(stmt.sql)
    assert m is not None
    name = _name(m.group("name"))
    target = session.statements.get(name)
    if target is None:
        raise SqlError("26000", f'prepared statement "{name}" does not exist')
    args = split_args(m.group("args") or "")
    if len(args) != len(target.params):
        raise SqlError("42601", f'wrong number of parameters for prepared statement "{name}"',
                       detail=f"Expected {len(target.params)} parameters but got {len(args)}.")
    values = [param_value(oid, literal(a), 0) for oid, a in
              zip(target.params, args, strict=True)]
    inner = Portal(target, values)
    await session.run_portal(inner)
    portal.columns, portal.rows, portal.tag = inner.columns, inner.rows, inner.tag
