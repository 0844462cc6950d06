"""Real clients reading the catalog of a real raftsql cluster, compared with PostgreSQL 15.

Source of truth: the same client call against a real PostgreSQL 15 (raftsql.testing.pgserver)
holding the same schema, created by the role `raftsql` in the database `raftsql` so owner and
database names match; what must differ is normalised: `\\l` and `\\du` keep only raftsql's own
rows (PostgreSQL also lists its templates and the bootstrap role). PGWIRE.md section 9 lists the
calls (psql describe.c, SQLAlchemy postgresql/base.py, psycopg _typeinfo.py, alembic
runtime/migration.py).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest

pytest.importorskip("raftsql.server.frontend")
sqlalchemy = pytest.importorskip("sqlalchemy")
psycopg = pytest.importorskip("psycopg")

from compat_cluster import Cluster  # noqa: E402

from raftsql.testing.pgserver import PgServer, PgServerUnavailable  # noqa: E402

SCHEMA = """
CREATE TABLE t_parent (id SERIAL PRIMARY KEY, name VARCHAR(30) NOT NULL DEFAULT 'none',
    tag text UNIQUE, price numeric(10,2), ts timestamp, f double precision,
    b boolean DEFAULT true, n integer DEFAULT 0);
CREATE TABLE t_child (id SERIAL PRIMARY KEY, parent_id integer REFERENCES t_parent(id),
    x integer, CONSTRAINT ck CHECK (x > 0));
CREATE INDEX t_child_x_idx ON t_child (x);
CREATE VIEW v AS SELECT id, name FROM t_parent;
"""
PSQL = shutil.which("psql")


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    """A PostgreSQL 15 with role and database `raftsql` holding SCHEMA; yields its DSN."""
    try:
        server = PgServer().start()
    except PgServerUnavailable as exc:
        pytest.skip(f"no PostgreSQL 15: {exc}")
    try:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE ROLE raftsql SUPERUSER LOGIN")
            conn.execute("CREATE DATABASE raftsql OWNER raftsql")
        dsn = f"host=127.0.0.1 port={server.port} user=raftsql dbname=raftsql"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield dsn
    finally:
        server.stop()


@pytest.fixture(scope="module")
def raft(cluster: Cluster) -> str:
    dsn = cluster.dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in filter(str.strip, SCHEMA.split(";")):
            conn.execute(stmt)
    return dsn


def psql(dsn: str, command: str, *extra: str) -> str:
    assert PSQL is not None
    done = subprocess.run([PSQL, "-X", *extra, "-c", command, dsn], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert not done.stderr, done.stderr
    return done.stdout


def to_uri(dsn: str) -> str:
    """A libpq URI for a key=value DSN (URIs pass through)."""
    if dsn.startswith("postgresql://"):
        return dsn
    parts = dict(p.split("=", 1) for p in dsn.split())
    return f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"


def sa_url(dsn: str, driver: str = "psycopg") -> str:
    return to_uri(dsn).replace("postgresql://", f"postgresql+{driver}://")


@pytest.mark.skipif(PSQL is None, reason="psql not installed")
@pytest.mark.parametrize("command", ["\\d", "\\dt", "\\d t_parent", "\\d t_child", "\\di",
                                     "\\dv", "\\dn", "\\d v"])
def test_psql_describe_output_is_postgresqls(pg: str, raft: str, command: str) -> None:
    assert psql(raft, command) == psql(to_uri(pg), command)


@pytest.mark.skipif(PSQL is None, reason="psql not installed")
@pytest.mark.parametrize("command", ["\\l", "\\du"])
def test_psql_databases_and_roles(pg: str, raft: str, command: str) -> None:
    def own_rows(out: str) -> list[str]:
        lines = out.splitlines()
        return [lines[0]] + [ln for ln in lines[1:] if ln.startswith("raftsql|")]

    unaligned = ("-A", "-F", "|")
    assert own_rows(psql(raft, command, *unaligned)) == own_rows(
        psql(to_uri(pg), command, *unaligned))


def _inspect(url: str) -> dict[str, object]:
    engine = sqlalchemy.create_engine(url)
    try:
        insp = sqlalchemy.inspect(engine)
        cols = [(c["name"], str(c["type"]), c["nullable"], c["default"], c["autoincrement"])
                for c in insp.get_columns("t_parent")]
        return {
            "tables": sorted(insp.get_table_names()),
            "views": insp.get_view_names(),
            "columns": cols,
            "pk": insp.get_pk_constraint("t_parent"),
            "fks": insp.get_foreign_keys("t_child"),
            "indexes": insp.get_indexes("t_child"),
            "uniques": insp.get_unique_constraints("t_parent"),
            "checks": insp.get_check_constraints("t_child"),
            "has": (insp.has_table("t_parent"), insp.has_table("nope")),
        }
    finally:
        engine.dispose()


def test_sqlalchemy_psycopg_inspector_matches_postgresql(pg: str, raft: str) -> None:
    assert _inspect(sa_url(raft)) == _inspect(sa_url(pg))


def test_sqlalchemy_asyncpg_inspector(raft: str) -> None:
    pytest.importorskip("asyncpg")
    pytest.importorskip("greenlet")
    from sqlalchemy.ext.asyncio import create_async_engine

    async def main() -> dict[str, object]:
        engine = create_async_engine(sa_url(raft, "asyncpg"))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda c: {
                    "tables": sorted(sqlalchemy.inspect(c).get_table_names()),
                    "pk": sqlalchemy.inspect(c).get_pk_constraint("t_parent")["constrained_columns"],
                    "indexes": [i["name"] for i in sqlalchemy.inspect(c).get_indexes("t_child")],
                })
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == {"tables": ["t_child", "t_parent"], "pk": ["id"],
                                   "indexes": ["t_child_x_idx"]}


def test_sqlalchemy_create_all_and_reflect(raft: str) -> None:
    engine = sqlalchemy.create_engine(sa_url(raft))
    md = sqlalchemy.MetaData()
    sqlalchemy.Table("sa_user", md, sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
                     sqlalchemy.Column("name", sqlalchemy.String(30), nullable=False))
    try:
        md.create_all(engine)
        md.create_all(engine)  # checkfirst: has_table must now say yes
        reflected = sqlalchemy.MetaData()
        reflected.reflect(engine)
        assert {"sa_user", "t_parent", "t_child"} <= set(reflected.tables)
        assert [c.name for c in reflected.tables["sa_user"].columns] == ["id", "name"]
        md.drop_all(engine)
    finally:
        engine.dispose()


def test_psycopg_typeinfo(raft: str) -> None:
    from psycopg.types import TypeInfo

    with psycopg.connect(raft) as conn:
        info = TypeInfo.fetch(conn, "json")
        assert info is not None and (info.oid, info.array_oid) == (114, 199)
        assert TypeInfo.fetch(conn, "hstore") is None


def test_alembic_version_table(raft: str) -> None:
    pytest.importorskip("alembic")
    from alembic.runtime.migration import MigrationContext

    engine = sqlalchemy.create_engine(sa_url(raft))
    try:
        with engine.begin() as conn:
            ctx = MigrationContext.configure(conn)
            assert ctx.get_current_revision() is None
            ctx._ensure_version_table()  # noqa: SLF001 - what `alembic upgrade` does first
            conn.execute(sqlalchemy.text("INSERT INTO alembic_version VALUES ('abc123')"))
            assert ctx.get_current_revision() == "abc123"
        with engine.begin() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "abc123"
            conn.execute(sqlalchemy.text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()
