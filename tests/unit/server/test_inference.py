"""Parameter and result types/names of raftsql's inference against PostgreSQL 15's own
Describe answers for the same statements on the same table (differential test; the reference
is a throwaway real PostgreSQL, raftsql/testing/pgserver.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import psycopg
import pytest

from raftsql.server import inference
from raftsql.server.describe import Describer
from raftsql.sql.translate import translate
from raftsql.testing.pgserver import PgServer, PgServerUnavailable

DDL = ("CREATE TABLE t (id integer PRIMARY KEY, name varchar(20), amount numeric(10,2), "
       "ok boolean, at timestamptz, big bigint, f double precision, d date, b bytea)")

CASES = [
    "SELECT name FROM t WHERE id = $1",
    "SELECT id, name FROM t WHERE big > $1 AND ok = $2",
    "SELECT * FROM t WHERE at < $1",
    "INSERT INTO t (id, name, amount) VALUES ($1, $2, $3)",
    "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    "UPDATE t SET amount = $1, f = $2 WHERE id = $3",
    "DELETE FROM t WHERE name LIKE $1",
    "UPDATE t SET name = $1 WHERE name = $2",
    "SELECT count(*), sum(id), sum(amount), avg(id), max(name), min(at) FROM t",
    "SELECT id + 1, amount * 2, 1.5, 'x', true, NULL, 3000000000 FROM t",
    "SELECT $1::int, $2::text, $3::numeric(10,2), CAST($4 AS bigint)",
    "SELECT name FROM t ORDER BY id LIMIT $1 OFFSET $2",
    "SELECT id FROM t WHERE id IN ($1, $2) OR big BETWEEN $3 AND $4",
    "SELECT $1",
    "SELECT id AS \"Quoted\", name AS Folded, coalesce(name, 'x'), CASE WHEN ok THEN 1 ELSE 0 END FROM t",
    "INSERT INTO t (id, d, b) VALUES ($1, $2, $3) RETURNING id, d",
    "SELECT id FROM t WHERE $1 = name",
    "SELECT coalesce(at, $1), coalesce($2, big) FROM t",
    "SELECT id FROM t WHERE id = ANY($1) OR name = ANY($2)",
    "INSERT INTO t (id, name) VALUES ($1, $2), ($3, $4)",
    "UPDATE t SET big = big + $1 WHERE id = $2",
    "INSERT INTO t (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = $3",
    "SELECT CASE WHEN ok THEN $1 ELSE name END FROM t",
    "SELECT $1 + 1, $2 || 'x'",
    "SELECT upper(name), length(name), name || 'x', now(), current_date, 7 / 2 FROM t",
    "SELECT abs(f), round(amount, 1), id::text, CAST(id AS bigint), id > 1, NOT ok FROM t",
    "SELECT (SELECT max(id) FROM t), EXISTS (SELECT 1 FROM t), lower(name) AS l FROM t",
    "SELECT sum(f), sum(big), avg(amount), min(d), max(d) FROM t",
    "SELECT CURRENT_TIMESTAMP, now() AS n, now()",
    "SELECT t.id, u.name FROM t JOIN t AS u ON u.id = t.id WHERE u.amount > $1",
]


@pytest.fixture(scope="module")
def reference() -> Iterator[psycopg.Connection]:
    try:
        pg = PgServer().start()
    except PgServerUnavailable as exc:
        pytest.skip(f"no reference PostgreSQL: {exc}")
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(DDL)
            yield conn
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def describer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Describer]:
    path = Path(tmp_path_factory.mktemp("infer")) / "db.sqlite"
    conn = apsw.Connection(str(path))
    conn.execute(translate(DDL)[0].sql)
    conn.close()
    d = Describer(str(path))
    try:
        yield d
    finally:
        d.close()


def _postgres(conn: psycopg.Connection, sql: str) -> tuple[tuple[int, ...], list[tuple[str, int]]]:
    pgconn = conn.pgconn
    pgconn.prepare(b"", sql.encode())
    res = pgconn.describe_prepared(b"")
    params = tuple(res.param_type(i) for i in range(res.nparams))
    cols = [(res.fname(i).decode(), res.ftype(i)) for i in range(res.nfields)]
    return params, cols


def _ours(d: Describer, sql: str) -> tuple[tuple[int, ...], list[tuple[str, int]]]:
    t = translate(sql)[0]
    tree = inference.parse(sql)
    params = inference.infer_params(tree, t.nparams, (), d.table_columns)
    cols: list[tuple[str, int]] = []
    if t.returns_rows:
        desc = d.columns(t.sql, len(t.param_order))
        found = inference.describe_columns(tree, desc, params, d.table_columns)
        cols = [(c.name, c.oid if c.oid is not None else 25) for c in found]
    return params, cols


@pytest.mark.parametrize("sql", CASES)
def test_describe_matches_postgresql(reference: psycopg.Connection, describer: Describer,
                                     sql: str) -> None:
    assert _ours(describer, sql) == _postgres(reference, sql)
