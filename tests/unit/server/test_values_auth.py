"""SQLite values -> PostgreSQL wire values by column type, client parameters -> stored values,
and the users file.

Sources: PostgreSQL 15 output functions (boolout 't'/'f', numeric_out with the column's scale,
timestamptz_out with '+00' under TimeZone=UTC, bytea hex output), pg_authid.rolpassword
formats for the users file (docs/clients.md).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from raftsql.pgwire import oids as o
from raftsql.pgwire import types as pgt
from raftsql.pgwire.auth import ScramSecret, md5_secret
from raftsql.server import values
from raftsql.server.auth import UsersFileError, parse_line


@pytest.mark.parametrize(("oid", "stored", "scale", "text"), [
    (o.BOOL, 1, None, b"t"), (o.BOOL, 0, None, b"f"),
    (o.NUMERIC, 1.5, 2, b"1.50"), (o.NUMERIC, "12.345", None, b"12.345"),
    (o.INT8, 2**40, None, b"1099511627776"), (o.FLOAT8, 0.1, None, b"0.1"),
    (o.TIMESTAMPTZ, "2024-01-02 03:04:05+00:00", None, b"2024-01-02 03:04:05+00"),
    (o.TIMESTAMP, "2024-01-02 03:04:05.500000", None, b"2024-01-02 03:04:05.5"),
    (o.DATE, "2024-02-29", None, b"2024-02-29"), (o.BYTEA, b"\x00\xff", None, b"\\x00ff"),
    (o.UUID, "12345678-1234-5678-1234-567812345678", None,
     b"12345678-1234-5678-1234-567812345678"),
    (o.TEXT, 5, None, b"5"), (o.JSONB, '{"a": 1}', None, b'{"a": 1}'),
])
def test_text_output(oid: int, stored: object, scale: int | None, text: bytes) -> None:
    assert values.encode_result(oid, stored, pgt.TEXT_FORMAT, scale) == text


def test_binary_output_round_trips() -> None:
    data = values.encode_result(o.NUMERIC, 1.5, pgt.BINARY_FORMAT, 2)
    assert pgt.decode_binary(o.NUMERIC, data) == Decimal("1.50")
    data = values.encode_result(o.TIMESTAMPTZ, "2024-01-02 03:04:05+00", pgt.BINARY_FORMAT)
    assert pgt.decode_binary(o.TIMESTAMPTZ, data) == dt.datetime(2024, 1, 2, 3, 4, 5,
                                                                 tzinfo=dt.UTC)


def test_params_are_stored_as_the_translator_expects() -> None:
    assert values.param_value(o.BOOL, b"\x01", 1) == 1
    assert values.param_value(o.INT2, b"\x00\x05", 1) == 5
    assert values.param_value(o.INT4, b"42", 0) == 42
    assert values.param_value(o.NUMERIC, b"3.50", 0) == "3.50"
    stamp = pgt.encode_binary(o.TIMESTAMPTZ, dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    assert values.param_value(o.TIMESTAMPTZ, stamp, 1) == "2024-01-02 00:00:00+00"
    assert values.param_value(0, b"abc", 0) == "abc"
    assert values.param_value(o.JSONB, b'\x01{"a":1}', 1) == '{"a":1}'
    assert values.param_value(o.INT4, None, 0) is None


def test_users_file_lines() -> None:
    secret = ScramSecret.from_password("pw", iterations=4096)
    user, creds = parse_line(f"alice:{secret.to_string()}")
    assert (user, creds.method, creds.scram) == ("alice", "scram-sha-256", secret)
    user, creds = parse_line(f"bob:{md5_secret('bob', 'pw')}")
    assert (creds.method, creds.md5) == ("md5", md5_secret("bob", "pw"))
    _user, creds = parse_line("carol:pw password")
    assert (creds.method, creds.password) == ("password", "pw")
    _user, creds = parse_line("dave:pw md5")
    assert creds.md5 == md5_secret("dave", "pw")
    assert parse_line("# comment") is None and parse_line("") is None
    with pytest.raises(UsersFileError):
        parse_line("nobody")
    with pytest.raises(UsersFileError):
        parse_line("eve:pw kerberos")
