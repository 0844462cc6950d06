"""SQLAlchemy 2 and alembic, unmodified, against a real 3-node cluster (issue 5 acceptance):
create_all, ORM insert / select / update / delete and the inspector with both the psycopg and
the asyncpg dialects; alembic upgrade and downgrade of a small migration chain.

Source of truth: SQLAlchemy's ORM and alembic's documented command API; the expected states
are what the same calls leave on PostgreSQL (a table per upgrade step, gone after downgrade).
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("raftsql.server.frontend")
sqlalchemy = pytest.importorskip("sqlalchemy")
alembic = pytest.importorskip("alembic")

from compat_cluster import Cluster  # noqa: E402
from sqlalchemy import ForeignKey, String, inspect, select  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "sa_owner"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class Pet(Base):
    __tablename__ = "sa_pet"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int] = mapped_column(ForeignKey("sa_owner.id"))


def _url(cluster: Cluster, driver: str) -> str:
    return cluster.dsn().replace("postgresql://", f"postgresql+{driver}://")


def test_orm_crud_and_inspector_with_psycopg(cluster: Cluster) -> None:
    engine = sqlalchemy.create_engine(_url(cluster, "psycopg"))
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as s:
            ann = Owner(name="ann")
            s.add(ann)
            s.flush()
            s.add_all([Pet(name="rex", owner_id=ann.id), Pet(name="tom", owner_id=ann.id)])
            s.commit()
        with Session(engine) as s:
            pets = s.scalars(select(Pet.name).order_by(Pet.name)).all()
            assert pets == ["rex", "tom"]
            rex = s.scalars(select(Pet).where(Pet.name == "rex")).one()
            rex.name = "max"
            s.commit()
        with Session(engine) as s:
            s.delete(s.scalars(select(Pet).where(Pet.name == "tom")).one())
            s.commit()
            assert s.scalars(select(Pet.name)).all() == ["max"]
        insp = inspect(engine)
        assert {"sa_owner", "sa_pet"} <= set(insp.get_table_names())
        assert [c["name"] for c in insp.get_columns("sa_pet")] == ["id", "name", "owner_id"]
        assert insp.get_pk_constraint("sa_pet")["constrained_columns"] == ["id"]
        fks = insp.get_foreign_keys("sa_pet")
        assert fks and fks[0]["referred_table"] == "sa_owner"
        Base.metadata.drop_all(engine)
        assert "sa_pet" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_orm_crud_with_asyncpg(cluster: Cluster) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    async def run() -> None:
        engine = create_async_engine(_url(cluster, "asyncpg"))
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            async with AsyncSession(engine) as s:
                bob = Owner(name="bob")
                s.add(bob)
                await s.flush()
                s.add(Pet(name="fido", owner_id=bob.id))
                await s.commit()
            async with AsyncSession(engine) as s:
                pet = (await s.scalars(select(Pet).where(Pet.name == "fido"))).one()
                pet.name = "odie"
                await s.commit()
            async with AsyncSession(engine) as s:
                assert (await s.scalars(select(Pet.name))).all() == ["odie"]
                await s.delete((await s.scalars(select(Pet))).one())
                await s.commit()
                assert (await s.scalars(select(Pet.name))).all() == []
            async with engine.begin() as conn:
                tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
                assert {"sa_owner", "sa_pet"} <= set(tables)
                await conn.run_sync(Base.metadata.drop_all)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _alembic_project(root: Path, url: str) -> object:
    from alembic.config import Config

    versions = root / "versions"
    versions.mkdir(parents=True)
    (root / "env.py").write_text(textwrap.dedent("""
        from alembic import context
        from sqlalchemy import create_engine

        engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=None)
            with context.begin_transaction():
                context.run_migrations()
    """))
    (root / "script.py.mako").write_text("")
    steps = [
        ("a1", None, "op.create_table('al_users', sa.Column('id', sa.Integer, primary_key=True),"
                     " sa.Column('email', sa.String(80), nullable=False))",
         "op.drop_table('al_users')"),
        ("b2", "a1", "op.add_column('al_users', sa.Column('name', sa.String(40)))\n"
                     "    op.create_index('al_users_email', 'al_users', ['email'], unique=True)",
         "op.drop_index('al_users_email', 'al_users')\n    op.drop_column('al_users', 'name')"),
        # created and seeded in the one transaction alembic runs the upgrade in: the seed
        # rows' clock default is filled in against the table the transaction just created
        ("c3", "b2", "op.create_table('al_posts', sa.Column('id', sa.Integer, primary_key=True),"
                     " sa.Column('user_id', sa.Integer, sa.ForeignKey('al_users.id')),"
                     " sa.Column('created', sa.DateTime, server_default=sa.func.now(),"
                     " nullable=False))\n"
                     "    op.bulk_insert(sa.table('al_posts', sa.column('id', sa.Integer)),"
                     " [{'id': 1}, {'id': 2}])",
         "op.drop_table('al_posts')"),
    ]
    for rev, down, up_body, down_body in steps:
        (versions / f"{rev}.py").write_text(
            f"import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\n"
            f"depends_on = None\n\n\ndef upgrade():\n    {up_body}\n\n\n"
            f"def downgrade():\n    {down_body}\n")
    cfg = Config()
    cfg.set_main_option("script_location", str(root))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def test_alembic_upgrade_and_downgrade_of_a_migration_chain(cluster: Cluster,
                                                            tmp_path: Path) -> None:
    from alembic import command

    url = _url(cluster, "psycopg")
    cfg = _alembic_project(tmp_path / "alembic", url)
    engine = sqlalchemy.create_engine(url)

    def state() -> tuple[set[str], str | None]:
        insp = inspect(engine)
        tables = set(insp.get_table_names()) & {"al_users", "al_posts"}
        with engine.connect() as conn:
            rev = None
            if "alembic_version" in insp.get_table_names():
                rev = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version"))\
                    .scalar_one_or_none()
        return tables, rev

    try:
        command.upgrade(cfg, "head")
        assert state() == ({"al_users", "al_posts"}, "c3")
        with engine.connect() as conn:
            seeded = conn.execute(sqlalchemy.text(
                "SELECT id FROM al_posts WHERE created IS NOT NULL ORDER BY id")).scalars().all()
        assert seeded == [1, 2]
        cols = [c["name"] for c in inspect(engine).get_columns("al_users")]
        assert cols == ["id", "email", "name"]
        command.downgrade(cfg, "a1")
        assert state() == ({"al_users"}, "a1")
        assert [c["name"] for c in inspect(engine).get_columns("al_users")] == ["id", "email"]
        command.downgrade(cfg, "base")
        assert state() == (set(), None)
        command.upgrade(cfg, "b2")
        assert state() == ({"al_users"}, "b2")
        command.downgrade(cfg, "base")
    finally:
        engine.dispose()
