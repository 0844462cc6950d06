"""Prepared.final_columns: what a Describe reports, and the tuple the DataRow plan is kept for."""

from __future__ import annotations

from raftsql.pgwire import oids as o
from raftsql.server.inference import Column
from raftsql.server.portal import Prepared


def test_unknown_types_become_text_once() -> None:
    stmt = Prepared("SELECT $1", "sql", columns=(Column("a", None), Column("b", o.INT8)))
    cols = stmt.final_columns()
    assert cols == (Column("a", o.TEXT), Column("b", o.INT8)) and stmt.described
    assert stmt.final_columns() is cols


def test_known_types_keep_their_tuple() -> None:
    """A Describe of the portal comes with every execution (psycopg, pgbench): a new tuple each
    time would miss the DataRow plan remembered per columns tuple (portal._plan)."""
    columns = (Column("k", o.INT8), Column("v", o.TEXT))
    stmt = Prepared("SELECT k, v FROM kv", "sql", columns=columns)
    assert stmt.final_columns() is columns
    assert Prepared("BEGIN", "sql").final_columns() is None
