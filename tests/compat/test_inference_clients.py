"""Result-column types and names, and parameter types, as asyncpg sees them.

Source of truth: PostgreSQL 15's answers to the same statements through asyncpg 0.32
(fetchrow decodes by the RowDescription OIDs; parameters are encoded by the
ParameterDescription OIDs), captured against a throwaway PostgreSQL 15 for a client audit
(PGWIRE.md sections 4 and 5.1). A wrong OID shows up here as a str where PostgreSQL gives an
int, bool, Decimal or float, and a wrong name as a KeyError.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

pytestmark = pytest.mark.timeout(60)

# (query, expected record keys, expected values) as PostgreSQL 15 answers them
CASES = [
    ("select row_number() over () as r", ["r"], [1]),
    ("select count(*) over ()", ["count"], [1]),
    ("select row_number() over ()", ["row_number"], [1]),
    ("select bool_and(true)", ["bool_and"], [True]),
    ("select floor(2.5)", ["floor"], [Decimal("2")]),
    ("select floor(2.5::float8)", ["floor"], [2.0]),
    ("select x from generate_series(1, 2) as g(x)", ["x"], [1]),
    ("select sum(x) filter (where x > 0) from (values (1), (2)) v(x)", ["sum"], [3]),
    ("with t as (select 5::int as v) select v from t", ["v"], [5]),
    ("select (values (1))", ["column1"], [1]),
    ("select x, y from (values (1, 'a'), (2, 'b')) as v(x, y)", ["x", "y"], [1, "a"]),
    ("select 2^3", ["?column?"], [8.0]),
    ("select true and null", ["?column?"], [None]),
    ("select string_agg('a', ',')", ["string_agg"], ["a"]),
    ("select substr('abc', 1, 2), substring('abc', 1, 2)", ["substr", "substring"],
     ["ab", "ab"]),
    ("select position('b' in 'abc'), trim(' a '), lpad('a', 3, '*')",
     ["position", "btrim", "lpad"], [2, "a", "**a"]),
    ("select 1 union select 2.5 order by 1", ["?column?"], [Decimal("1")]),
]


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


@pytest.mark.parametrize(("sql", "keys", "values"), CASES)
def test_fetchrow_types_and_names(cluster, sql: str, keys: list[str],  # noqa: ANN001
                                  values: list[object]) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(cluster.dsn())
        try:
            row = await conn.fetchrow(sql)
        finally:
            await conn.close()
        assert row is not None
        assert list(row.keys()) == keys
        assert list(row.values()) == values
        assert [type(v) for v in row.values()] == [type(v) for v in values]

    run(main())


def test_extract_date_part_and_date_trunc(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await asyncpg.connect(cluster.dsn())
        try:
            row = await conn.fetchrow(
                "select extract(year from timestamp '2024-03-04 05:06:07.5') as y, "
                "extract(epoch from timestamp '2024-01-01 00:00:01.5'), "
                "date_part('year', timestamp '2024-03-04'), "
                "date_trunc('day', timestamp '2024-03-04 05:06:07')")
        finally:
            await conn.close()
        assert list(row.keys()) == ["y", "extract", "date_part", "date_trunc"]
        assert row["y"] == Decimal("2024") and isinstance(row["y"], Decimal)
        assert row["extract"] == Decimal("1704067201.500000")
        assert row["date_part"] == 2024.0 and isinstance(row["date_part"], float)
        assert str(row["date_trunc"]) == "2024-03-04 00:00:00"

    run(main())


def test_star_with_extra_column_and_window_over_table(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await asyncpg.connect(cluster.dsn())
        try:
            await conn.execute("CREATE TABLE inf1 (id integer PRIMARY KEY, name varchar(20), "
                               "n integer)")
            await conn.execute("INSERT INTO inf1 VALUES (1, 'a', 10)")
            row = await conn.fetchrow("select *, 1 as one from inf1")
            assert dict(row) == {"id": 1, "name": "a", "n": 10, "one": 1}
            row = await conn.fetchrow("select lag(n) over (order by id), "
                                      "rank() over (order by n), "
                                      "sum(n) over () from inf1")
            assert list(row.keys()) == ["lag", "rank", "sum"]
            assert list(row.values()) == [None, 1, 10]
        finally:
            await conn.close()

    run(main())


def test_parameter_types_let_asyncpg_send_ints_and_bools(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        conn = await asyncpg.connect(cluster.dsn())
        try:
            await conn.execute("CREATE TABLE inf2 (id serial PRIMARY KEY, name varchar(20), "
                               "n integer)")
            # PostgreSQL: [varchar, int4]; text would make asyncpg refuse the int
            await conn.execute("insert into inf2(name, n) select $1, $2", "a", 7)
            assert await conn.fetchval("select id from inf2 where (n, name) = ($1, $2)",
                                       7, "a") == 1
            assert await conn.fetchval("select case when $1 then 1 else 0 end", True) == 1
            assert await conn.fetchval("select not $1", False) is True
            assert await conn.fetchval("select abs($1)", -2) == 2.0
            stmt = await conn.prepare("select abs($1)")
            assert [p.name for p in stmt.get_parameters()] == ["float8"]
        finally:
            await conn.close()

    run(main())
