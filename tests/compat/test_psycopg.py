"""psycopg 3 against a real 3-node raftsql cluster.

Source of truth: PGWIRE.md sections 2-6 (psycopg's _cursor_base.py, _preparing.py,
_server_cursor_base.py, types/numeric.py) and PostgreSQL 15's answers to the same calls.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors

pytestmark = pytest.mark.timeout(60)


def _connect(cluster, **kw):  # noqa: ANN001, ANN003, ANN202
    return psycopg.connect(cluster.dsn(), **kw)


def test_text_and_binary_parameters(cluster) -> None:  # noqa: ANN001
    with _connect(cluster, autocommit=True) as conn:
        conn.execute("CREATE TABLE p1 (id integer PRIMARY KEY, name text, amount numeric(10,2), "
                     "ok boolean, at timestamp, big bigint, f double precision, b bytea)")
        row = (1, "a'b", Decimal("3.50"), True, dt.datetime(2024, 1, 2, 3, 4, 5), 2**40, 0.5,
               b"\x00\xff")
        conn.execute("INSERT INTO p1 VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", row)
        row2 = (2,) + row[1:]
        conn.execute("INSERT INTO p1 VALUES (%b, %b, %b, %b, %b, %b, %b, %b)", row2)
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            got = cur.execute("SELECT * FROM p1 ORDER BY id").fetchall()
            assert got == [row, row2], binary
        # psycopg sends int2 for small ints (PGWIRE.md 4): compared with an int4 column
        assert conn.execute("SELECT name FROM p1 WHERE id = %b", (2,)).fetchone() == ("a'b",)
        assert conn.execute("SELECT count(*) FROM p1").fetchone() == (2,)


def test_interval_round_trip(cluster) -> None:  # noqa: ANN001
    """timedelta parameters in text (%s) and binary (%b) into an interval column, read back
    in both formats, ordered by span; text output is PostgreSQL's (IntervalStyle postgres).

    Source of truth: PostgreSQL 15 (interval_out/interval_send, interval_cmp) and psycopg's
    types/datetime.py (a month is read as 30 days, a year as 365, as against PostgreSQL)."""
    with _connect(cluster, autocommit=True) as conn:
        conn.execute("CREATE TABLE p_iv (id integer PRIMARY KEY, d interval)")
        values = [dt.timedelta(days=2, hours=1), dt.timedelta(seconds=-90.5), dt.timedelta(days=40)]
        conn.execute("INSERT INTO p_iv VALUES (1, %s), (2, %b)", values[:2])
        conn.execute("INSERT INTO p_iv VALUES (3, %b), (4, '1 mon')", values[2:])
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            got = cur.execute("SELECT id, d FROM p_iv ORDER BY d").fetchall()
            assert got == [(2, values[1]), (1, values[0]), (4, dt.timedelta(days=30)),
                           (3, values[2])], binary
        # the stored value keeps months apart: '1 mon' prints as such, and compares equal to
        # 30 days as in PostgreSQL
        assert conn.execute("SELECT d::text FROM p_iv WHERE id = 4").fetchone() == ("1 mon",)
        assert conn.execute("SELECT id FROM p_iv WHERE d = %s", (dt.timedelta(days=30),)
                            ).fetchall() == [(4,)]
        # timedelta(seconds=-90.5) is -1 day +86309.5 s in Python, and psycopg sends it so;
        # PostgreSQL 15 prints it back as below
        assert conn.execute("SELECT d::text FROM p_iv WHERE id = 2").fetchone() == (
            "-1 days +23:58:29.5",)
        with pytest.raises(errors.InvalidDatetimeFormat):
            conn.execute("SELECT 'fortnight'::interval")


def test_executemany_and_pipeline(cluster) -> None:  # noqa: ANN001
    with _connect(cluster, autocommit=True) as conn:
        conn.execute("CREATE TABLE p2 (k integer PRIMARY KEY, v text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO p2 VALUES (%s, %s)", [(i, str(i)) for i in range(20)])
        with conn.pipeline():
            conn.execute("INSERT INTO p2 VALUES (%s, %s)", (100, "x"))
            cur = conn.execute("SELECT v FROM p2 WHERE k = %s", (100,))
        assert cur.fetchone() == ("x",)
        assert conn.execute("SELECT count(*) FROM p2").fetchone() == (21,)


def test_transactions_and_errors(cluster) -> None:  # noqa: ANN001
    with _connect(cluster) as conn:
        conn.execute("CREATE TABLE p3 (k integer PRIMARY KEY, v text NOT NULL)")
        conn.commit()
        with conn.transaction():
            conn.execute("INSERT INTO p3 VALUES (1, 'a')")
            with pytest.raises(errors.UniqueViolation), conn.transaction():
                conn.execute("INSERT INTO p3 VALUES (1, 'b')")
            conn.execute("INSERT INTO p3 VALUES (2, 'b')")
        assert conn.execute("SELECT k FROM p3 ORDER BY k").fetchall() == [(1,), (2,)]
        conn.commit()
        with pytest.raises(errors.NotNullViolation):
            conn.execute("INSERT INTO p3 VALUES (3, NULL)")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        with pytest.raises(errors.InFailedSqlTransaction):
            conn.execute("SHOW transaction_read_only")  # session statements too
        conn.rollback()
        with pytest.raises(errors.UndefinedTable):
            conn.execute("SELECT * FROM missing_table")
        conn.rollback()
        with pytest.raises(errors.SyntaxError):
            conn.execute("SELECT FROM WHERE")
        conn.rollback()


def test_copy_text_csv_binary(cluster) -> None:  # noqa: ANN001
    with _connect(cluster, autocommit=True) as conn:
        conn.execute("CREATE TABLE p4 (id integer PRIMARY KEY, name text, n numeric(8,3))")
        with conn.cursor() as cur:
            with cur.copy("COPY p4 (id, name, n) FROM STDIN") as copy:
                for i in range(300):
                    copy.write_row((i, f"tab\there {i}" if i % 2 else None, Decimal(i) / 8))
            assert cur.rowcount == 300
            with cur.copy("COPY p4 FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write('1000,"comma, inside",1.5\n1001,,2\n1002,"",3\n')
            with cur.copy("COPY p4 FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", "text", "numeric"])
                copy.write_row((2000, "bin", Decimal("4.125")))
        got = conn.execute("SELECT id, name, n FROM p4 WHERE id IN (1, 2, 1000, 1001, 1002, 2000) "
                           "ORDER BY id").fetchall()
        assert got == [(1, "tab\there 1", Decimal("0.125")), (2, None, Decimal("0.250")),
                       (1000, "comma, inside", Decimal("1.500")), (1001, None, Decimal("2.000")),
                       (1002, "", Decimal("3.000")), (2000, "bin", Decimal("4.125"))]
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT id, name FROM p4 WHERE id IN (1, 2) ORDER BY id) "
                          "TO STDOUT") as copy:
                data = b"".join(bytes(b) for b in copy)
        assert data == b"1\ttab\\there 1\n2\t\\N\n"
        with conn.cursor() as cur:
            with cur.copy("COPY p4 TO STDOUT (FORMAT csv, HEADER)") as copy:
                text = b"".join(bytes(b) for b in copy).decode()
        assert text.splitlines()[0] == "id,name,n"
        assert len(text.splitlines()) == 1 + 300 + 3 + 1


def test_server_side_cursor(cluster) -> None:  # noqa: ANN001
    with _connect(cluster) as conn:
        conn.execute("CREATE TABLE p5 (k integer PRIMARY KEY)")
        for i in range(1, 6):
            conn.execute("INSERT INTO p5 VALUES (%s)", (i,))
        conn.commit()
        with conn.cursor(name="sc") as cur:
            cur.itersize = 2
            cur.execute("SELECT k FROM p5 ORDER BY k")
            assert [r[0] for r in cur] == [1, 2, 3, 4, 5]
        conn.commit()


def test_prepared_after_threshold(cluster) -> None:  # noqa: ANN001
    """psycopg prepares a query after 5 executions (_preparing.py): named Parse + Bind."""
    with _connect(cluster, autocommit=True) as conn:
        conn.execute("CREATE TABLE p6 (k integer PRIMARY KEY, v integer)")
        for i in range(8):
            conn.execute("INSERT INTO p6 VALUES (%s, %s)", (i, i * i))
        assert [conn.execute("SELECT v FROM p6 WHERE k = %s", (i,)).fetchone()[0]
                for i in range(8)] == [i * i for i in range(8)]
        conn.execute("DEALLOCATE ALL")
        assert conn.execute("SELECT v FROM p6 WHERE k = %s", (3,)).fetchone() == (9,)


def test_copy_is_all_or_nothing(cluster) -> None:  # noqa: ANN001
    """A COPY that fails half-way leaves no rows (PostgreSQL: COPY is one statement), also
    outside a transaction block and across batches."""
    with _connect(cluster, autocommit=True) as conn:
        conn.execute("CREATE TABLE p7 (k integer PRIMARY KEY)")
        with pytest.raises(errors.UniqueViolation), conn.cursor() as cur:
            with cur.copy("COPY p7 FROM STDIN") as copy:
                for i in range(2500):
                    copy.write_row((i,))
                copy.write_row((7,))
        assert conn.execute("SELECT count(*) FROM p7").fetchone() == (0,)
        with pytest.raises(errors.InvalidTextRepresentation), conn.cursor() as cur:
            with cur.copy("COPY p7 FROM STDIN") as copy:
                copy.write(b"1\n2\nnot-a-number\n")
        assert conn.execute("SELECT count(*) FROM p7").fetchone() == (0,)


def test_cancel(cluster) -> None:  # noqa: ANN001
    """libpq's cancel (PQcancel, via psycopg) stops the running statement: QueryCanceled
    (57014), and the connection stays usable (PGWIRE.md 7)."""
    import threading

    slow = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) "
            "SELECT count(*) FROM c")
    with _connect(cluster, autocommit=True) as conn:
        timer = threading.Timer(0.3, conn.cancel)
        timer.start()
        try:
            with pytest.raises(errors.QueryCanceled):
                conn.execute(slow)
        finally:
            timer.cancel()
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_leadership_change_is_reported(cluster) -> None:  # noqa: ANN001
    """After a leadership transfer the old leader's sessions get ParameterStatus
    in_hot_standby/default_transaction_read_only = on at their next ReadyForQuery (as
    PostgreSQL reports a promotion), so libpq sees the change without a query."""
    import time
    import urllib.request

    old = cluster.leader_id()
    with psycopg.connect(cluster.dsn(cluster.pg_ports[old]), autocommit=True) as conn:
        assert conn.info.parameter_status("in_hot_standby") == "off"
        target = next(i for i in cluster.pg_ports if i != old)
        url = f"http://127.0.0.1:{cluster.http_ports[old]}/cluster/transfer?id={target}"
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).read()
        deadline = time.monotonic() + 10
        while cluster.leader_id() in (None, old) and time.monotonic() < deadline:
            time.sleep(0.1)
        conn.execute("SELECT 1")
        assert conn.info.parameter_status("in_hot_standby") == "on"
        assert conn.info.parameter_status("default_transaction_read_only") == "on"
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
