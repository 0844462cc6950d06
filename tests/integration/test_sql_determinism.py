"""Every node reaches the same SQLite content from the same log, however nondeterministic the
SQL, and the divergence detector notices a node whose file was changed behind Raft's back.

Sources of truth: ARCHITECTURE.md "Determinism" (every node must reach byte-identical SQLite
state; the leader fixes now()/random()/gen_random_uuid(), and column DEFAULTs or triggers that
use them, before it proposes); docs/sql.md "Determinism" (how each construct is fixed); Raft
paper section 5.4.3 / Figure 3 (State Machine Safety: every server applies the same command at
each index) - equal content checksums are its observable consequence.

Triggers: the Postgres frontend refuses CREATE TRIGGER (PostgreSQL's form needs CREATE
FUNCTION, and both are 0A000, docs/sql.md "Refused"). The system's supported trigger form is
SQLite's ``CREATE TRIGGER .. BEGIN ..; END`` through the embedded DB-API driver's SQLite dialect
(docs/dbapi.md "The SQLite dialect"), which refuses triggers that read the clock or random()
themselves (0A000). So the cluster here is node 1 embedded in this test process (DB-API, SQLite
dialect, also serving Postgres and HTTP) plus nodes 2 and 3 as ``raftsql serve`` processes; the
triggers fire on rows whose values come from now(), random(), gen_random_uuid() and
nondeterministic DEFAULTs written over the Postgres wire to all three nodes.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from pathlib import Path
from typing import Any

import apsw
import asyncpg
import pytest

from raftsql import dbapi
from raftsql.testing.procs import HOST, ProcessCluster

pytest.importorskip("raftsql.server.frontend", reason="the Postgres frontend is not built yet")

RETRY = {"40001", "57P03", "40003"}

SCHEMA = [
    """CREATE TABLE ev (id serial PRIMARY KEY, note text,
         at timestamptz DEFAULT now(), uid uuid DEFAULT gen_random_uuid(),
         r double precision DEFAULT random(), day date DEFAULT CURRENT_DATE)""",
    "CREATE TABLE stamp (k integer PRIMARY KEY, at timestamptz, r double precision, u uuid)",
]

# SQLite-form triggers (node 1's DB-API, SQLite dialect): they copy the fixed values of the
# row that fired them, and one cascades into an UPDATE, so a trigger that saw a different value
# on some node would change that node's checksum.
TRIGGERS = [
    "CREATE TABLE ev_audit (id INTEGER PRIMARY KEY, ev_id INT, what TEXT, at TEXT, uid TEXT, "
    "r REAL)",
    "CREATE TRIGGER ev_ins AFTER INSERT ON ev BEGIN INSERT INTO ev_audit (ev_id, what, at, uid, r) "
    "VALUES (NEW.id, 'ins', NEW.at, NEW.uid, NEW.r); END",
    "CREATE TRIGGER ev_upd AFTER UPDATE OF r ON ev BEGIN INSERT INTO ev_audit (ev_id, what, at, "
    "uid, r) VALUES (NEW.id, 'upd ' || OLD.r, NEW.at, NEW.uid, NEW.r); "
    "UPDATE stamp SET r = NEW.r, at = NEW.at WHERE k = NEW.id % 7; END",
    "CREATE TRIGGER ev_del BEFORE DELETE ON ev BEGIN INSERT INTO ev_audit (ev_id, what, uid) "
    "VALUES (OLD.id, 'del', OLD.uid); END",
]

# The PostgreSQL workload: (sql, args). {n} is the client number, {i} the iteration.
WORKLOAD: list[tuple[str, tuple[Any, ...]]] = [
    ("INSERT INTO ev (note) VALUES ('a{n}.{i}'), ('b{n}.{i}')", ()),
    ("INSERT INTO ev (note, r, at) VALUES ($1, random(), now())", ("p{n}.{i}",)),
    ("INSERT INTO ev (note) SELECT 'g{n}.{i}.' || g FROM generate_series(1, 3) AS g(g)", ()),
    ("INSERT INTO ev (note, uid) VALUES (gen_random_uuid()::text, gen_random_uuid())", ()),
    ("UPDATE ev SET r = random(), at = now() WHERE id % 5 = {n}", ()),
    ("INSERT INTO stamp (k, at, r, u) VALUES ({n} * 1000 + {i}, CURRENT_TIMESTAMP, random(), "
     "gen_random_uuid()) ON CONFLICT (k) DO UPDATE SET r = random()", ()),
    ("DELETE FROM ev WHERE id IN (SELECT id FROM ev ORDER BY random() LIMIT 1)", ()),
    ("UPDATE ev SET note = note || ' ' || now()::text WHERE id = (SELECT min(id) FROM ev)", ()),
]

TXN = [  # one interactive transaction per iteration: now() and random() inside BEGIN..COMMIT
    "BEGIN",
    "INSERT INTO ev (note) VALUES ('txn')",
    "UPDATE stamp SET r = random(), at = now() WHERE k % 2 = 0",
    "INSERT INTO stamp (k, at, r, u) SELECT max(k) + 1, now(), random(), gen_random_uuid() "
    "FROM stamp",
    "COMMIT",
]


async def _pg_client(dsns: list[str], n: int, iterations: int) -> int:
    """One client: the workload statements then one transaction, per iteration, on a node
    chosen at random (writes to followers are forwarded). Returns acknowledged statements."""
    rng = random.Random(n)
    done = 0
    for i in range(iterations):
        conn = await asyncpg.connect(rng.choice(dsns), timeout=5, statement_cache_size=0)
        try:
            for sql, args in WORKLOAD:
                for attempt in range(10):
                    try:
                        await conn.execute(sql.format(n=n, i=i), *args, timeout=20)
                        break
                    except asyncpg.PostgresError as exc:  # definitely not applied: retry
                        if exc.sqlstate not in ("40001", "57P03") or attempt == 9:
                            raise
                        await asyncio.sleep(0.1)
                done += 1
            for attempt in range(100):  # per-table conflicts with the other clients: 40001
                try:
                    for sql in TXN:
                        await conn.execute(sql, timeout=20)
                    done += 1
                    break
                except asyncpg.PostgresError as exc:
                    if exc.sqlstate not in RETRY or attempt == 99:
                        raise
                    if conn.is_in_transaction():
                        await conn.execute("ROLLBACK")
                    await asyncio.sleep(rng.uniform(0, 0.05))
        finally:
            await conn.close()
    return done


def _http_wait_converged(c: ProcessCluster, ids: list[int], timeout: float = 30) -> int:
    """ProcessCluster.wait_converged, for a set that includes the in-process node 1."""
    deadline = time.monotonic() + timeout
    last: dict[int, Any] = {}
    while time.monotonic() < deadline:
        sts = {i: c.http(i, "/status") for i in ids}
        last = {i: (s.get("applied_index"), s.get("commit_index")) for i, s in sts.items()}
        applied = {a for a, _ in last.values()}
        commits = {ci for _, ci in last.values()}
        if len(applied) == 1 and max(commits) == next(iter(applied)):
            return next(iter(applied))
        time.sleep(0.05)
    raise TimeoutError(f"nodes did not converge: {last}")


def _wait_all_know_a_leader(c: ProcessCluster, ids: list[int], timeout: float = 30) -> None:
    """Every node answers /status naming a leader and accepts Postgres connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(c.http(i, "/status", timeout=1).get("leader_id") for i in ids):
                for i in ids:  # and the Postgres listener is up
                    socket.create_connection((HOST, c.nodes[i].pg_port), timeout=1).close()
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError("no leader known to every node")


