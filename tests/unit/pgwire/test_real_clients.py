"""The codec against real client libraries, the reference for what a server must accept and
send: asyncpg 0.32 (its own protocol implementation: SSLRequest, SCRAM, Parse/Describe/Flush,
binary Bind/Execute/Sync) and psycopg 3 over libpq (SSLRequest, SCRAM, simple Query, typed
Parse, text results). Only 127.0.0.1; every wait has a timeout."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import psycopg
import pytest
from mini_server import ECHO_SQL, MiniServer

pytestmark = pytest.mark.timeout(60)

VALUES = (41, "héllo", Decimal("-12.3400"), datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
          ["a b", None, "{"], b"\x00\xff", 2.5, {"b": [1, 2], "a": None})


def test_asyncpg_scram_and_binary_round_trip() -> None:
    async def run(port: int) -> None:
        conn = await asyncio.wait_for(asyncpg.connect(
            host="127.0.0.1", port=port, user="alice", password="s3cret", database="db",
            ssl="prefer"), 15)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                                      schema="pg_catalog")
            row = await conn.fetchrow(ECHO_SQL, *VALUES)
            assert tuple(row.values()) == VALUES
            with pytest.raises(asyncpg.PostgresSyntaxError):
                await conn.fetch("SELEKT nothing")
            assert await conn.fetchval("SELECT 1") == 1  # skip-until-Sync recovered
            assert await conn.execute("BEGIN") == "BEGIN"
        finally:
            await asyncio.wait_for(conn.close(), 10)

    with MiniServer(password="s3cret") as server:
        asyncio.run(run(server.port))
        assert server.errors == []


def test_asyncpg_wrong_password() -> None:
    async def run(port: int) -> None:
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncio.wait_for(asyncpg.connect(
                host="127.0.0.1", port=port, user="alice", password="nope", ssl=False), 15)

    with MiniServer(password="s3cret") as server:
        asyncio.run(run(server.port))


def test_psycopg_libpq_scram_simple_and_extended() -> None:
    with MiniServer(password="s3cret") as server:
        dsn = (f"host=127.0.0.1 port={server.port} user=alice password=s3cret dbname=db "
               "sslmode=prefer gssencmode=disable connect_timeout=10")
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.info.parameter_status("server_version") == "15.6 (raftsql test)"
            assert conn.execute("SELECT 1").fetchone() == (1,)
            sql = ECHO_SQL.replace("$1", "%s").replace("$2", "%s").replace("$3", "%s")
            for n in range(4, 9):
                sql = sql.replace(f"${n}", "%s")
            row = conn.execute(sql, (*VALUES[:7], psycopg.types.json.Jsonb(VALUES[7]))).fetchone()
            assert row == VALUES
            with pytest.raises(psycopg.errors.SyntaxError):
                conn.execute("SELEKT 1", prepare=True)
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert server.errors == []
