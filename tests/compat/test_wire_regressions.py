"""Wire-level regressions found by auditing real clients (asyncpg 0.32, psycopg 3) against
raftsql and PostgreSQL 15 side by side.

Source of truth: PostgreSQL 15's answers to the same calls, namely
- result columns always follow the committed schema: a Describe after ALTER TABLE / DROP +
  CREATE reports the new columns and types (no cached plan survives a schema change there);
- COPY TO STDOUT (FORMAT binary) sends the PGCOPY header in the same CopyData message as the
  first row, and header plus trailer in one message when there are no rows (copyto.c,
  DoCopyTo: the header is buffered until the first CopySendEndOfRow); psycopg's binary copy
  parser depends on it (psycopg/copy.py, "bad copy data: fields number truncated");
- a FETCH run through the extended protocol encodes its rows in the formats of its own Bind,
  not of the cursor (postgres.c, exec_simple_query takes the cursor's BINARY option only for
  a simple-query FETCH); psycopg's named cursor with binary=True relies on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import struct
from decimal import Decimal

import asyncpg
import psycopg
import pytest

pytestmark = pytest.mark.timeout(60)


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


# ----------------------------------------------------------------- describe after DDL


def test_describe_sees_added_column_on_new_and_existing_connections(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        old = await asyncpg.connect(cluster.dsn(), statement_cache_size=0)
        try:
            await old.execute("CREATE TABLE wr_add (a integer)")
            await old.execute("INSERT INTO wr_add VALUES (1)")
            assert [tuple(r) for r in await old.fetch("SELECT * FROM wr_add")] == [(1,)]
            await old.execute("ALTER TABLE wr_add ADD COLUMN b text DEFAULT 'x'")
            for _ in range(2):  # an existing connection, Parse + Describe S each time
                rows = await old.fetch("SELECT * FROM wr_add")
                assert [dict(r) for r in rows] == [{"a": 1, "b": "x"}]
            new = await asyncpg.connect(cluster.dsn())
            try:
                for _ in range(2):
                    rows = await new.fetch("SELECT * FROM wr_add")
                    assert [dict(r) for r in rows] == [{"a": 1, "b": "x"}]
                await old.execute("ALTER TABLE wr_add ADD COLUMN c integer DEFAULT 7")
                rows = await new.fetch("SELECT * FROM wr_add WHERE a = $1", 1)
                assert [dict(r) for r in rows] == [{"a": 1, "b": "x", "c": 7}]
            finally:
                await new.close()
        finally:
            await old.close()

    run(main())


def test_describe_sees_recreated_table_with_another_type(cluster) -> None:  # noqa: ANN001
    async def main() -> None:
        old = await asyncpg.connect(cluster.dsn(), statement_cache_size=0)
        try:
            await old.execute("CREATE TABLE wr_re (id integer, price integer)")
            await old.execute("INSERT INTO wr_re VALUES (1, 5)")
            assert [tuple(r) for r in await old.fetch("SELECT id, price FROM wr_re")] == [(1, 5)]
            other = await asyncpg.connect(cluster.dsn())
            try:
                await other.execute("DROP TABLE wr_re; "
                                    "CREATE TABLE wr_re (id integer, price numeric(10,2))")
                await other.execute("INSERT INTO wr_re VALUES (1, 5.25)")
            finally:
                await other.close()
            for _ in range(2):  # existing connection
                rows = await old.fetch("SELECT id, price FROM wr_re")
                assert [tuple(r) for r in rows] == [(1, Decimal("5.25"))]
            new = await asyncpg.connect(cluster.dsn())
            try:
                for _ in range(2):
                    rows = await new.fetch("SELECT id, price FROM wr_re")
                    assert [tuple(r) for r in rows] == [(1, Decimal("5.25"))]
            finally:
                await new.close()
        finally:
            await old.close()

    run(main())


def test_simple_query_types_follow_recreated_table(cluster) -> None:  # noqa: ANN001
    """psycopg's ClientCursor speaks the simple query protocol: its RowDescription must carry
    the new table's types on the first query after the table was recreated."""
    with psycopg.connect(cluster.dsn(), autocommit=True,
                         cursor_factory=psycopg.ClientCursor) as conn:
        for typ, value, want in (("integer", "5", 5), ("text", "'t'", "t"),
                                 ("numeric(10,2)", "5.25", Decimal("5.25")),
                                 ("bigint", "7", 7)):
            conn.execute("DROP TABLE IF EXISTS wr_sq")
            conn.execute(f"CREATE TABLE wr_sq (v {typ})")
            conn.execute(f"INSERT INTO wr_sq VALUES ({value})")
            assert conn.execute("SELECT v FROM wr_sq").fetchall() == [(want,)], typ


