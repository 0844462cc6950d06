"""The COPY sub-conversation of a session: COPY ... FROM STDIN turns CopyData into batched
INSERTs inside one transaction; COPY ... TO STDOUT runs the query and streams CopyData.
Formats and grammar are in copy.py (PostgreSQL 15 docs 55.2.6 and the COPY reference page).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from raftsql import pgwire as pw
from raftsql.pgwire import oids as o
from raftsql.server import copy as copyfmt
from raftsql.server import inference, offloop
from raftsql.server.portal import Portal
from raftsql.server.values import encode_result, param_value
from raftsql.server.wire import Closed
from raftsql.sql.errors import SqlError
from raftsql.sql.translate import translate

COPY_BATCH_ROWS = 1000

if TYPE_CHECKING:
    from raftsql.server.session import PgSession


async def run_copy(session: PgSession, spec: copyfmt.CopySpec, _params: list[Any]) -> None:
    if session.dbs.status == "E":
        raise SqlError("25P02", "current transaction is aborted, commands ignored until "
                       "end of transaction block")
    if spec.direction == "to":
        await _copy_out(session, spec)
        return
    if session.dbs.txn is not None:
        count = await _copy_in(session, spec)
    else:
        # COPY is all or nothing: outside a block its batches share one implicit
        # transaction, proposed once at the end
        await session.guarded(session.db.begin_implicit(session.dbs), may_write=False)
        try:
            count = await _copy_in(session, spec)
        except BaseException:
            session.db.abort_implicit(session.dbs)
            raise
        await session.guarded(session.db.commit_implicit(session.dbs), may_write=True)
    session.send(pw.CommandComplete(f"COPY {count}"))


async def _copy_out(session: PgSession, spec: copyfmt.CopySpec) -> None:
    if spec.query is not None:
        stmt = await session.prepare(spec.query)
    else:
        cols = ", ".join(f'"{c}"' for c in spec.columns) if spec.columns else "*"
        stmt = await session.prepare(f'SELECT {cols} FROM "{spec.table}"')
    if stmt.kind not in ("sql", "answer") or not stmt.returns_rows:
        raise SqlError("42601", "COPY query must return rows")
    portal = Portal(stmt, [])
    await session.run_portal(portal)
    columns = portal.columns or ()
    fmt = 1 if spec.format == "binary" else 0
    session.send(pw.CopyOutResponse(fmt, (fmt,) * len(columns)))
    # binary: the PGCOPY header travels in the first row's CopyData, and with the trailer when
    # there is no row, as PostgreSQL buffers it (copyto.c, DoCopyTo); psycopg parses a
    # message that holds only the header as a row ("fields number truncated")
    pending = copyfmt.binary_header() if fmt == 1 else b""
    if fmt == 0 and spec.header:
        session.send(pw.BackendCopyData(copyfmt.header_row(spec, [c.name for c in columns])))
    count = 0
    for row in portal.rows:
        fields = [encode_result(c.oid or o.TEXT, v, fmt, c.scale)
                  for c, v in zip(columns, row, strict=False)]
        session.send(pw.BackendCopyData(pending + copyfmt.encode_row(spec, fields)))
        pending = b""
        count += 1
        if count % 1000 == 0:
            await session.maybe_flush()
    if fmt == 1:
        session.send(pw.BackendCopyData(pending + copyfmt.binary_trailer()))
    session.send(pw.BackendCopyDone())
    session.send(pw.CommandComplete(f"COPY {count}"))


async def _copy_in(session: PgSession, spec: copyfmt.CopySpec) -> int:
    assert spec.table is not None
    table_cols = session._schema(spec.table)
    if not table_cols:
        raise SqlError("42P01", f'relation "{spec.table}" does not exist')
    names = list(spec.columns) if spec.columns else list(table_cols)
    for n in names:
        if n not in table_cols:
            raise SqlError("42703", f'column "{n}" of relation "{spec.table}" does not exist')
    oids = [inference.declared_column(n, table_cols[n]).oid or o.TEXT for n in names]
    fmt = 1 if spec.format == "binary" else 0
    session.send(pw.CopyInResponse(fmt, (fmt,) * len(names)))
    decoder = copyfmt.Decoder(spec, len(names))
    batch: list[list[Any]] = []
    count = 0
    error: SqlError | None = None
    collist = ", ".join(f'"{n}"' for n in names)
    while True:
        ev = await session.event()
        if isinstance(ev, pw.CopyData):
            if error is not None:
                continue
            try:
                for row in decoder.feed(ev.data):
                    batch.append([param_value(oid, f, fmt) for oid, f in
                                  zip(oids, row, strict=True)])
                    if len(batch) >= COPY_BATCH_ROWS:
                        count += await _insert_batch(session, spec.table, collist, batch)
                        batch = []
            except SqlError as exc:
                error = exc
            continue
        if isinstance(ev, pw.CopyFail):
            raise SqlError("57014", f"COPY from stdin failed: {ev.message}")
        if isinstance(ev, pw.Terminate):
            raise Closed
        assert isinstance(ev, pw.CopyDone)
        break
    if error is not None:
        raise error
    for row in decoder.finish():
        batch.append([param_value(oid, f, fmt) for oid, f in zip(oids, row, strict=True)])
    if batch:
        count += await _insert_batch(session, spec.table, collist, batch)
    return count


async def _insert_batch(session: PgSession, table: str, collist: str, rows: list[list[Any]]) -> int:
    width = len(rows[0])
    per = max(1, min(len(rows), 30_000 // max(width, 1)))
    done = 0
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        marks, n = [], 0
        for _ in chunk:
            marks.append("(" + ", ".join(f"${n + i + 1}" for i in range(width)) + ")")
            n += width
        sql = f'INSERT INTO "{table}" ({collist}) VALUES {", ".join(marks)}'
        await offloop.analyse_long(sql)  # the first chunk's text: most of a second
        t = translate(sql)[0]
        flat = [v for row in chunk for v in row]
        result = await session.guarded(session.db.run(session.dbs, t, flat),
                                    may_write=session.dbs.txn is None)
        done += result.rowcount
        # Let the Raft loop run between chunks (ticks, heartbeats): a COPY's chunks execute
        # on the event loop and, with the client's data already buffered, nothing else would
        # yield; 100 k rows held the leader's loop past the election timeout (pgbench -i).
        await asyncio.sleep(0)
    return done
