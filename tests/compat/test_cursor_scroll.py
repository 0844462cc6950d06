"""Scrolling SQL cursors through psycopg 3 against a real 3-node cluster: named cursors'
``scroll(n, mode='relative'|'absolute')`` (psycopg sends ``MOVE [ABSOLUTE] n FROM "c"``),
``scrollable=True`` (``DECLARE .. SCROLL CURSOR``) and ``scrollable=False`` (NO SCROLL), and
raw FETCH/MOVE in every direction through ``execute``.

Source of truth: PostgreSQL 15.18 given the same statements; every expected row list and
command tag below is what it answered (psql -e transcript and psycopg, 2025 audit). The
position rules are PortalRunFetch/PortalRunSelect/DoPortalRewind in
src/backend/tcop/pquery.c; PGWIRE.md section 8 lists the cursor statements clients send.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

pytestmark = pytest.mark.timeout(60)

QUERY = "SELECT g FROM generate_series(1, 5) AS g"

# (statement on cursor c over 1..5, command tag, rows); one sequence, each step from the
# position the previous left (PostgreSQL 15.18)
SCROLL_TRANSCRIPT = [
    ("FETCH PRIOR FROM c", "FETCH 0", []),  # before the first row: nothing behind
    ("FETCH NEXT FROM c", "FETCH 1", [1]),
    ("FETCH PRIOR FROM c", "FETCH 0", []),
    ("FETCH FIRST FROM c", "FETCH 1", [1]),
    ("FETCH LAST FROM c", "FETCH 1", [5]),
    ("FETCH NEXT FROM c", "FETCH 0", []),  # after the last row
    ("FETCH PRIOR FROM c", "FETCH 1", [5]),  # from after-last, PRIOR is the last row
    ("FETCH ABSOLUTE 2 FROM c", "FETCH 1", [2]),
    ("FETCH ABSOLUTE -1 FROM c", "FETCH 1", [5]),
    ("FETCH ABSOLUTE 0 FROM c", "FETCH 0", []),  # before the first row
    ("FETCH ABSOLUTE 7 FROM c", "FETCH 0", []),  # after the last row
    ("FETCH PRIOR FROM c", "FETCH 1", [5]),
    ("FETCH ABSOLUTE -7 FROM c", "FETCH 0", []),  # before the first row
    ("FETCH NEXT FROM c", "FETCH 1", [1]),
    ("FETCH RELATIVE 2 FROM c", "FETCH 1", [3]),
    ("FETCH RELATIVE 0 FROM c", "FETCH 1", [3]),  # the current row again
    ("FETCH RELATIVE -1 FROM c", "FETCH 1", [2]),
    ("FETCH RELATIVE 10 FROM c", "FETCH 0", []),
    ("FETCH RELATIVE -10 FROM c", "FETCH 0", []),
    ("FETCH 2 FROM c", "FETCH 2", [1, 2]),
    ("FETCH -1 FROM c", "FETCH 1", [1]),
    ("FETCH BACKWARD 2 FROM c", "FETCH 0", []),
    ("FETCH FORWARD ALL FROM c", "FETCH 5", [1, 2, 3, 4, 5]),
    ("FETCH ALL FROM c", "FETCH 0", []),
    ("FETCH BACKWARD FROM c", "FETCH 1", [5]),
    ("FETCH FORWARD 0 FROM c", "FETCH 1", [5]),
    ("FETCH FORWARD -2 FROM c", "FETCH 2", [4, 3]),
    ("FETCH BACKWARD -2 FROM c", "FETCH 2", [4, 5]),
    ("FETCH c", "FETCH 0", []),
    ("MOVE BACKWARD ALL IN c", "MOVE 5", []),
    ("MOVE FORWARD ALL IN c", "MOVE 5", []),
    ("MOVE BACKWARD 2 IN c", "MOVE 2", []),
    ("MOVE 0 IN c", "MOVE 1", []),
    ("MOVE RELATIVE 0 IN c", "MOVE 1", []),
    ("MOVE ABSOLUTE 3 IN c", "MOVE 1", []),
    ("MOVE ABSOLUTE 9 IN c", "MOVE 0", []),
    ("MOVE LAST IN c", "MOVE 1", []),
    ("MOVE FIRST IN c", "MOVE 1", []),
    ("MOVE PRIOR IN c", "MOVE 0", []),
    ("MOVE 0 IN c", "MOVE 0", []),  # not on a row
    ("MOVE NEXT IN c", "MOVE 1", []),
    ("MOVE ALL IN c", "MOVE 4", []),
    ("MOVE -2 FROM c", "MOVE 2", []),
    ("FETCH - 1 FROM c", "FETCH 1", [3]),
    ("FETCH ABSOLUTE +2 FROM c", "FETCH 1", [2]),
]


@pytest.mark.parametrize("declare", ["DECLARE c CURSOR FOR", "DECLARE c SCROLL CURSOR FOR",
                                     "DECLARE c CURSOR WITH HOLD FOR"])
def test_fetch_and_move_in_every_direction(cluster, declare: str) -> None:  # noqa: ANN001
    with psycopg.connect(cluster.dsn()) as conn:
        conn.execute(f"{declare} {QUERY}")
        if "HOLD" in declare:
            conn.commit()  # a held cursor scrolls outside its transaction too
        for sql, tag, rows in SCROLL_TRANSCRIPT:
            cur = conn.execute(sql)
            assert cur.statusmessage == tag, sql
            got = [r[0] for r in cur.fetchall()] if sql.startswith("FETCH") else []
            assert got == rows, sql
        conn.execute("CLOSE c")


def test_named_cursor_scroll(cluster) -> None:  # noqa: ANN001
    """psycopg's ServerCursor.scroll(): MOVE [ABSOLUTE] n FROM "name" (the audit saw
    FeatureNotSupported: MOVE is not supported)."""
    with psycopg.connect(cluster.dsn()) as conn:
        for scrollable in (None, True):
            with conn.cursor("scroller", scrollable=scrollable) as cur:
                cur.execute(QUERY)
                assert cur.fetchmany(3) == [(1,), (2,), (3,)]
                cur.scroll(-2)  # MOVE -2: back onto row 1
                assert cur.fetchone() == (2,)
                cur.scroll(2, mode="absolute")  # MOVE ABSOLUTE 2: onto row 2
                assert cur.fetchall() == [(3,), (4,), (5,)]
                cur.scroll(0, mode="absolute")  # before the first row
                assert cur.fetchone() == (1,)
                cur.scroll(3)
                assert cur.fetchone() == (5,)
                cur.scroll(-5)  # past the first row: before it
                assert cur.fetchone() == (1,)
            conn.rollback()


def test_named_binary_cursor_scroll(cluster) -> None:  # noqa: ANN001
    """A FETCH through the extended protocol in binary after a MOVE."""
    with psycopg.connect(cluster.dsn()) as conn, \
            conn.cursor("bin", scrollable=True, binary=True) as cur:
        cur.execute("SELECT g, g::text AS t FROM generate_series(1, 4) AS g")
        cur.scroll(3, mode="absolute")
        assert cur.fetchall() == [(4, "4")]
        cur.scroll(-3)  # from after the last row: back over 4, 3, 2, onto row 2
        assert cur.fetchone() == (3, "3")


def test_no_scroll_cursor_refuses_to_go_back(cluster) -> None:  # noqa: ANN001
    """PostgreSQL 15.18: a NO SCROLL cursor (psycopg's scrollable=False, psql's FETCH_COUNT
    cursor) only goes forward: 55000 "cursor can only scan forward"; forward moves, ABSOLUTE
    ahead of the position and FIRST before the first fetch still work."""
    with psycopg.connect(cluster.dsn()) as conn:
        with conn.cursor("fwd", scrollable=False) as cur:
            cur.execute(QUERY)
            cur.scroll(1)
            assert cur.fetchone() == (2,)
            cur.scroll(4, mode="absolute")
            assert cur.fetchone() == (5,)
            with pytest.raises(errors.ObjectNotInPrerequisiteState) as info:
                cur.scroll(-1)
            assert info.value.diag.message_primary == "cursor can only scan forward"
            assert info.value.diag.message_hint == \
                "Declare it with SCROLL option to enable backward scan."
        conn.rollback()
        for sql in ("FETCH PRIOR FROM n", "FETCH ABSOLUTE 1 FROM n", "MOVE BACKWARD ALL IN n",
                    "FETCH 0 FROM n", "FETCH LAST FROM n"):
            conn.execute(f"DECLARE n NO SCROLL CURSOR FOR {QUERY}")
            conn.execute("FETCH 2 FROM n")
            with pytest.raises(errors.ObjectNotInPrerequisiteState):
                conn.execute(sql)
            conn.rollback()
        conn.execute(f"DECLARE n NO SCROLL CURSOR FOR {QUERY}")
        assert [r[0] for r in conn.execute("FETCH FIRST FROM n").fetchall()] == [1]
        assert conn.execute("MOVE 0 IN n").statusmessage == "MOVE 1"
        assert [r[0] for r in conn.execute("FETCH ABSOLUTE 4 FROM n").fetchall()] == [4]
        assert [r[0] for r in conn.execute("FETCH RELATIVE 1 FROM n").fetchall()] == [5]
        conn.rollback()
