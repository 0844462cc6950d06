"""COPY statement grammar and data formats (PostgreSQL 15 docs, COPY: "Parameters" and "File
Formats": text escapes and \\N, csv quoting and unquoted-empty NULL, the binary header/trailer),
plus the statements clients send (pgbench `with (freeze on)`, asyncpg `(FORMAT binary)`).
"""

from __future__ import annotations

import struct

import pytest

from raftsql.server import copy as cp
from raftsql.sql.errors import SqlError


def test_parse_client_forms() -> None:
    s = cp.parse("copy pgbench_accounts from stdin with (freeze on)")
    assert (s.direction, s.table, s.columns, s.format) == ("from", "pgbench_accounts", None, "text")
    s = cp.parse('COPY "T"("c1", "c2") FROM STDIN (FORMAT binary)')
    assert (s.table, s.columns, s.format) == ("T", ("c1", "c2"), "binary")
    s = cp.parse("COPY t TO STDOUT WITH (FORMAT csv, HEADER true, DELIMITER ';')")
    assert (s.direction, s.format, s.header, s.delimiter, s.null) == ("to", "csv", True, ";", "")
    s = cp.parse("COPY (SELECT a, ')' FROM t) TO STDOUT CSV HEADER")
    assert (s.query, s.format, s.header) == ("SELECT a, ')' FROM t", "csv", True)
    assert cp.parse("SELECT 1") is None
    with pytest.raises(SqlError) as err:
        cp.parse("COPY t FROM '/etc/passwd'")
    assert err.value.sqlstate == "0A000"


def _rows(spec: cp.CopySpec, n: int, chunks: list[bytes]) -> list[list[bytes | None]]:
    dec = cp.Decoder(spec, n)
    out = [row for chunk in chunks for row in dec.feed(chunk)]
    return out + list(dec.finish())


def test_text_format_across_chunk_boundaries() -> None:
    spec = cp.parse("COPY t FROM STDIN")
    data = b"1\ta\\tb\\\\c\t\\N\n2\t\\x41\\101\tz\n\\.\n"
    for cut in range(len(data)):
        assert _rows(spec, 3, [data[:cut], data[cut:]]) == [
            [b"1", b"a\tb\\c", None], [b"2", b"AA", b"z"]]


def test_csv_quoting_and_null() -> None:
    spec = cp.parse("COPY t FROM STDIN (FORMAT csv, HEADER)")
    data = b'a,b\n1,"x, ""y""\nz"\n2,\n3,""\n'
    assert _rows(spec, 2, [data]) == [[b"1", b'x, "y"\nz'], [b"2", None], [b"3", b""]]


def test_binary_format() -> None:
    spec = cp.parse("COPY t FROM STDIN (FORMAT binary)")
    row = struct.pack("!h", 2) + struct.pack("!i", 4) + struct.pack("!i", 7) + struct.pack("!i", -1)
    data = cp.binary_header() + row + cp.binary_trailer()
    assert _rows(spec, 2, [data[:5], data[5:20], data[20:]]) == [[struct.pack("!i", 7), None]]


def test_encode_rows_like_postgresql() -> None:
    text = cp.parse("COPY t TO STDOUT")
    assert cp.encode_row(text, [b"a\tb", None, b"x\\y"]) == b"a\\tb\t\\N\tx\\\\y\n"
    csv = cp.parse("COPY t TO STDOUT (FORMAT csv)")
    assert cp.encode_row(csv, [b"a,b", None, b"", b'q"']) == b'"a,b",,"","q"""\n'