@pytest.mark.timeout(150)
def test_nondeterministic_workload_and_triggers_leave_identical_files(tmp_path: Path) -> None:
    with ProcessCluster(tmp_path, 3) as c:
        c.start(2)
        c.start(3)
        n1 = c.nodes[1]
        peers = {i: f"{HOST}:{n.raft_port}" for i, n in c.nodes.items()}
        con = dbapi.connect(node={
            "node_id": 1, "data_dir": str(n1.data_dir), "raft_listen": peers[1], "peers": peers,
            "pg_listen": f"{HOST}:{n1.pg_port}", "http_listen": f"{HOST}:{n1.http_port}",
        }, isolation_level=None, read_consistency="linearizable")
        try:
            _wait_all_know_a_leader(c, [1, 2, 3])
            dsns = [n.pg_dsn for n in c.nodes.values()]

            async def setup() -> None:
                conn = await asyncpg.connect(dsns[1], timeout=5, statement_cache_size=0)
                for ddl in SCHEMA:
                    await conn.execute(ddl, timeout=10)
                await conn.execute("INSERT INTO stamp (k) SELECT g FROM generate_series(0, 6) "
                                   "AS g(g)")
                await conn.close()

            asyncio.run(setup())
            for ddl in TRIGGERS:
                con.execute(ddl)

            async def load() -> list[int]:
                return list(await asyncio.gather(*(_pg_client(dsns, n, 6) for n in range(5))))

            acked = sum(asyncio.run(load()))
            # and from the SQLite side: the dialect's own clock and random functions
            for i in range(20):
                con.execute("INSERT INTO ev (note, r) VALUES (datetime('now') || ?, random())",
                            (str(i),))
                con.execute("UPDATE ev SET r = abs(random()) % 1000 WHERE id = "
                            "(SELECT max(id) FROM ev)")
            applied = _http_wait_converged(c, [1, 2, 3])
            sums = {i: c.http(i, "/checksum") for i in c.nodes}
            assert {s["applied_index"] for s in sums.values()} == {applied}
            assert len({s["checksum"] for s in sums.values()}) == 1, f"checksums differ: {sums}"

            # the workload did exercise the nondeterministic paths (else equality is trivial)
            rows = con.execute("SELECT count(*), count(DISTINCT uid), count(DISTINCT r), "
                               "count(DISTINCT at), min(day) IS NOT NULL FROM ev").fetchone()
            assert acked == 5 * 6 * (len(WORKLOAD) + 1)
            count, uids, rs, ats, has_day = rows
            assert count > 100 and uids == count and rs > count * 0.9 and ats > 5 and has_day
            kinds = dict(con.execute("SELECT substr(what, 1, 3), count(*) FROM ev_audit "
                                     "GROUP BY 1").fetchall())
            assert kinds.get("ins", 0) >= count and kinds.get("upd", 0) > 0 and kinds.get("del")
        finally:
            con.close()


