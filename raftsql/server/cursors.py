"""SQL-level cursors: DECLARE ... CURSOR [WITH HOLD] FOR, FETCH, MOVE, CLOSE name|ALL.

Why: psycopg named cursors and psql's FETCH_COUNT use them, and PostgreSQL keeps them in the
same namespace as protocol portals (PGWIRE.md 3 and 11.7), so a cursor is a `Portal` here.

A cursor's rows are materialized when it is declared, so scrolling (PRIOR, FIRST, LAST,
ABSOLUTE, RELATIVE, BACKWARD, negative counts; psycopg's ``scroll()`` sends ``MOVE [ABSOLUTE]
n``) is index arithmetic. The position follows PostgreSQL 15's portal fields and
PortalRunFetch / PortalRunSelect / DoPortalRewind (src/backend/tcop/pquery.c) step by step:
``Portal.pos`` is ``portalPos`` (the 1-based row the cursor is on, 0 before the first) and
``extra["at_end"]`` is ``atEnd`` (after the last row; then pos is the row count), so the rows
returned and the counts in the FETCH/MOVE tags are PostgreSQL's.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from raftsql.server.portal import Portal, Prepared
from raftsql.sql.errors import SqlError

DECLARE_RE = re.compile(
    r"^\s*DECLARE\s+(?P<name>\"(?:[^\"]|\"\")+\"|\w+)\s+(?P<opts>(?:BINARY\s+|INSENSITIVE\s+|"
    r"ASENSITIVE\s+|NO\s+SCROLL\s+|SCROLL\s+)*)CURSOR\s+(?:(?P<hold>WITH|WITHOUT)\s+HOLD\s+)?"
    r"FOR\s+(?P<query>.*)$", re.IGNORECASE | re.DOTALL)
# a signed count, after a keyword: ABSOLUTE -1, RELATIVE+2, FORWARD 3
_COUNT = r"(?:\s+|(?=[+-]))[+-]?\s*\d+"
# PostgreSQL's fetch_args (gram.y): every direction of FETCH and MOVE
FETCH_RE = re.compile(
    r"^\s*(?P<verb>FETCH|MOVE)\s+(?:(?P<dir>NEXT|PRIOR|FIRST|LAST|"
    rf"(?:ABSOLUTE|RELATIVE){_COUNT}|(?:FORWARD|BACKWARD)(?:\s+ALL|{_COUNT})?|ALL|[+-]?\s*\d+)"
    r"\s+)?(?:(?:FROM|IN)\s+)?(?P<name>\"(?:[^\"]|\"\")+\"|\w+)\s*$", re.IGNORECASE)
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
        # Rows are materialized, so every cursor can scroll, as a PostgreSQL cursor whose plan
        # scans backward does; only NO SCROLL refuses (docs/sql.md)
        cursor.extra["no_scroll"] = re.search(r"\bNO\s+SCROLL\b", m.group("opts"), re.I) \
            is not None
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
    verb = m.group("verb").upper()
    kind, count = parse_direction(m.group("dir"))
    rows, moved = fetch(target, kind, count, is_move=verb == "MOVE")
    portal.tag = f"{verb} {moved}"
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


# PostgreSQL's FETCH_ALL (LONG_MAX): ALL is a count no cursor reaches
ALL = sys.maxsize
_Row = tuple[Any, ...]


def parse_direction(text: str | None) -> tuple[str, int]:
    """(FORWARD|BACKWARD|ABSOLUTE|RELATIVE, count) of a fetch direction, as gram.y's
    fetch_args builds a FetchStmt: NEXT is FORWARD 1, PRIOR BACKWARD 1, FIRST ABSOLUTE 1,
    LAST ABSOLUTE -1, a bare n FORWARD n, ALL FORWARD ALL."""
    words = (text or "NEXT").upper().replace("+", " +").replace("-", " -").split()
    head = words[0]
    number = int("".join(words[1:])) if len(words) > 1 and words[1] != "ALL" else None
    if head in ("NEXT", "PRIOR", "FIRST", "LAST"):
        return {"NEXT": ("FORWARD", 1), "PRIOR": ("BACKWARD", 1), "FIRST": ("ABSOLUTE", 1),
                "LAST": ("ABSOLUTE", -1)}[head]
    if head == "ALL":
        return "FORWARD", ALL
    if head in ("FORWARD", "BACKWARD"):
        return head, ALL if words[1:] == ["ALL"] else 1 if number is None else number
    if head in ("ABSOLUTE", "RELATIVE"):
        assert number is not None
        return head, number
    return "FORWARD", int("".join(words))


def _at_end(c: Portal) -> bool:
    # an Execute message may have moved pos since (Portal.take); atEnd implies pos == count
    return bool(c.extra.get("at_end")) and c.pos >= len(c.rows)


def _scan_forward_only() -> SqlError:
    return SqlError("55000", "cursor can only scan forward",
                    hint="Declare it with SCROLL option to enable backward scan.")


def _select(c: Portal, forward: bool, count: int) -> list[_Row]:
    """PortalRunSelect: up to `count` rows (ALL for all) forward or backward from here."""
    pos, at_end, n = c.pos, _at_end(c), len(c.rows)
    if forward:
        if at_end or count <= 0:
            return []
        got = list(c.rows[pos:pos + min(count, n - pos)])
        if count == ALL or len(got) < count:
            at_end = True
        c.pos, c.extra["at_end"] = pos + len(got), at_end
        return got
    if c.extra.get("no_scroll"):
        raise _scan_forward_only()
    if pos == 0 or count <= 0:  # atStart
        return []
    first = pos if at_end else pos - 1  # 1-based row a backward scan returns first
    got = [c.rows[i - 1] for i in range(first, first - min(count, first), -1)]
    if got and at_end:
        at_end, pos = False, pos + 1
    pos = 0 if count == ALL or len(got) < count else pos - len(got)
    c.pos, c.extra["at_end"] = pos, at_end
    return got


def _rewind(c: Portal) -> None:
    """DoPortalRewind: nothing to do (and no NO SCROLL error) before the first fetch."""
    if c.pos == 0 and not _at_end(c):
        return
    if c.extra.get("no_scroll"):
        raise _scan_forward_only()
    c.pos, c.extra["at_end"] = 0, False


def fetch(c: Portal, kind: str, count: int, *, is_move: bool) -> tuple[Sequence[_Row], int]:
    """PortalRunFetch: (rows a FETCH returns, the count its FETCH/MOVE tag reports)."""
    if kind in ("FORWARD", "BACKWARD") and count < 0:
        kind, count = "BACKWARD" if kind == "FORWARD" else "FORWARD", -count
    if kind == "ABSOLUTE":
        if count > 0:  # rewind, skip count-1 rows, return the next (from here if nearer)
            pos = c.pos
            if count - 1 <= pos // 2:
                _rewind(c)
                if count > 1:
                    _select(c, True, count - 1)
            else:
                if _at_end(c):
                    pos += 1
                if count <= pos:
                    _select(c, False, pos - count + 1)
                elif count > pos + 1:
                    _select(c, True, count - pos - 1)
            got = _select(c, True, 1)
        elif count < 0:  # to the end, back up -count-1 rows, return the prior one
            _select(c, True, ALL)
            if count < -1:
                _select(c, False, -count - 1)
            got = _select(c, False, 1)
        else:
            _rewind(c)
            got = []
        return got, len(got)
    if kind == "RELATIVE":
        if count != 0:
            forward = count > 0
            if abs(count) > 1:
                _select(c, forward, abs(count) - 1)
            got = _select(c, forward, 1)
            return got, len(got)
        kind = "FORWARD"
    forward = kind == "FORWARD"
    if count == 0:  # the current row again, if the cursor is on one
        on_row = c.pos > 0 and not _at_end(c)
        if is_move:
            return [], int(on_row)
        if on_row:
            _select(c, False, 1)
            count, forward = 1, True
    if not forward and count == ALL and is_move:
        moved = c.pos - (1 if c.pos > 0 and not _at_end(c) else 0)
        _rewind(c)
        return [], moved
    got = _select(c, forward, count)
    return got, len(got)
