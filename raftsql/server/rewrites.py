"""Client statements PostgreSQL accepts and the translator does not (yet), rewritten to
equivalent ones before translation.

Why here: pgbench and asyncpg send these exact forms (PGWIRE.md sections 8 and 11.5) and the
meaning is unchanged by the rewrite: a multi-table DROP/TRUNCATE is the same as one statement
per table inside the statement's transaction, a fillfactor storage parameter has no meaning
for SQLite, and `::"pg_catalog"."int4"` is `::int4`.
"""

from __future__ import annotations

import re

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*))?'
_MULTI = re.compile(
    rf"^\s*(?P<head>DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?|TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?)"
    rf"(?P<names>{_IDENT}(?:\s*,\s*{_IDENT})+)\s*(?P<tail>(?:RESTRICT|CONTINUE\s+IDENTITY|"
    rf"RESTART\s+IDENTITY)?)\s*$", re.IGNORECASE | re.DOTALL)
_FILLFACTOR = re.compile(r"\)\s*WITH\s*\(\s*fillfactor\s*=\s*\d+\s*\)\s*$", re.IGNORECASE)
_QUALIFIED_CAST = re.compile(r'::\s*"?pg_catalog"?\s*\.\s*"(\w+)"')


def expand(sql: str) -> list[str]:
    """One client statement as the statements to run, in order (usually just itself)."""
    if "pg_catalog" in sql:
        sql = _QUALIFIED_CAST.sub(r"::\1", sql)
    m = _MULTI.match(sql)
    if m is not None:
        names = re.findall(_IDENT, m.group("names"))
        head, tail = m.group("head").strip(), m.group("tail").strip()
        return [f"{head} {name} {tail}".strip() for name in names]
    if re.match(r"^\s*CREATE\s+TABLE", sql, re.IGNORECASE):
        sql = _FILLFACTOR.sub(")", sql)
    return [sql]
