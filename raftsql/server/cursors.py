"""SQL-level cursors: DECLARE ... CURSOR [WITH HOLD] FOR, FETCH, MOVE, CLOSE name|ALL.

Why: psycopg named cursors and psql's FETCH_COUNT use them, and PostgreSQL keeps them in the
same namespace as protocol portals (PGWIRE.md 3 and 11.7), so a cursor is a `Portal` here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from raftsql.server.portal import Portal, Prepared
from raftsql.sql.errors import SqlError

DECLARE_RE = re.compile(
    r"^\s*DECLARE\s+(?P<name>\"(?:[^\"]|\"\")+\"|\w+)\s+(?P<opts>(?:BINARY\s+|INSENSITIVE\s+|"
    r"ASENSITIVE\s+|NO\s+SCROLL\s+|SCROLL\s+)*)CURSOR\s+(?:(?P<hold>WITH|WITHOUT)\s+HOLD\s+)?"
    r"FOR\s+(?P<query>.*)$", re.IGNORECASE | re.DOTALL)
FETCH_RE = re.compile(
    r"^\s*(?P<verb>FETCH|MOVE)\s+(?:(?P<dir>NEXT|FORWARD\s+ALL|FORWARD\s+\d+|FORWARD|ALL|\d+)\s+)?"
    r"(?:(?:FROM|IN)\s+)?(?P<name>\"(?:[^\"]|\"\")+\"|\w+)\s*$", re.IGNORECASE)
CLOSE_RE = re.compile(r"^\s*CLOSE\s+(?P<name>ALL|\"(?:[^\"]|\"\")+\"|\w+)\s*$", re.IGNORECASE)


def unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()

if TYPE_CHECKING:
    from raftsql.server.session import PgSession


async def run_cursor(session: PgSession, stmt: Prepared, portal: Portal) -> None:
    text = stmt.sql
    m = DECLARE_RE.match(text)
    if m is not None:
        name = unquote(m.group("name"))
        hold = (m.group("hold") or "").upper() == "WITH"
        if session.dbs.txn is None and not hold:
            raise SqlError("25P01", "DECLARE CURSOR can only be used in transaction blocks")
        if name in session.portals:
            raise SqlError("42P03", f'cursor "{name}" already exists')
        inner = Prepared(m.group("query"), "sql", params=stmt.params, tree=stmt.tree,
                         translated=stmt.translated,
                         columns=stmt.answer.columns if stmt.answer else None)
        binary = "BINARY" in m.group("opts").upper()
        cursor = Portal(inner, portal.params, (1,) if binary else (), holdable=hold)
        await session.run_portal(cursor)
        session.portals[name] = cursor
        portal.tag = "DECLARE CURSOR"
        return
    m = CLOSE_RE.match(text)
    if m is not None:
        if m.group("name").upper() == "ALL":
            session.portals = {k: v for k, v in session.portals.items() if not k}
            portal.tag = "CLOSE CURSOR ALL"
            return
        name = unquote(m.group("name"))
        if session.portals.pop(name, None) is None:
            raise SqlError("34000", f'cursor "{name}" does not exist')
        portal.tag = "CLOSE CURSOR"
        return
    m = FETCH_RE.match(text)
    assert m is not None
    name = unquote(m.group("name"))
    target = session.portals.get(name)
    if target is None:
        raise SqlError("34000", f'target "{name}" does not exist')
    direction = " ".join((m.group("dir") or "NEXT").upper().split())
    count = -1 if direction in ("ALL", "FORWARD ALL") else 1 if direction in (
        "NEXT", "FORWARD") else int(direction.split()[-1])
    rows = target.take(count if count >= 0 else 0)
    verb = m.group("verb").upper()
    portal.tag = f"{verb} {len(rows)}"
    if verb == "FETCH":
        portal.columns = target.columns
        portal.rows = list(rows)
        # A FETCH through the extended protocol answers in the result formats of its own Bind
        # (psycopg's binary named cursors), which its RowDescription (Portal.row_description)
        # states too; a simple-query FETCH, which has no Bind, in the cursor's (DECLARE
        # BINARY), as PostgreSQL's exec_simple_query does. Only a Bind puts a portal in
        # session.portals.
        if not any(p is portal for p in session.portals.values()):
            portal.result_formats = target.result_formats
