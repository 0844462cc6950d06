"""Password authentication against a users file (docs/clients.md): SCRAM-SHA-256, md5 and
cleartext, with asyncpg and psycopg; wrong passwords fail with FATAL 28P01.

Source of truth: PostgreSQL 15 docs 55.3 (SASL), 21.5 (password methods), PGWIRE.md 1.3.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest
from compat_cluster import Cluster

from raftsql.pgwire.auth import ScramSecret

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Users file and TLS (a self-signed certificate made with openssl)."""
    root = tmp_path_factory.mktemp("auth")
    cert, key = root / "server.crt", root / "server.key"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                           "-keyout", str(key), "-out", str(cert), "-days", "1",
                           "-subj", "/CN=127.0.0.1"], capture_output=True, timeout=60)
    tls = {"RAFTSQL_TLS_CERT": str(cert), "RAFTSQL_TLS_KEY": str(key)} if made.returncode == 0 \
        else {}
    users = root / "users"
    users.write_text("# test users\n"
                     f"alice:{ScramSecret.from_password('wonderland').to_string()}\n"
                     "bob:builder md5\n"
                     "carol:plain password\n"
                     "raftsql:raftsql\n")
    c = Cluster(root, users_file=Path(users), env=tls)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _dsn(c: Cluster, user: str, password: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{c.leader_port()}/raftsql"


@pytest.mark.parametrize(("user", "password"), [("alice", "wonderland"), ("bob", "builder"),
                                                ("carol", "plain")])
def test_methods_with_asyncpg_and_psycopg(secured: Cluster, user: str, password: str) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(_dsn(secured, user, password))
        assert await conn.fetchval("SELECT current_user") == user
        await conn.close()

    asyncio.run(main())
    with psycopg.connect(_dsn(secured, user, password)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "nobody"])
def test_wrong_password_is_28P01(secured: Cluster, user: str) -> None:
    async def main() -> None:
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(_dsn(secured, user, "wrong"))

    asyncio.run(main())
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(_dsn(secured, user, "wrong"))


def test_unknown_database_is_3D000(secured: Cluster) -> None:
    async def main() -> None:
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            await asyncpg.connect(_dsn(secured, "alice", "wonderland").replace("/raftsql",
                                                                              "/nope"))

    asyncio.run(main())


def test_tls_when_a_certificate_is_configured(secured: Cluster) -> None:
    """SSLRequest answered 'S' and the session continues over TLS (PGWIRE.md 1.1)."""
    if "RAFTSQL_TLS_CERT" not in secured.env:
        pytest.skip("openssl could not make a certificate")
    with psycopg.connect(_dsn(secured, "alice", "wonderland") + "?sslmode=require") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)

    async def main() -> None:
        conn = await asyncpg.connect(_dsn(secured, "bob", "builder"), ssl="require")
        assert await conn.fetchval("SELECT 2") == 2
        await conn.close()

    asyncio.run(main())
