"""Hostile and broken clients against a live node: garbage, truncated and oversized messages,
and a client that never finishes its startup. The other sessions must keep working.

Source of truth: PostgreSQL 15 docs 55.2.1/55.7 (framing), postgres.c/pqcomm.c behaviour
(an invalid message type or length is FATAL 08P01 and the connection is closed; a message
over the size limit is refused from its header, before its body is read), and PGWIRE.md
section 0 ("one stuck client never blocks others").
"""

from __future__ import annotations

import asyncio
import socket
import struct

import asyncpg
import pytest

pytestmark = pytest.mark.timeout(60)


def _startup(user: str = "raftsql") -> bytes:
    body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0raftsql\0\0"
    return struct.pack("!i", len(body) + 4) + body


def _read_until_ready(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"Z\x00\x00\x00\x05I"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _fields(error: bytes) -> dict[str, str]:
    assert error[:1] == b"E", error
    out = {}
    for part in error[5:].split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode()
    return out


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def test_bad_clients_do_not_disturb_others(cluster) -> None:  # noqa: ANN001
    port = cluster.leader_port()

    async def main() -> None:
        good = await asyncpg.connect(cluster.dsn(port))
        try:
            await good.execute("CREATE TABLE bad1 (k integer PRIMARY KEY)")
            # a client that connects and never sends its startup packet
            stuck = _connect(port)
            # garbage instead of a startup packet: the server closes the connection
            with _connect(port) as s:
                s.sendall(b"\xff\xff\xff\xffGARBAGE" * 10)
                assert _read_all(s) in (b"",) or _read_all(s) == b""
            # oversized message after startup: refused from its header (FATAL 54000)
            with _connect(port) as s:
                s.sendall(_startup())
                _read_until_ready(s)
                s.sendall(b"Q" + struct.pack("!i", 100 * 1024 * 1024) + b"SELECT")
                err = _fields(_read_all(s))
                assert err["S"] == "FATAL" and err["C"] == "54000"
            # an unknown message type: FATAL 08P01, connection closed
            with _connect(port) as s:
                s.sendall(_startup())
                _read_until_ready(s)
                s.sendall(b"\x01" + struct.pack("!i", 4))
                err = _fields(_read_all(s))
                assert err["S"] == "FATAL" and err["C"] == "08P01"
            # a malformed Bind body (claims 5 params, has none): an ERROR, then Sync recovers
            with _connect(port) as s:
                s.sendall(_startup())
                _read_until_ready(s)
                bad = b"B" + struct.pack("!i", 4 + 2 + 2) + b"\0\0" + struct.pack("!h", 5)
                s.sendall(bad + b"S\x00\x00\x00\x04")
                data = _read_until_ready(s)
                assert data[:1] == b"E" and _fields(data[:data.index(b"Z")])["C"] == "08P01"
                q = b"SELECT 1\0"
                s.sendall(b"Q" + struct.pack("!i", 4 + len(q)) + q)
                assert b"D" in _read_until_ready(s)
            # a truncated message followed by a hang-up
            with _connect(port) as s:
                s.sendall(_startup())
                _read_until_ready(s)
                s.sendall(b"Q" + struct.pack("!i", 1000) + b"SELECT")
            # meanwhile the good session works, in a transaction even
            async with good.transaction():
                await good.execute("INSERT INTO bad1 VALUES (1)")
            assert await good.fetchval("SELECT count(*) FROM bad1") == 1
            # and new sessions can still connect while `stuck` is still stuck
            other = await asyncpg.connect(cluster.dsn(port))
            assert await other.fetchval("SELECT 41 + 1") == 42
            await other.close()
            stuck.close()
        finally:
            await good.close()

    asyncio.run(main())


def test_connection_limit(tmp_path) -> None:  # noqa: ANN001
    """Over max_connections a client gets FATAL 53300 'sorry, too many clients already'
    (PostgreSQL postmaster.c); a freed slot can be used again. A one-node cluster with
    RAFTSQL_MAX_CONNECTIONS=3."""
    from compat_cluster import Cluster

    c = Cluster(tmp_path, size=1, env={"RAFTSQL_MAX_CONNECTIONS": "3"})
    c.start()

    async def main() -> None:
        conns = [await asyncpg.connect(c.dsn()) for _ in range(3)]
        with pytest.raises(asyncpg.TooManyConnectionsError):
            await asyncpg.connect(c.dsn())
        await conns.pop().close()
        await asyncio.sleep(0.2)
        again = await asyncpg.connect(c.dsn())
        assert await again.fetchval("SELECT 1") == 1
        for conn in [*conns, again]:
            await conn.close()

    try:
        asyncio.run(main())
    finally:
        c.stop()


def test_negotiation_packets_and_unknown_cancel(cluster) -> None:  # noqa: ANN001
    """GSSENCRequest and SSLRequest (no certificate configured) are answered 'N' and the
    StartupMessage follows on the same socket; a CancelRequest with an unknown key gets no
    answer and the socket is closed (PostgreSQL 15 docs 55.2.10-11, PGWIRE.md 1.1)."""
    port = cluster.leader_port()
    with _connect(port) as s:
        s.sendall(struct.pack("!ii", 8, 80877104))
        assert s.recv(1) == b"N"
        s.sendall(struct.pack("!ii", 8, 80877103))
        assert s.recv(1) == b"N"
        s.sendall(_startup())
        assert b"server_version" in _read_until_ready(s)
    with _connect(port) as s:
        s.sendall(struct.pack("!iiii", 16, 80877102, 12345, 678))
        assert _read_all(s) == b""


def test_function_call_is_refused_and_answered_with_ready_for_query(cluster) -> None:  # noqa: ANN001
    """The fast-path FunctionCall ('F') is a message of its own: PostgreSQL answers it, or
    its error, with ReadyForQuery, and no Sync follows (55.2.7). Waiting for a Sync left the
    session silent, and the client's next Query was never answered. The message text does
    not repeat the SQLSTATE (that is its own field)."""
    with _connect(cluster.leader_port()) as s:
        s.sendall(_startup())
        _read_until_ready(s)
        body = struct.pack("!iH", 1598, 0) + struct.pack("!H", 0) + struct.pack("!H", 0)
        s.sendall(b"F" + struct.pack("!i", len(body) + 4) + body)
        answer = _read_until_ready(s)
        assert answer[:1] == b"E", answer
        fields = _fields(answer[:1 + struct.unpack("!i", answer[1:5])[0]])
        assert fields["C"] == "0A000" and not fields["M"].startswith("0A000"), fields
        query = b"SELECT 1\0"
        s.sendall(b"Q" + struct.pack("!i", len(query) + 4) + query)
        answer = _read_until_ready(s)
        assert answer[:1] == b"T" and b"C\x00\x00\x00\rSELECT 1\x00" in answer, answer


def test_protocol_error_text_is_not_prefixed_with_its_code(cluster) -> None:  # noqa: ANN001
    """A text parameter that is not an int4 is 22P02 with PostgreSQL's message. The code is
    its own field; it was also in the text, and psql printed ERROR:  22P02: invalid input ..."""
    def msg(kind: bytes, body: bytes) -> bytes:
        return kind + struct.pack("!i", len(body) + 4) + body

    with _connect(cluster.leader_port()) as s:
        s.sendall(_startup())
        _read_until_ready(s)
        parse = b"\0SELECT $1\0" + struct.pack("!hi", 1, 23)  # one parameter, int4
        bind = b"\0\0" + struct.pack("!hhhi", 1, 0, 1, 3) + b"abc" + struct.pack("!h", 0)
        s.sendall(msg(b"P", parse) + msg(b"B", bind) + msg(b"E", b"\0" + struct.pack("!i", 0))
                  + msg(b"S", b""))
        answer = _read_until_ready(s)
        error = answer[answer.index(b"E"):]
        fields = _fields(error[:1 + struct.unpack("!i", error[1:5])[0]])
        assert fields["C"] == "22P02", fields
        assert not fields["M"].startswith("22P02"), fields
