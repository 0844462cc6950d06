"""Bind, [Describe portal,] Execute, Sync taken as one group (ServerConnection.take_execute_sync,
PgSession._execute_and_sync) against a live node, over a raw socket, so the exact messages and
their grouping are under the test's control.

Source of truth: PostgreSQL 15 docs 55.2.3 "Extended Query": each Sync ends the implicit
transaction of the messages before it (so an error in one group does not touch the next), an
error skips messages up to the next Sync, and ReadyForQuery reports the block's status ('E'
for a failed block). A client that pipelines several groups in one packet (psycopg's pipeline
mode, pgbench under load) must get exactly the answers it would get sending them one by one.
"""

from __future__ import annotations

import socket
import struct

import pytest

pytestmark = pytest.mark.timeout(60)


def _frame(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def _startup() -> bytes:
    body = struct.pack("!i", 196608) + b"user\0raftsql\0database\0raftsql\0\0"
    return struct.pack("!i", len(body) + 4) + body


def _query(sql: str) -> bytes:
    return _frame(b"Q", sql.encode() + b"\0")


def _parse(name: str, sql: str) -> bytes:
    return _frame(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))


def _bind(statement: str, *values: str, portal: str = "") -> bytes:
    body = portal.encode() + b"\0" + statement.encode() + b"\0" + struct.pack("!hh", 0, len(values))
    body += b"".join(struct.pack("!i", len(v.encode())) + v.encode() for v in values)
    return _frame(b"B", body + struct.pack("!h", 0))


DESCRIBE = _frame(b"D", b"P\0")
EXECUTE = _frame(b"E", b"\0" + struct.pack("!i", 0))
SYNC = _frame(b"S", b"")


def _messages(sock: socket.socket, readies: int) -> list[tuple[str, bytes]]:
    """Read until `readies` ReadyForQuery messages arrived: [(type, body)]."""
    data, out, pos = b"", [], 0
    while sum(1 for tag, _ in out if tag == "Z") < readies:
        chunk = sock.recv(65536)
        assert chunk, out
        data += chunk
        while len(data) - pos >= 5:
            (length,) = struct.unpack_from("!i", data, pos + 1)
            if len(data) - pos < 1 + length:
                break
            out.append((chr(data[pos]), data[pos + 5:pos + 1 + length]))
            pos += 1 + length
    return out


def _sqlstate(body: bytes) -> str:
    fields = {p[:1]: p[1:] for p in body.split(b"\0") if p}
    return fields[b"C"].decode()


def _summary(messages: list[tuple[str, bytes]]) -> list[str]:
    """Types, with the SQLSTATE of errors, the tag of CommandComplete and ReadyForQuery's
    status: what a client acts on."""
    out = []
    for tag, body in messages:
        if tag == "E":
            out.append(f"E:{_sqlstate(body)}")
        elif tag == "C":
            out.append(f"C:{body[:-1].decode()}")
        elif tag == "Z":
            out.append(f"Z:{body.decode()}")
        elif tag == "D":
            out.append(f"D:{body[6:].decode()}")  # one column: skip count and length
        else:
            out.append(tag)
    return out


@pytest.fixture
def conn(cluster):  # noqa: ANN001, ANN201
    sock = socket.create_connection(("127.0.0.1", cluster.leader_port()), timeout=20)
    try:
        sock.sendall(_startup())
        _messages(sock, 1)
        yield sock
    finally:
        sock.close()


def test_pipelined_groups_each_end_at_their_sync(conn: socket.socket) -> None:
    conn.sendall(_query("CREATE TABLE groups1 (k integer PRIMARY KEY)")
                 + _parse("ins", "INSERT INTO groups1 VALUES ($1)")
                 + _parse("sel", "SELECT k FROM groups1 WHERE k = $1") + SYNC)
    _messages(conn, 2)
    # three groups in one packet; the second fails (duplicate key), the others must commit
    conn.sendall(_bind("ins", "1") + EXECUTE + SYNC
                 + _bind("ins", "1") + EXECUTE + SYNC
                 + _bind("ins", "2") + DESCRIBE + EXECUTE + SYNC
                 + _bind("sel", "2") + DESCRIBE + EXECUTE + SYNC)
    assert _summary(_messages(conn, 4)) == [
        "2", "C:INSERT 0 1", "Z:I",
        "2", "E:23505", "Z:I",
        "2", "n", "C:INSERT 0 1", "Z:I",
        "2", "T", "D:2", "C:SELECT 1", "Z:I",
    ]


