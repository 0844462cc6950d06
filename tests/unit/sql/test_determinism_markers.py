"""determinism._fix_markers: nondeterministic calls become '?' with values chosen once on the
leader, merged with the client's parameters in '?' order, whatever the template cache holds.

Source of truth: ARCHITECTURE.md "Determinism" (a replicated write carries fixed values for
now()/random(), every node computes the same row) and SQLite's positional '?' binding
(sqlite.org/lang_expr.html#varparam: '?' parameters are numbered left to right).
"""

from __future__ import annotations

import datetime as dt
import random

import apsw

from raftsql.sql import functions
from raftsql.sql.determinism import SqliteSchemaInfo, _fix_markers, fix_nondeterminism
from raftsql.sql.translate import translate

NOW = dt.datetime(2024, 2, 29, 12, 30, 45, 123456, tzinfo=dt.UTC)


def test_fixed_values_interleave_with_client_parameters() -> None:
    sql = ("INSERT INTO t VALUES (?, pg_now(), ?, pg_random(), 'pg_now() ?', \"?\", "
           "pg_randomblob(?), pg_current_date())")
    for _ in range(2):  # the second call is served from the template cache
        text, params = _fix_markers(sql, ["a", "b", 16], NOW, 77)
        assert text == ("INSERT INTO t VALUES (?, ?, ?, pg_fixed_random(?), 'pg_now() ?', "
                        "\"?\", pg_fixed_randomblob(?, ?), ?)")
        assert params == ["a", "2024-02-29 12:30:45.123456+00", "b", 77, 77, 16, "2024-02-29"]


def test_same_text_different_values() -> None:
    """The cache holds the text and slots, never values: a later call gets its own clock,
    seed and parameters."""
    sql = "UPDATE t SET at = pg_localtimestamp(), r = pg_random() WHERE id = ?"
    later = NOW + dt.timedelta(seconds=1)
    assert _fix_markers(sql, [1], NOW, 5)[1] == ["2024-02-29 12:30:45.123456", 5, 1]
    assert _fix_markers(sql, [2], later, 6)[1] == ["2024-02-29 12:30:46.123456", 6, 2]


def _run(conn: apsw.Connection, rng: random.Random, pg: str) -> None:
    (t,) = translate(pg)
    sql, bound = fix_nondeterminism(t, [], now=NOW, rng=rng, schema=SqliteSchemaInfo(conn))
    conn.execute(sql, bound)


def test_defaults_and_written_random_calls_draw_different_values() -> None:
    """PostgreSQL evaluates each random() call on its own: a column's DEFAULT random() and a
    random() written in the same INSERT differ (the defaults have a seed of their own), and
    every node, given the same leader's seed, stores the same values."""
    rows = []
    for _node in range(2):
        conn = apsw.Connection(":memory:")
        functions.register(conn)
        rng = random.Random(1)
        _run(conn, rng, "CREATE TABLE t (a REAL, b REAL DEFAULT random(), c REAL)")
        _run(conn, rng, "INSERT INTO t (a) VALUES (random()), (random())")
        _run(conn, rng, "INSERT INTO t (a, c) SELECT random(), random()")
        rows.append(list(conn.execute("SELECT a, b, c FROM t")))
    assert rows[0] == rows[1]
    values = [v for row in rows[0] for v in row if v is not None]
    assert len(values) == 7 and len(set(values)) == 7
