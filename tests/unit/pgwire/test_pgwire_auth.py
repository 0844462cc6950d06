"""SCRAM-SHA-256 and md5 helpers. Sources of truth: RFC 7677 section 3 (the SCRAM-SHA-256
example exchange), and secrets recorded from a real PostgreSQL 15.18 (data/pg15_auth.json,
pg_authid.rolpassword), which also pins SASLprep (RFC 4013) behaviour, including PostgreSQL's
fallback to the raw password when SASLprep rejects it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.pgwire import ProtocolError
from raftsql.pgwire.auth import (
    AuthenticationFailed,
    ScramSecret,
    ScramServer,
    check_md5,
    client_proof,
    md5_response,
    md5_secret,
    saslprep,
)

ROLES = json.loads((Path(__file__).parent / "data" / "pg15_auth.json").read_text())["roles"]

# RFC 7677 section 3
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SERVER_FIRST = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
RFC_CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def _rfc_server() -> ScramServer:
    secret = ScramSecret.from_password("pencil", salt=RFC_SALT, iterations=4096)
    return ScramServer("user", secret, nonce=RFC_SERVER_NONCE)


def test_rfc7677_exchange() -> None:
    scram = _rfc_server()
    assert scram.client_first(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert scram.client_final(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL
    assert scram.done


def test_wrong_proof_fails_with_28p01() -> None:
    scram = _rfc_server()
    scram.client_first(RFC_CLIENT_FIRST)
    bad = RFC_CLIENT_FINAL[:-10] + b"AAAAAAAAA="
    with pytest.raises(AuthenticationFailed) as info:
        scram.client_final(bad)
    assert info.value.sqlstate == "28P01" and info.value.fatal


def test_unknown_user_mock_exchange_always_fails_but_looks_normal() -> None:
    scram = ScramServer("ghost", None, nonce="abc")
    first = scram.client_first(b"n,,n=,r=xyz").decode()
    assert first.startswith("r=xyzabc,s=") and first.endswith(",i=4096")
    assert ScramServer("ghost", None, nonce="abc").client_first(b"n,,n=,r=xyz").decode() == first
    salt = base64.b64decode(first.split(",")[1][2:])
    without = "c=biws,r=xyzabc"
    proof = client_proof("anything", salt, 4096, f"n=,r=xyz,{first},{without}")
    with pytest.raises(AuthenticationFailed):
        scram.client_final(f"{without},p={base64.b64encode(proof).decode()}".encode())


@pytest.mark.parametrize("role", [r for r in ROLES if r["secret"].startswith("SCRAM")],
                         ids=lambda r: r["user"])
def test_scram_secret_matches_postgresql(role: dict[str, str]) -> None:
    stored = ScramSecret.parse(role["secret"])
    ours = ScramSecret.from_password(role["password"], salt=stored.salt,
                                     iterations=stored.iterations)
    assert ours == stored
    assert ours.to_string() == role["secret"]


@pytest.mark.parametrize("role", [r for r in ROLES if r["secret"].startswith("SCRAM")],
                         ids=lambda r: r["user"])
def test_full_exchange_against_postgresql_secret(role: dict[str, str]) -> None:
    secret = ScramSecret.parse(role["secret"])
    scram = ScramServer(role["user"], secret, nonce="srv")
    first = scram.client_first(b"n,,n=,r=cli").decode()
    without = "c=biws,r=clisrv"
    proof = client_proof(role["password"], secret.salt, secret.iterations,
                         f"n=,r=cli,{first},{without}")
    final = scram.client_final(f"{without},p={base64.b64encode(proof).decode()}".encode())
    assert final.startswith(b"v=")


@pytest.mark.parametrize("role", [r for r in ROLES if r["secret"].startswith("md5")],
                         ids=lambda r: r["user"])
def test_md5_matches_postgresql(role: dict[str, str]) -> None:
    assert md5_secret(role["user"], role["password"]) == role["secret"]
    salt = b"\x01\x02\x03\x04"
    assert check_md5(md5_response(role["secret"], salt), role["secret"], salt)
    assert not check_md5(md5_response(role["secret"], b"xxxx"), role["secret"], salt)


def test_saslprep_rfc4013_examples() -> None:
    """RFC 4013 section 3 examples."""
    assert saslprep("I\u00adX") == "IX"
    assert saslprep("user") == "user"
    assert saslprep("\u00aa") == "a"
    assert saslprep("\u2168") == "IX"
    assert saslprep("\u0007") == "\u0007"  # prohibited: PostgreSQL then uses the raw string


@pytest.mark.parametrize(("data", "sqlstate"), [
    (b"x,,n=,r=a", "08P01"),
    (b"p=tls-server-end-point,,n=,r=a", "28000"),
    (b"n,a=admin,n=,r=a", "0A000"),
    (b"n,,m=ext,n=,r=a", "08P01"),
    (b"n,,n=,r=", "08P01"),
    (b"n,,r=a", "08P01"),
    (b"\xff", "08P01"),
    (None, "08P01"),
])
def test_malformed_client_first(data: bytes | None, sqlstate: str) -> None:
    with pytest.raises(ProtocolError) as info:
        _rfc_server().client_first(data)
    assert info.value.sqlstate == sqlstate and info.value.fatal


@pytest.mark.parametrize("final", [
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",  # no proof
    b"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",  # other binding
    b"c=biws,r=someoneelse,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=!!!",
    b"r=x,c=biws,p=AAAA",
])
def test_malformed_client_final(final: bytes) -> None:
    scram = _rfc_server()
    scram.client_first(RFC_CLIENT_FIRST)
    with pytest.raises(ProtocolError) as info:
        scram.client_final(final)
    assert info.value.fatal


def test_secret_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        ScramSecret.parse("md5abc")


def test_other_mechanism_is_refused() -> None:
    """auth-sasl.c: 'client selected an invalid SASL authentication mechanism' (08P01)."""
    with pytest.raises(ProtocolError) as info:
        _rfc_server().client_first(RFC_CLIENT_FIRST, "SCRAM-SHA-256-PLUS")
    assert info.value.sqlstate == "08P01"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120), st.binary(max_size=120))
def test_scram_fuzz_raises_only_protocol_errors(first: bytes, final: bytes) -> None:
    scram = _rfc_server()
    try:
        scram.client_first(first)
        scram.client_final(final)
    except ProtocolError as err:
        assert err.fatal