# ----------------------------------------------------------------- binary COPY TO STDOUT

_COPY_TYPES = ["int4", "text", "numeric", "timestamp", "bool", "float8", "bytea"]


def test_psycopg_reads_binary_copy_to_stdout(cluster) -> None:  # noqa: ANN001
    at = dt.datetime(2024, 1, 2, 3, 4, 5, 600000)
    rows = [(1, "one", Decimal("1.50"), at, True, 0.25, b"\x00\x01"),
            (2, None, Decimal("-3.25"), at + dt.timedelta(days=1), False, -1.5, b""),
            (3, "three", None, None, None, None, None)]
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE wr_copy (id integer PRIMARY KEY, name text, "
                     "amount numeric(10,2), at timestamp, ok boolean, f double precision, "
                     "b bytea)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO wr_copy VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
            for query in ("COPY wr_copy TO STDOUT (FORMAT binary)",
                          "COPY (SELECT * FROM wr_copy ORDER BY id) TO STDOUT (FORMAT binary)"):
                with cur.copy(query) as copy:
                    copy.set_types(_COPY_TYPES)
                    got = sorted(copy.rows())
                assert got == rows, query


def test_psycopg_reads_empty_binary_copy_to_stdout(cluster) -> None:  # noqa: ANN001
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE wr_copy_empty (id integer, name text)")
        with conn.cursor() as cur:
            with cur.copy("COPY wr_copy_empty TO STDOUT (FORMAT binary)") as copy:
                copy.set_types(["int4", "text"])
                assert list(copy.rows()) == []
            # the raw stream is one CopyData: header then trailer, as PostgreSQL sends it
            with cur.copy("COPY (SELECT id FROM wr_copy_empty) TO STDOUT (FORMAT binary)") as copy:
                chunks = [bytes(b) for b in copy]
            assert chunks == [b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + b"\xff\xff"]


# ----------------------------------------------------------------- named binary cursor


def test_psycopg_named_binary_cursor(cluster) -> None:  # noqa: ANN001
    at = dt.datetime(2024, 1, 2, 3, 4, 5)
    want = [(i, at + dt.timedelta(hours=i), Decimal(i) / 4, f"t{i}") for i in range(5)]
    with psycopg.connect(cluster.dsn()) as conn:
        conn.execute("CREATE TABLE wr_cur (i integer, at timestamp, n numeric, t text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO wr_cur VALUES (%s, %s, %s, %s)", want)
        conn.commit()
        for binary in (True, False):
            with conn.cursor("wr_c", binary=binary) as cur:
                cur.itersize = 2  # several FETCH FORWARD 2
                cur.execute("SELECT i, at, n, t FROM wr_cur ORDER BY i")
                assert list(cur) == want, binary
                assert [d.type_code for d in cur.description] == [23, 1114, 1700, 25]
            conn.commit()
        with conn.cursor("wr_c2", binary=True) as cur:
            cur.execute("SELECT 1::int AS i, '2024-01-02 03:04:05'::timestamp AS ts, "
                        "1.5::numeric AS n, 'x'::text AS t")
            assert cur.fetchone() == (1, at, Decimal("1.5"), "x")
        conn.commit()
        # FETCH from a DECLARE BINARY cursor: binary in a simple query (no Bind, the cursor's
        # format), the Bind's formats through the extended protocol, as PostgreSQL does
        conn.execute("DECLARE wr_bc BINARY CURSOR FOR SELECT i, at, n, t FROM wr_cur ORDER BY i")
        simple = psycopg.ClientCursor(conn)
        simple.execute("FETCH 2 FROM wr_bc")
        assert simple.pgresult is not None
        assert [simple.pgresult.fformat(i) for i in range(4)] == [1, 1, 1, 1]
        assert simple.fetchall() == want[:2]
        for fmt in (0, 1):  # libpq's PQexecParams: Parse, Bind with one result format
            res = conn.pgconn.exec_params(b"FETCH 1 FROM wr_bc", [], result_format=fmt)
            assert res.status == psycopg.pq.ExecStatus.TUPLES_OK, res.error_message
            assert [res.fformat(i) for i in range(4)] == [fmt] * 4
            assert res.get_value(0, 0) == (b"%d" % (2 + fmt) if fmt == 0
                                           else (2 + fmt).to_bytes(4, "big"))
        conn.commit()


def test_fetch_bound_without_result_formats_is_text(cluster) -> None:  # noqa: ANN001
    """A Bind with no result-format codes means text for every column (PostgreSQL 15 docs
    55.7, Bind), also for a FETCH from a DECLARE BINARY cursor (a raw transcript: no client
    library sends zero codes for it)."""
    port = int(cluster.dsn().rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        body = struct.pack("!i", 196608) + b"user\0raftsql\0database\0raftsql\0\0"
        sock.sendall(struct.pack("!i", len(body) + 4) + body)
        _until_ready(sock)
        sock.sendall(_msg(b"Q", b"BEGIN; DECLARE wr_raw BINARY CURSOR FOR "
                                b"SELECT 7::int AS i, 'x'::text AS t\0")
                     + _msg(b"P", b"\0FETCH 1 FROM wr_raw\0\0\0")
                     + _msg(b"B", b"\0\0" + b"\0\0" + b"\0\0" + b"\0\0")
                     + _msg(b"D", b"P\0") + _msg(b"E", b"\0\0\0\0\0") + _msg(b"S")
                     + _msg(b"Q", b"COMMIT\0"))
        got = _until_ready(sock, 3)
    descs = [body for kind, body in got if kind == b"T"]
    assert len(descs) == 1  # the extended FETCH's; DECLARE returns none
    ncols = struct.unpack("!h", descs[0][:2])[0]
    formats, at = [], 2
    for _ in range(ncols):
        at = descs[0].index(b"\0", at) + 1 + 16
        formats.append(struct.unpack("!h", descs[0][at:at + 2])[0])
        at += 2
    assert formats == [0, 0]
    assert [body for kind, body in got if kind == b"D"] == [
        struct.pack("!hi", 2, 1) + b"7" + struct.pack("!i", 1) + b"x"]


def _msg(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _until_ready(sock: socket.socket, count: int = 1) -> list[tuple[bytes, bytes]]:
    """Backend messages up to and including the count-th ReadyForQuery."""
    out: list[tuple[bytes, bytes]] = []
    buf = b""
    while True:
        while len(buf) >= 5 and len(buf) >= 1 + struct.unpack("!i", buf[1:5])[0]:
            n = struct.unpack("!i", buf[1:5])[0]
            kind, body, buf = buf[:1], buf[5:1 + n], buf[1 + n:]
            out.append((kind, body))
            if kind == b"Z" and sum(k == b"Z" for k, _ in out) == count:
                assert not buf, buf
                return out
        chunk = sock.recv(65536)
        assert chunk, out
        buf += chunk
