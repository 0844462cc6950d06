"""snapshot.content_checksum builds each table's bytes in SQL, in key-range chunks; these tests
hold it to the definition in the module docstring, written out here value by value in Python
(the first implementation), on the cases where SQL and Python could disagree."""

from __future__ import annotations

import hashlib

import apsw
import pytest

from raftsql.sql import snapshot
from raftsql.sql.snapshot import EXCLUDED_TABLES, _encode, _q, content_checksum


def reference_checksum(conn: apsw.Connection) -> str:
    """The checksum as defined: schema rows, then every table's rows in key order, each value
    tagged with its storage class (snapshot._encode)."""
    h = hashlib.sha256()
    schema = list(
        conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    )
    for row in schema:
        h.update(b"".join(map(_encode, row)))
    for kind, name, _tbl, sql in schema:
        sql = (sql or "").upper()
        if kind != "table" or name in EXCLUDED_TABLES or sql.startswith("CREATE VIRTUAL"):
            continue
        if "WITHOUT ROWID" in sql:
            pk = sorted((r[5], r[1]) for r in conn.execute(f"PRAGMA table_info({_q(name)})")
                        if r[5])
            query = f"SELECT * FROM {_q(name)} ORDER BY " + ", ".join(_q(c) for _, c in pk)
        else:
            query = f"SELECT rowid, * FROM {_q(name)} ORDER BY rowid"
        h.update(b"\x00table:" + name.encode())
        for row in conn.execute(query):
            h.update(b"\x01" + b"".join(map(_encode, row)))
    return h.hexdigest()


@pytest.fixture
def conn() -> apsw.Connection:
    c = apsw.Connection(":memory:")
    c.execute(
        'CREATE TABLE "odd ""name""" (a, b TEXT, c REAL, d BLOB);'
        "CREATE TABLE w (k TEXT COLLATE NOCASE, j INTEGER, v, PRIMARY KEY (j, k)) WITHOUT ROWID;"
        "CREATE TABLE g (id INTEGER PRIMARY KEY, t TEXT, twice AS (id * 2) VIRTUAL, "
        "tag AS (t || '!') STORED);"
        "CREATE TABLE empty (x);"
        "CREATE TABLE _raftsql_meta (x); INSERT INTO _raftsql_meta VALUES (42);"
    )
    values = [
        None, 0, 1, -1, 2**63 - 1, -(2**63), 1.5, -0.0, 1e300, float("inf"), 2.5e-310,
        "", "héllo", "a\x00b", "\x00", "'quoted'", "1", b"", b"\x00\xff", b"1",
    ]
    rows = [(values[i % len(values)], values[(i * 7) % len(values)],
             values[(i * 3) % len(values)], values[(i * 5) % len(values)]) for i in range(61)]
    c.executemany('INSERT INTO "odd ""name""" VALUES (?, ?, ?, ?)', rows)
    c.execute('DELETE FROM "odd ""name""" WHERE rowid % 9 = 0')  # gaps in the rowids
    c.executemany("INSERT INTO w VALUES (?, ?, ?)",
                  [(k, j, v) for j in (3, -2, 0) for k, v in zip(("b", "A", "a2", "Z", "é"),
                                                                   values, strict=False)])
    c.executemany("INSERT INTO g (id, t) VALUES (?, ?)", [(i * 3, f"t{i}") for i in range(-5, 40)])
    return c


@pytest.mark.parametrize("chunk_rows", [1, 2, 7, 4096])
def test_the_checksum_is_the_defined_one_at_any_chunk_size(
    conn: apsw.Connection, chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "CHECKSUM_CHUNK_ROWS", chunk_rows)
    assert content_checksum(conn) == reference_checksum(conn)


def test_a_storage_class_and_text_past_a_nul_count(conn: apsw.Connection) -> None:
    before = content_checksum(conn)
    conn.execute("UPDATE w SET v = 1.0 WHERE v = 1")  # same number, another storage class
    assert content_checksum(conn) != before
    conn.execute("UPDATE w SET v = 1 WHERE v = 1.0")
    assert content_checksum(conn) == before
    conn.execute('UPDATE "odd ""name""" SET b = ? WHERE b = ?', ("a\x00c", "a\x00b"))  # past a NUL
    assert content_checksum(conn) != before


def test_a_column_named_rowid_does_not_hide_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks are paged by the real rowid even when a column takes the name `rowid` (here
    repeated and NULL): every row is hashed, in rowid order."""
    monkeypatch.setattr(snapshot, "CHECKSUM_CHUNK_ROWS", 2)
    c = apsw.Connection(":memory:")
    c.execute("CREATE TABLE t (rowid, v)")
    c.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (1, "b"), (None, "c"), (0, "d")])
    before = content_checksum(c)
    c.execute("UPDATE t SET v = 'z' WHERE v = 'c'")  # the row whose `rowid` column is NULL
    assert content_checksum(c) != before