@pytest.mark.timeout(60)
def test_trigger_reading_the_clock_or_random_is_refused(tmp_path: Path) -> None:
    """docs/dbapi.md "The SQLite dialect": a trigger that reads the clock or random() would
    compute a different value on every node, so it is refused with NotSupportedError 0A000."""
    con = dbapi.connect(tmp_path / "single", isolation_level=None)
    try:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT, r INT)")
        con.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, t_id INT, at TEXT, r INT)")
        for body in ("INSERT INTO log (t_id, at) VALUES (NEW.id, datetime('now'))",
                     "INSERT INTO log (t_id, r) VALUES (NEW.id, random())",
                     "UPDATE log SET at = CURRENT_TIMESTAMP WHERE t_id = NEW.id"):
            with pytest.raises(dbapi.NotSupportedError) as info:
                con.execute(f"CREATE TRIGGER tr AFTER INSERT ON t BEGIN {body}; END")
            assert info.value.sqlstate == "0A000"
        con.execute("INSERT INTO t (at) VALUES (datetime('now'))")  # still serving
        assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        con.close()


@pytest.mark.timeout(60)
def test_trigger_filling_a_nondeterministic_default_is_refused(tmp_path: Path) -> None:
    """A trigger's INSERT that leaves out a column whose default reads the clock would have
    each node compute that default when the trigger fires. It was accepted, and from then on
    every INSERT into the trigger's table failed with XX000 on every node; it is refused at
    CREATE TRIGGER with 0A000, like a trigger that reads the clock itself."""
    con = dbapi.connect(tmp_path / "single", isolation_level=None)
    try:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        con.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, t_id INT, "
                    "at TEXT DEFAULT CURRENT_TIMESTAMP)")
        con.execute('CREATE TABLE "begin" (id INTEGER PRIMARY KEY, "begin" INT)')
        for head, body in (
            ("AFTER INSERT ON t", "INSERT INTO log (t_id) VALUES (NEW.id)"),
            ("AFTER INSERT ON t",
             "UPDATE t SET v = 'x' WHERE 0; INSERT OR IGNORE INTO \"log\" DEFAULT VALUES"),
            ("AFTER INSERT ON t", "REPLACE INTO log (id, t_id) VALUES (NEW.id, NEW.id)"),
            ("AFTER INSERT ON t", "INSERT INTO log AS l (t_id) VALUES (NEW.id)"),
            # "begin" naming a column or the table: the body still starts at the right BEGIN
            ("AFTER UPDATE OF begin ON begin WHEN NEW.begin > 0",
             "INSERT INTO log (t_id) VALUES (NEW.id)"),
        ):
            with pytest.raises(dbapi.NotSupportedError) as info:
                con.execute(f"CREATE TRIGGER tr {head} BEGIN {body}; END")
            assert info.value.sqlstate == "0A000"
            assert "at" in str(info.value)
        # giving the column a value, or no column list (every column given), is accepted
        con.execute("CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
                    "INSERT INTO log (t_id, at) VALUES (NEW.id, NEW.v); END")
        con.execute("CREATE TRIGGER tr2 AFTER UPDATE ON t BEGIN "
                    "INSERT INTO log VALUES (NULL, NEW.id, NEW.v); END")
        con.execute("INSERT INTO t (v) VALUES ('a')")
        con.execute("UPDATE t SET v = 'b'")
        assert con.execute("SELECT t_id, at FROM log ORDER BY id").fetchall() == [
            (1, "a"), (1, "b")]
        # a table named "trigger" is not a trigger
        con.execute("CREATE TABLE trigger AS SELECT datetime('now') AS x")
    finally:
        con.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_migration_creates_a_table_with_a_clock_default_and_fills_it(
    tmp_path: Path, dialect: str
) -> None:
    """One transaction creates a table whose column defaults to the clock, inserts its first
    rows and adds a trigger (as a migration does). The leader fixed such an INSERT against the
    committed schema, where the table did not exist yet, so the INSERT failed with XX000; and
    the trigger check missed the table. Both now see the transaction's own tables."""
    con = dbapi.connect(tmp_path / "single", dialect=dialect, isolation_level=None)
    clock = "CURRENT_TIMESTAMP" if dialect == "sqlite" else "now()"
    try:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        con.execute("BEGIN")
        con.execute(f"CREATE TABLE log (id INTEGER PRIMARY KEY, t_id INT, at TEXT DEFAULT {clock})")
        con.execute("INSERT INTO log (id, t_id) VALUES (1, 5)")
        if dialect == "sqlite":  # triggers are SQLite syntax
            with pytest.raises(dbapi.NotSupportedError):
                con.execute("CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
                            "INSERT INTO log (t_id) VALUES (NEW.id); END")
            con.execute("ROLLBACK")
            con.execute("BEGIN")
            con.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, t_id INT, "
                        f"at TEXT DEFAULT {clock})")
            con.execute("INSERT INTO log (id, t_id) VALUES (1, 5)")
        con.execute("COMMIT")
        rows = con.execute("SELECT id, t_id, at FROM log").fetchall()
        assert [r[:2] for r in rows] == [(1, 5)] and rows[0][2] is not None
    finally:
        con.close()


