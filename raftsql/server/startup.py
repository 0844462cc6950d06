"""Connection start for a session: SSL/GSS negotiation, CancelRequest routing, the
StartupMessage, password authentication against the users file, and the ParameterStatus set
PostgreSQL 15 reports (PGWIRE.md 1.1-1.4; PostgreSQL 15 docs 55.2.1 and 55.3).
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import TYPE_CHECKING

from raftsql import pgwire as pw
from raftsql.pgwire.auth import ScramServer, check_cleartext, check_md5
from raftsql.pgwire.errors import ProtocolError
from raftsql.server import answers
from raftsql.sql.errors import SqlError

# Reported at startup (PGWIRE.md 1.4, PostgreSQL 15's list of GUC_REPORT parameters).
REPORTED = ("application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
            "in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser",
            "server_encoding", "server_version", "session_authorization",
            "standard_conforming_strings", "TimeZone")
REPORTED_LOWER = {name.lower(): name for name in REPORTED}
PG_SETTINGS = {
    "server_version": answers.SERVER_VERSION, "server_version_num": "150006",
    "server_encoding": "UTF8", "client_encoding": "UTF8", "datestyle": "ISO, MDY",
    "intervalstyle": "postgres", "timezone": "UTC", "integer_datetimes": "on",
    "standard_conforming_strings": "on", "transaction_isolation": "serializable",
    "default_transaction_isolation": "serializable", "application_name": "",
    "is_superuser": "off", "search_path": '"$user", public', "max_identifier_length": "63",
    "lc_collate": "C", "lc_ctype": "C", "statement_timeout": "0", "bytea_output": "hex",
    "extra_float_digits": "1", "jit": "off", "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0", "max_connections": "100",
    "default_transaction_deferrable": "off", "transaction_deferrable": "off",
    "synchronous_commit": "on", "client_min_messages": "notice",
}
DATABASES = frozenset({"raftsql", "postgres"})

if TYPE_CHECKING:
    from raftsql.server.session import PgSession


async def startup(session: PgSession) -> bool:
    """Run the startup phase; False when the connection was only a CancelRequest."""
    while True:
        ev = await asyncio.wait_for(session.event(), session.fe.startup_timeout)
        if isinstance(ev, pw.SSLRequest):
            ctx = session.fe.ssl_context
            session.send(pw.SSLResponse(ctx is not None))
            await session.flush()
            if ctx is not None:
                await session.channel.start_tls(ctx)
        elif isinstance(ev, pw.GSSENCRequest):
            session.send(pw.GSSENCResponse())
        elif isinstance(ev, pw.CancelRequest):
            session.fe.cancel(ev.pid, ev.secret_key)
            return False
        elif isinstance(ev, pw.StartupMessage):
            break
    params = dict(ev.parameters)
    user = params.get("user", "")
    if not user:
        raise ProtocolError("28000", "no PostgreSQL user name specified in startup packet",
                            fatal=True)
    negotiate = session.conn.negotiate_protocol()
    if negotiate is not None:
        session.send(negotiate)
    session.user = user
    session.database = params.get("database") or user
    await asyncio.wait_for(authenticate(session, user), session.fe.startup_timeout)
    if session.database not in DATABASES | session.fe.extra_databases:
        raise ProtocolError("3D000", f'database "{session.database}" does not exist',
                            fatal=True)
    apply_startup_settings(session, params)
    session.send(pw.AuthenticationOk())
    for name in REPORTED:
        session.send(pw.ParameterStatus(name, reported_value(session, name)))
    session.reported_leader = session.db.node.is_leader()
    session.send(pw.BackendKeyData(session.pid, session.secret))
    session.send(pw.ReadyForQuery("I"))
    session.fe.register(session)
    return True


async def authenticate(session: PgSession, user: str) -> None:
    users = session.fe.users
    if users.is_trust:
        return
    creds = users.lookup(user)
    method = creds.method if creds is not None else "scram-sha-256"
    if method == "scram-sha-256":
        session.send(pw.AuthenticationSASL(("SCRAM-SHA-256",)))
        first = await session.event()
        if not isinstance(first, pw.SASLInitialResponse) or first.mechanism != "SCRAM-SHA-256":
            raise ProtocolError("08P01", "client selected an invalid SASL authentication "
                                "mechanism", fatal=True)
        scram = ScramServer(user, creds.scram if creds is not None else None)
        session.send(pw.AuthenticationSASLContinue(scram.client_first(first.data)))
        final = await session.event()
        assert isinstance(final, pw.SASLResponse)
        session.send(pw.AuthenticationSASLFinal(scram.client_final(final.data)))
        return
    salt = os.urandom(4)
    session.send(pw.AuthenticationMD5Password(salt) if method == "md5"
              else pw.AuthenticationCleartextPassword())
    answer = await session.event()
    assert isinstance(answer, pw.PasswordMessage) and creds is not None
    ok = (check_md5(answer.password, creds.md5 or "", salt) if method == "md5"
          else check_cleartext(answer.password, creds.password or ""))
    if not ok:
        raise pw.ProtocolError("28P01", f'password authentication failed for user "{user}"',
                               fatal=True)


def apply_startup_settings(session: PgSession, params: dict[str, str]) -> None:
    settings: dict[str, str] = {}
    for key, value in params.items():
        if key in ("user", "database", "options", "replication", "client_encoding"):
            continue
        settings[key] = value
    for m in re.finditer(r"(?:-c\s*|--)([\w.]+)=((?:\\.|\S)*)", params.get("options", "")):
        settings[m.group(1)] = m.group(2).replace("\\ ", " ")
    for key, value in settings.items():
        try:
            session.db.set(session.dbs, key, value)
        except SqlError as exc:
            raise ProtocolError(exc.sqlstate, exc.message, fatal=True) from None


def reported_value(session: PgSession, name: str) -> str:
    lower = name.lower()
    if lower in ("default_transaction_read_only", "in_hot_standby"):
        if not session.db.node.is_leader():
            return "on"  # a follower reports itself as a standby (libpq target_session_attrs)
        return "off" if lower == "in_hot_standby" else session.db.show(session.dbs, lower)
    if lower == "session_authorization":
        return session.user
    if lower in ("client_encoding", "server_encoding"):
        return "UTF8"
    if lower in session.dbs.settings and lower not in ("datestyle", "timezone",
                                                      "intervalstyle"):
        return session.dbs.settings[lower]
    return PG_SETTINGS.get(lower, "")