def test_error_in_a_block_fails_the_block(conn: socket.socket) -> None:
    conn.sendall(_query("CREATE TABLE groups2 (k integer PRIMARY KEY)")
                 + _parse("ins", "INSERT INTO groups2 VALUES ($1)") + SYNC)
    _messages(conn, 2)
    conn.sendall(_query("BEGIN") + _bind("ins", "1") + EXECUTE + SYNC
                 + _bind("ins", "1") + EXECUTE + SYNC
                 + _bind("ins", "2") + EXECUTE + SYNC + _query("ROLLBACK"))
    assert _summary(_messages(conn, 5)) == [
        "C:BEGIN", "Z:T",
        "2", "C:INSERT 0 1", "Z:T",
        "2", "E:23505", "Z:E",
        "2", "E:25P02", "Z:E",
        "C:ROLLBACK", "Z:I",
    ]


def test_a_failed_bind_skips_its_group_only(conn: socket.socket) -> None:
    conn.sendall(_query("CREATE TABLE groups3 (k integer PRIMARY KEY)")
                 + _parse("ins", "INSERT INTO groups3 VALUES ($1)") + SYNC)
    _messages(conn, 2)
    # the first Bind supplies no value for $1: 08P01, and its Describe/Execute are skipped
    conn.sendall(_bind("ins") + DESCRIBE + EXECUTE + SYNC
                 + _bind("ins", "7") + DESCRIBE + EXECUTE + SYNC
                 + _query("SELECT count(*) FROM groups3"))
    assert _summary(_messages(conn, 3)) == [
        "E:08P01", "Z:I",
        "2", "n", "C:INSERT 0 1", "Z:I",
        "T", "D:1", "C:SELECT 1", "Z:I",
    ]


def test_a_named_portal_or_row_limit_takes_the_general_path(conn: socket.socket) -> None:
    conn.sendall(_query("CREATE TABLE groups4 (k integer PRIMARY KEY);"
                        "INSERT INTO groups4 VALUES (1), (2), (3)")
                 + _parse("all", "SELECT k FROM groups4 ORDER BY k") + SYNC)
    _messages(conn, 2)
    # Execute with a row limit: not the group's exact bytes; PortalSuspended, then the rest
    limited = _frame(b"E", b"\0" + struct.pack("!i", 2))
    conn.sendall(_query("BEGIN") + _bind("all") + DESCRIBE + limited + EXECUTE + SYNC
                 + _query("COMMIT"))
    assert _summary(_messages(conn, 3)) == [
        "C:BEGIN", "Z:T",
        "2", "T", "D:1", "D:2", "s", "D:3", "C:SELECT 1", "Z:T",
        "C:COMMIT", "Z:I",
    ]


def test_a_row_limited_group_answers_like_the_general_path(conn: socket.socket) -> None:
    """asyncpg's fetchrow() sends Bind, Execute "" with a limit of one row, Sync: taken as a
    group too, with the limit kept (PortalSuspended while rows remain)."""
    conn.sendall(_query("CREATE TABLE groups5 (k integer PRIMARY KEY);"
                        "INSERT INTO groups5 VALUES (1), (2), (3)")
                 + _parse("five", "SELECT k FROM groups5 ORDER BY k")
                 + _parse("one", "SELECT k FROM groups5 WHERE k = 2") + SYNC)
    _messages(conn, 2)
    one_row = _frame(b"E", b"\0" + struct.pack("!i", 1))
    conn.sendall(_bind("five") + one_row + SYNC
                 + _bind("one") + one_row + SYNC
                 + _bind("five") + DESCRIBE + _frame(b"E", b"\0" + struct.pack("!i", 2)) + SYNC)
    assert _summary(_messages(conn, 3)) == [
        "2", "D:1", "s", "Z:I",
        "2", "D:2", "C:SELECT 1", "Z:I",
        "2", "T", "D:1", "D:2", "s", "Z:I",
    ]


def test_a_named_portal_is_never_taken_for_the_unnamed_one(conn: socket.socket) -> None:
    """Bind of portal "p1", then Execute of portal "": the Execute names the unnamed portal,
    which does not exist (34000), whatever the group's bytes look like."""
    conn.sendall(_query("CREATE TABLE groups6 (k integer PRIMARY KEY); INSERT INTO groups6 VALUES (1)")
                 + _parse("six", "SELECT k FROM groups6") + SYNC)
    _messages(conn, 2)
    conn.sendall(_bind("six", portal="p1") + EXECUTE + SYNC)
    assert _summary(_messages(conn, 1)) == ["2", "E:34000", "Z:I"]