@pytest.mark.timeout(60)
def test_insert_with_a_table_alias_fills_the_listed_columns(tmp_path: Path) -> None:
    """INSERT INTO t AS alias (cols): the column list follows the alias. It used to be
    missed, and the leader, completing the INSERT with the nondeterministic default, put the
    values into the table's leading columns instead of the listed ones."""
    con = dbapi.connect(tmp_path / "single", isolation_level=None)
    try:
        con.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, t_id INT, "
                    "at TEXT DEFAULT CURRENT_TIMESTAMP)")
        con.execute("INSERT INTO log AS l (t_id) VALUES (7)")
        row = con.execute("SELECT id, t_id, at FROM log").fetchone()
        assert row[:2] == (1, 7) and row[2] is not None
    finally:
        con.close()


async def _insert_many(dsns: list[str], n: int, concurrency: int = 32) -> int:
    """n autocommit INSERTs (n log entries), spread over the nodes; returns acknowledged."""
    counter = iter(range(n))
    ok = 0

    async def worker(w: int) -> None:
        nonlocal ok
        conn: asyncpg.Connection | None = None
        for i in counter:
            try:
                if conn is None:
                    conn = await asyncpg.connect(dsns[(w + i) % len(dsns)], timeout=5,
                                                 statement_cache_size=0)
                await conn.execute("INSERT INTO ev (note) VALUES ($1)", f"f{i}", timeout=10)
                ok += 1
            except asyncpg.PostgresError as exc:
                if exc.sqlstate not in RETRY:
                    raise
            except (TimeoutError, OSError, asyncpg.InterfaceError):
                if conn is not None:  # a slow moment on a loaded machine: another node
                    conn.terminate()
                conn = None
        if conn is not None:
            await conn.close()

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return ok


