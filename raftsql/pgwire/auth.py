"""Password checks for the server: SCRAM-SHA-256 (RFC 5802 / RFC 7677) and md5. Pure and
stdlib only; the server feeds in the SASL payloads from the events and sends back the payloads
returned here inside AuthenticationSASLContinue / AuthenticationSASLFinal.

Stored secrets use PostgreSQL's pg_authid.rolpassword formats, so they can be compared with
a real server: "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" and "md5<hex>".
Channel binding (SCRAM-SHA-256-PLUS) is not offered: raftsql has no TLS yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass

from .errors import (
    FEATURE_NOT_SUPPORTED,
    INVALID_AUTHORIZATION,
    INVALID_PASSWORD,
    PROTOCOL_VIOLATION,
    ProtocolError,
)

SCRAM_SHA_256 = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 4096  # PostgreSQL's scram_iterations default


class AuthenticationFailed(ProtocolError):
    """Wrong password: FATAL 28P01 'password authentication failed for user ...'."""

    def __init__(self, user: str) -> None:
        super().__init__(
            INVALID_PASSWORD, f'password authentication failed for user "{user}"', fatal=True
        )


# --------------------------------------------------------------------------- md5


def md5_secret(user: str, password: str) -> str:
    """The stored form: 'md5' + md5(password || user) in hex."""
    return "md5" + hashlib.md5((password + user).encode("utf-8")).hexdigest()


def md5_response(secret: str, salt: bytes) -> str:
    """What the client sends for AuthenticationMD5Password(salt), given the stored secret."""
    return "md5" + hashlib.md5(secret[3:].encode("ascii") + salt).hexdigest()


def check_md5(response: str, secret: str, salt: bytes) -> bool:
    """Constant-time comparison of a PasswordMessage against the stored md5 secret."""
    expected = md5_response(secret, salt).encode("ascii")
    return hmac.compare_digest(expected, response.encode("utf-8", "surrogateescape"))


def check_cleartext(response: str, password: str) -> bool:
    return hmac.compare_digest(response.encode("utf-8"), password.encode("utf-8"))


# --------------------------------------------------------------------------- SASLprep


def _prohibited(c: str) -> bool:
    return (
        stringprep.in_table_c12(c) or stringprep.in_table_c21_c22(c) or stringprep.in_table_c3(c)
        or stringprep.in_table_c4(c) or stringprep.in_table_c5(c) or stringprep.in_table_c6(c)
        or stringprep.in_table_c7(c) or stringprep.in_table_c8(c) or stringprep.in_table_c9(c)
        or stringprep.in_table_a1(c)
    )


def saslprep(password: str) -> str:
    """RFC 4013 SASLprep, falling back to the raw password when it is not valid input, exactly
    as PostgreSQL's pg_saslprep callers do ("use the password as is")."""
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c
        for c in password
        if not stringprep.in_table_b1(c)
    )
    norm = unicodedata.normalize("NFKC", mapped)
    if any(_prohibited(c) for c in norm):
        return password
    if any(stringprep.in_table_d1(c) for c in norm):  # RFC 3454 section 6 bidi rules
        if not (stringprep.in_table_d1(norm[0]) and stringprep.in_table_d1(norm[-1])):
            return password
        if any(stringprep.in_table_d2(c) for c in norm):
            return password
    return norm


# --------------------------------------------------------------------------- SCRAM secret


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class ScramSecret:
    """What the server stores instead of the password (RFC 5802 section 3)."""

    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_password(
        cls, password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
    ) -> ScramSecret:
        salt = secrets.token_bytes(16) if salt is None else salt
        salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt,
                                     iterations)
        client_key = _hmac(salted, b"Client Key")
        return cls(iterations, salt, hashlib.sha256(client_key).digest(),
                   _hmac(salted, b"Server Key"))

    def to_string(self) -> str:
        return (f"SCRAM-SHA-256${self.iterations}:{_b64(self.salt)}"
                f"${_b64(self.stored_key)}:{_b64(self.server_key)}")

    @classmethod
    def parse(cls, text: str) -> ScramSecret:
        try:
            method, rest = text.split("$", 1)
            iter_salt, keys = rest.split("$")
            it, salt = iter_salt.split(":")
            stored, server = keys.split(":")
            if method != SCRAM_SHA_256:
                raise ValueError(method)
            return cls(int(it), base64.b64decode(salt, validate=True),
                       base64.b64decode(stored, validate=True),
                       base64.b64decode(server, validate=True))
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"not a SCRAM-SHA-256 secret: {text!r}") from exc


# --------------------------------------------------------------------------- SCRAM exchange


def _malformed(detail: str) -> ProtocolError:
    return ProtocolError(PROTOCOL_VIOLATION, f"malformed SCRAM message ({detail})", fatal=True)


