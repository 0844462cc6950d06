"""Test-side frame builders, written independently of raftsql.pgwire from the PostgreSQL 15
docs, "Message Formats" (55.7), so that codec bugs cannot cancel out in round trips."""

from __future__ import annotations

import struct


def cstr(s: str | bytes) -> bytes:
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def msg(tag: bytes, body: bytes = b"") -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def startup(params: dict[str, str], version: int = 196608) -> bytes:
    body = struct.pack("!i", version) + b"".join(cstr(k) + cstr(v) for k, v in params.items())
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


SSL_REQUEST = struct.pack("!ii", 8, 80877103)
GSSENC_REQUEST = struct.pack("!ii", 8, 80877104)


def cancel(pid: int, key: int) -> bytes:
    return struct.pack("!iiii", 16, 80877102, pid, key)


def query(sql: str) -> bytes:
    return msg(b"Q", cstr(sql))


def parse(name: str, sql: str, oids: tuple[int, ...] = ()) -> bytes:
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack(f"!H{len(oids)}I", len(oids), *oids))


def bind(portal: str, stmt: str, pformats: tuple[int, ...], params: tuple[bytes | None, ...],
         rformats: tuple[int, ...]) -> bytes:
    body = cstr(portal) + cstr(stmt) + struct.pack(f"!H{len(pformats)}h", len(pformats), *pformats)
    body += struct.pack("!H", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    body += struct.pack(f"!H{len(rformats)}h", len(rformats), *rformats)
    return msg(b"B", body)


def describe(kind: bytes, name: str) -> bytes:
    return msg(b"D", kind + cstr(name))


def close(kind: bytes, name: str) -> bytes:
    return msg(b"C", kind + cstr(name))


def execute(portal: str, max_rows: int) -> bytes:
    return msg(b"E", cstr(portal) + struct.pack("!i", max_rows))


SYNC = msg(b"S")
FLUSH = msg(b"H")
TERMINATE = msg(b"X")
COPY_DONE = msg(b"c")


def copy_data(data: bytes) -> bytes:
    return msg(b"d", data)


def copy_fail(message: str) -> bytes:
    return msg(b"f", cstr(message))


def function_call(oid: int, formats: tuple[int, ...], args: tuple[bytes | None, ...],
                  result: int) -> bytes:
    body = struct.pack(f"!IH{len(formats)}h", oid, len(formats), *formats)
    body += struct.pack("!H", len(args))
    for a in args:
        body += struct.pack("!i", -1) if a is None else struct.pack("!i", len(a)) + a
    return msg(b"F", body + struct.pack("!h", result))


def password(pw: str) -> bytes:
    return msg(b"p", cstr(pw))


def sasl_initial(mech: str, data: bytes | None) -> bytes:
    tail = struct.pack("!i", -1) if data is None else struct.pack("!i", len(data)) + data
    return msg(b"p", cstr(mech) + tail)


def sasl_response(data: bytes) -> bytes:
    return msg(b"p", data)


def split_backend(data: bytes) -> list[tuple[bytes, bytes]]:
    """Cut a backend byte stream into (tag, body) pairs."""
    out = []
    pos = 0
    while pos < len(data):
        tag = data[pos : pos + 1]
        (length,) = struct.unpack_from("!i", data, pos + 1)
        out.append((tag, data[pos + 5 : pos + 1 + length]))
        pos += 1 + length
    assert pos == len(data)
    return out