@pytest.mark.timeout(150)
def test_divergence_detector_fires_on_a_tampered_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints (a content checksum every N entries, hashed off the apply path,
    raftsql/sql/apply.py; N = 1000 here through RAFTSQL_CHECKPOINT_EVERY, inherited by the node
    processes) are compared between nodes; a follower whose state.sqlite was edited while it
    was down records a different checksum at the next checkpoint and the detector reports it."""
    monkeypatch.setenv("RAFTSQL_CHECKPOINT_EVERY", "1000")
    with ProcessCluster(tmp_path, 3) as c:
        c.start()
        leader = c.wait_for_leader(timeout=20)
        dsns = [n.pg_dsn for n in c.nodes.values()]

        async def setup() -> None:
            conn = await asyncpg.connect(c.nodes[leader].pg_dsn, timeout=5,
                                         statement_cache_size=0)
            await conn.execute(SCHEMA[0])
            await conn.execute("INSERT INTO ev (note) VALUES ('original')")
            await conn.close()

        asyncio.run(setup())
        c.wait_converged(timeout=20)
        victim = next(i for i in c.nodes if i != leader)
        c.kill(victim)
        db = apsw.Connection(str(c.nodes[victim].data_dir / "sql" / "state.sqlite"))
        db.execute("UPDATE ev SET note = 'tampered' WHERE note = 'original'")
        assert db.changes() == 1
        db.close()
        c.start(victim)
        _wait_all_know_a_leader(c, list(c.nodes))
        start = c.status(leader)["commit_index"]
        target = (start // 1000 + 1) * 1000 + 50  # past the next checkpoint index
        acked = asyncio.run(_insert_many(dsns, target - start))
        assert acked > 0
        while c.status(c.wait_for_leader())["commit_index"] < target:
            asyncio.run(_insert_many(dsns, 50, concurrency=8))
        c.wait_converged(timeout=30)

        healthy = [i for i in c.nodes if i != victim]
        deadline = time.monotonic() + 20  # the detector polls every 5 s
        flagged: dict[int, dict[str, int]] = {}
        while time.monotonic() < deadline:
            flagged = {i: c.status(i)["diverged_from"] for i in c.nodes}
            if all(flagged[i] for i in c.nodes):
                break
            time.sleep(0.5)
        assert flagged[victim], f"the tampered node saw no divergence: {flagged}"
        for i in healthy:
            assert set(flagged[i]) == {str(victim)}, f"node {i} flagged {flagged[i]}"
        assert "DIVERGENCE" in c.logs(victim)
        assert any("DIVERGENCE" in c.logs(i) for i in healthy)
        # the checksums confirm it: the two healthy nodes agree, the tampered one does not
        sums = {i: c.http(i, "/checksum")["checksum"] for i in c.nodes}
        assert sums[healthy[0]] == sums[healthy[1]] != sums[victim], sums