def _attrs(text: str, names: str) -> list[str]:
    """Split 'a=1,b=2' and check that the attributes come in the order `names`."""
    parts = text.split(",")
    if len(parts) < len(names):
        raise _malformed("too few attributes")
    out = []
    for name, part in zip(names, parts, strict=False):
        if not part.startswith(name + "="):
            raise _malformed(f"expected attribute {name!r}")
        out.append(part[2:])
    return out


class ScramServer:
    """One SCRAM-SHA-256 exchange, server side. Usage:

        scram = ScramServer(user, secret)
        send(AuthenticationSASLContinue(scram.client_first(initial.data)))
        send(AuthenticationSASLFinal(scram.client_final(response.data)))  # or raises 28P01

    `secret=None` runs a doomed exchange for an unknown user with a stable fake salt, so the
    client cannot tell unknown users from wrong passwords (PostgreSQL's mock authentication).
    """

    def __init__(self, user: str, secret: ScramSecret | None, *, nonce: str | None = None,
                 mock_key: bytes = b"raftsql-mock") -> None:
        self.user = user
        self._doomed = secret is None
        if secret is None:
            salt = hashlib.sha256(mock_key + user.encode("utf-8")).digest()[:16]
            secret = ScramSecret(DEFAULT_ITERATIONS, salt, b"\0" * 32, b"\0" * 32)
        self.secret = secret
        self._server_nonce = nonce or _b64(secrets.token_bytes(18))
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2 = ""
        self.done = False

    def client_first(self, data: bytes | None, mechanism: str = SCRAM_SHA_256) -> bytes:
        """Take the SASLInitialResponse's mechanism and client-first-message, return the
        server-first-message."""
        if mechanism != SCRAM_SHA_256:
            raise ProtocolError(
                PROTOCOL_VIOLATION,
                "client selected an invalid SASL authentication mechanism",
                fatal=True,
            )
        if data is None:
            raise _malformed("missing client-first-message")
        text = self._text(data)
        cb, sep, rest = text.partition(",")
        if not sep or cb not in ("n", "y"):
            if cb.startswith("p="):
                raise ProtocolError(
                    INVALID_AUTHORIZATION,
                    "SCRAM channel binding negotiation error: channel binding not supported",
                    fatal=True,
                )
            raise _malformed("unexpected channel-binding flag")
        authzid, sep, bare = rest.partition(",")
        if not sep:
            raise _malformed("missing authzid separator")
        if authzid:
            raise ProtocolError(FEATURE_NOT_SUPPORTED,
                                "client uses authorization identity, but it is not supported",
                                fatal=True)
        if bare.startswith("m="):
            raise _malformed("mandatory extension not supported")
        _user, client_nonce = _attrs(bare, "nr")
        if not client_nonce or not client_nonce.isprintable() or "," in client_nonce:
            raise _malformed("bad nonce")
        self._gs2 = f"{cb},,"
        self._client_first_bare = bare
        self._nonce = client_nonce + self._server_nonce
        self._server_first = (f"r={self._nonce},s={_b64(self.secret.salt)},"
                              f"i={self.secret.iterations}")
        return self._server_first.encode("ascii")

    def client_final(self, data: bytes) -> bytes:
        """Check the client-final-message's proof; return the server-final-message."""
        if not self._server_first or self.done:
            raise _malformed("unexpected client-final-message")
        text = self._text(data)
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise _malformed("missing proof")
        channel, nonce = _attrs(without_proof, "cr")
        try:
            cbind = base64.b64decode(channel, validate=True)
            proof = base64.b64decode(proof_b64, validate=True)
        except binascii.Error:
            raise _malformed("bad base64") from None
        if cbind != self._gs2.encode("ascii"):
            raise ProtocolError(INVALID_AUTHORIZATION,
                                "SCRAM channel binding check failed", fatal=True)
        if nonce != self._nonce:
            raise _malformed("nonce mismatch")
        if len(proof) != 32:
            raise _malformed("bad proof length")
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof))
        signature = _hmac(self.secret.stored_key, auth_message.encode("utf-8"))
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), self.secret.stored_key)
        if not ok or self._doomed:
            raise AuthenticationFailed(self.user)
        self.done = True
        verifier = _hmac(self.secret.server_key, auth_message.encode("utf-8"))
        return f"v={_b64(verifier)}".encode("ascii")

    @staticmethod
    def _text(data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("not UTF-8") from None


def client_proof(password: str, salt: bytes, iterations: int, auth_message: str) -> bytes:
    """The client's side of the proof (RFC 5802 section 3), for tests and the CLI."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    signature = _hmac(hashlib.sha256(client_key).digest(), auth_message.encode("utf-8"))
    return bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
