"""Behaviour comparison with CPython's sqlite3: the same scripted sequence runs on
``sqlite3.connect`` and on ``raftsql.connect`` (SQLite dialect, default isolation level) and
must give the same rows, rowcounts, lastrowids, descriptions and exception classes.

Source of truth: sqlite3 itself (Python 3.11, legacy transaction control), run in the test.
An exception class matches when raftsql's error is an instance of the raftsql class with the
same name as sqlite3's: code that catches sqlite3.X catches raftsql's X.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import raftsql
import raftsql.dbapi as dbapi

# (method, sql, parameters); method "commit"/"rollback" take no sql.
SCRIPT: list[tuple[str, str, Any]] = [
    ("execute", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
                "age INT CHECK (age >= 0), note TEXT, pic BLOB)", ()),
    ("execute", "UPDATE users SET age = 1", ()),  # lastrowid: connection's last insert (0)
    ("execute", "INSERT INTO users (name, age) VALUES (?, ?)", ("ann", 30)),
    ("execute", "INSERT INTO users (name, age, pic) VALUES (:n, :a, :p)",
     {"n": "bob", "a": 25, "p": b"\x00\x01\xff"}),
    ("commit", "", None),
    ("execute", "SELECT * FROM users ORDER BY id", ()),
    ("execute", "INSERT INTO users (name, age) VALUES ('ann', 1)", ()),  # unique
    ("execute", "INSERT INTO users (name, age) VALUES (NULL, 1)", ()),  # not null
    ("execute", "INSERT INTO users (name, age) VALUES ('neg', -1)", ()),  # check
    ("execute", "UPDATE users SET age = age + 1 WHERE age > ?", (20,)),
    ("execute", "DELETE FROM users WHERE name = :n", {"n": "bob"}),
    ("rollback", "", None),
    ("execute", "SELECT count(*), sum(age), avg(age), max(name) FROM users", ()),
    ("executemany", "INSERT INTO users (name, age) VALUES (?, ?)",
     [("cat", 3), ("dan", 40), ("eve", 22)]),
    ("commit", "", None),
    ("execute", "INSERT OR IGNORE INTO users (name, age) VALUES ('ann', 99)", ()),
    ("execute", "INSERT INTO users (name, age) VALUES ('fay', 50) RETURNING id, name", ()),
    ("execute", "INSERT INTO users (id, name, age) VALUES (3, 'cat', 4) "
                "ON CONFLICT(id) DO UPDATE SET age = excluded.age", ()),
    ("commit", "", None),
    ("execute", "SELECT name, age, typeof(age), typeof(pic), pic FROM users ORDER BY name", ()),
    ("execute", "SELECT * FROM nope", ()),
    ("execute", "SELEC 1", ()),
    ("execute", "SELECT missing_column FROM users", ()),
    ("execute", "INSERT INTO users (name) VALUES (?, ?)", ("x",)),
    ("execute", "SELECT ?", (1, 2)),
    ("execute", "SELECT 1; SELECT 2", ()),
    ("execute", "COMMIT", ()),  # no transaction is active
    ("execute", "BEGIN", ()),
    ("execute", "BEGIN", ()),  # within a transaction
    ("execute", "INSERT INTO users (name, age) VALUES ('gus', 7)", ()),
    ("execute", "INSERT INTO users (name, age) VALUES ('gus', 8)", ()),  # fails alone
    ("execute", "INSERT INTO users (name, age) VALUES ('hal', 9)", ()),
    ("execute", "COMMIT", ()),
    ("execute", "SELECT name, age FROM users WHERE name IN ('gus', 'hal') ORDER BY 1", ()),
    ("execute", "INSERT INTO users (name, age) VALUES ('ivy', 1)", ()),
    ("execute", "CREATE TABLE scratch (a)", ()),  # DDL inside the open transaction
    ("execute", "SAVEPOINT sp", ()),
    ("execute", "DELETE FROM users", ()),
    ("execute", "ROLLBACK TO sp", ()),
    ("rollback", "", None),
    ("execute", "SELECT name FROM sqlite_master WHERE name = 'scratch'", ()),
    ("execute", "SELECT count(*) FROM users WHERE name = 'ivy'", ()),
    ("execute", "CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID", ()),
    ("execute", "CREATE INDEX users_age ON users (age)", ()),
    ("execute", "CREATE VIEW adults AS SELECT name FROM users WHERE age >= 18", ()),
    ("execute", "SELECT * FROM adults ORDER BY name", ()),
    ("executemany", "INSERT INTO kv VALUES (?, ?)", [("a", 1.5), ("b", None), ("c", "x")]),
    ("execute", "SELECT k, v, typeof(v) FROM kv ORDER BY k", ()),
    ("execute", "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) "
                "SELECT group_concat(x, ','), total(x) FROM n", ()),
    ("execute", "SELECT json_extract('{\"a\": [1, 2]}', '$.a[1]'), "
                "strftime('%Y', '2020-02-29'), 'a' || NULL, 7 / 2, 7 % 3, abs(-2.5)", ()),
    ("execute", "SELECT 9223372036854775807, -1e308 * 10, x'00ff'", ()),
    ("commit", "", None),
    ("execute", "DROP VIEW adults", ()),
    ("execute", "SELECT * FROM adults", ()),
    ("execute", "ALTER TABLE users ADD COLUMN email TEXT DEFAULT 'none'", ()),
    ("execute", "SELECT email FROM users ORDER BY id LIMIT 1", ()),
    ("execute", "INSERT INTO kv VALUES ('d', 1)", ()),
    ("execute", "PRAGMA table_info(kv)", ()),
    ("commit", "", None),
    ("execute", "DELETE FROM kv", ()),
    ("commit", "", None),
    ("execute", "SELECT count(*) FROM kv", ()),
    ("execute", "INSERT INTO kv SELECT name, age FROM users WHERE age IS NOT NULL", ()),
    ("execute", "UPDATE kv SET v = v * 2 WHERE v > 20 RETURNING k, v", ()),
    ("executemany", "UPDATE kv SET v = ? WHERE k = ?", [(1, "cat"), (2, "nobody"), (3, "ann")]),
    ("execute", "DELETE FROM kv", ()),
    ("execute", "INSERT INTO users (name, age) VALUES (?, ?)", ["jo", 5]),  # a list is a sequence
    ("execute", "INSERT INTO users (name, age) VALUES (:n, :a)", ("kim", 6)),  # named, by position
    ("execute", "SELECT ?", {"x": 1}),  # a mapping for a positional parameter
    ("execute", "SELECT :x", {"y": 1}),  # a missing name
    ("execute", "INSERT INTO users (name, age) VALUES ('jo', 1)", ()),  # lastrowid unchanged
    ("commit", "", None),
    ("execute", "SELECT name, age FROM users ORDER BY age IS NULL, age DESC, name", ()),
    ("execute", "SELECT 1 / 0, 5 / 2.0, '10' + 5, 'abc' < 'abd', NULL = NULL, "
                "coalesce(NULL, 'z'), printf('%05.1f', 3.14159), hex('A'), length(x'0102')", ()),
    ("execute", "SELECT date('2024-01-31', '+1 month'), julianday('2000-01-01'), "
                "datetime(0, 'unixepoch')", ()),
    ("execute", "CREATE TABLE strict_t (a INT) STRICT", ()),
    ("execute", "INSERT INTO strict_t VALUES ('not a number')", ()),
    ("execute", "CREATE TABLE parent (id INTEGER PRIMARY KEY)", ()),
    ("execute", "CREATE TABLE child (pid INT REFERENCES parent (id))", ()),
    ("execute", "INSERT INTO child VALUES (NULL)", ()),
    ("commit", "", None),
    ("executescript", "CREATE TABLE sc (a); INSERT INTO sc VALUES (1); INSERT INTO sc VALUES (2);",
     None),
    ("execute", "SELECT sum(a) FROM sc", ()),
    ("execute", "-- a leading comment\n/* and another */ INSERT INTO sc VALUES (3)", ()),
    ("rollback", "", None),  # the comment did not hide the DML: it was in a transaction
    ("execute", "SELECT sum(a) FROM sc", ()),
]


def run(con: Any, module: Any, script: list[tuple[str, str, Any]]) -> list[tuple[Any, ...]]:
    """Run a script; one observation per step."""
    out: list[tuple[Any, ...]] = []
    cur = con.cursor()
    for step, (method, sql, params) in enumerate(script):
        if method in ("commit", "rollback"):
            getattr(con, method)()
            out.append((step, method))
            continue
        try:
            if method == "executescript":
                cur.executescript(sql)
            else:
                getattr(cur, method)(sql, params)
        except module.Error as exc:
            names = [c.__name__ for c in type(exc).__mro__]
            out.append((step, sql, "error", names))
            continue
        rows = cur.fetchall()
        description = None if cur.description is None else [d[0] for d in cur.description]
        out.append((step, sql, rows, cur.rowcount, cur.lastrowid, description,
                    con.in_transaction))
    return out


def test_same_observations_as_sqlite3(tmp_path: Path) -> None:
    reference = sqlite3.connect(tmp_path / "ref.sqlite")
    ours = raftsql.connect(tmp_path / "raftsql")
    try:
        expected = run(reference, sqlite3, SCRIPT)
        actual = run(ours, dbapi, SCRIPT)
    finally:
        reference.close()
        ours.close()
    assert len(expected) == len(actual)
    for exp, act in zip(expected, actual, strict=True):
        if len(exp) == 4 and exp[2] == "error":
            # sqlite3's class name must be among the raftsql error's classes
            assert len(act) == 4 and act[2] == "error", (exp, act)
            assert exp[3][0] in act[3], (exp, act)
        else:
            assert exp == act


def random_script(seed: int, n: int = 150) -> list[tuple[str, str, Any]]:
    """A seeded sequence of writes, reads and transaction control over a table with a
    unique column, so constraint errors, statement-level undo, commit and rollback mix."""
    import random

    rng = random.Random(seed)
    script: list[tuple[str, str, Any]] = [
        ("execute", "CREATE TABLE r (k INTEGER PRIMARY KEY, u INT UNIQUE, v TEXT)", ())]
    for _ in range(n):
        roll = rng.random()
        k, u = rng.randint(1, 12), rng.randint(1, 8)
        if roll < 0.3:
            script.append(("execute", "INSERT INTO r (k, u, v) VALUES (?, ?, ?)",
                           (k if rng.random() < 0.5 else None, u, f"v{rng.randint(0, 99)}")))
        elif roll < 0.4:
            script.append(("executemany", "INSERT OR IGNORE INTO r (u, v) VALUES (?, ?)",
                           [(rng.randint(1, 12), "m") for _ in range(3)]))
        elif roll < 0.5:
            script.append(("execute", "UPDATE r SET u = ? WHERE k = ?", (u, k)))
        elif roll < 0.6:
            script.append(("execute", "UPDATE r SET v = v || '!' WHERE u > ?", (u,)))
        elif roll < 0.68:
            script.append(("execute", "DELETE FROM r WHERE k % ? = 0", (rng.randint(2, 5),)))
        elif roll < 0.8:
            script.append(("execute", "SELECT k, u, v FROM r ORDER BY k", ()))
        elif roll < 0.88:
            script.append(("commit", "", None))
        elif roll < 0.93:
            script.append(("rollback", "", None))
        elif roll < 0.96:
            script.append(("execute", "BEGIN", ()))
        else:
            script.append(("execute", "REPLACE INTO r (k, u, v) VALUES (?, ?, 'r')", (k, u)))
    script.append(("commit", "", None))
    script.append(("execute", "SELECT k, u, v FROM r ORDER BY k", ()))
    return script


def test_seeded_random_sequences_match_sqlite3(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        print(f"SEED={seed}")
        script = random_script(seed)
        reference = sqlite3.connect(tmp_path / f"ref{seed}.sqlite")
        ours = raftsql.connect(tmp_path / f"raftsql{seed}")
        try:
            expected = run(reference, sqlite3, script)
            actual = run(ours, dbapi, script)
        finally:
            reference.close()
            ours.close()
        for exp, act in zip(expected, actual, strict=True):
            if len(exp) == 4 and exp[2] == "error":
                assert act[2] == "error" and exp[3][0] in act[3], (seed, exp, act)
            else:
                assert exp == act, seed
