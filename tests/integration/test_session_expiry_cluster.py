"""Session expiry on three real nodes: sessions go at the same index everywhere, the table
stays bounded, and a copy of an applied request that comes too late is refused, not applied.

Sources of truth: docs/transactions.md "Session expiry" (the rule and why it is safe);
ARCHITECTURE.md "Determinism" (every node reaches the same content at the same index,
checked by content checksums); Raft thesis section 6.3 (a duplicate is never applied twice).
Three real RaftNodes (RocksDB log, TCP transport on 127.0.0.1, SQLite state machine) run in
this event loop, with a window of 64 entries so that expiry happens within the test; requests
go through followers too (forwarded proposals), each carrying its node's applied index as the
SQL layer sets it.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from inproc import start_nodes, stop_nodes, wait_leader

from raftsql.node.driver import RaftNode
from raftsql.sql.command import Command, Stmt, encode

WINDOW = 64
CLIENTS = 40
WRITES = 400


def _insert(node: RaftNode, client: int, seq: int, proposed_at: int | None = None) -> bytes:
    at = max(1, node.sm.applied_index()) if proposed_at is None else proposed_at
    return encode(Command((Stmt("INSERT INTO t VALUES (?, ?)", (client, seq)),), proposed_at=at))


@pytest.mark.timeout(120)
def test_sessions_expire_alike_on_every_node_and_a_late_copy_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes, sms = await start_nodes(tmp_path, session_window=WINDOW)
        try:
            leader = await wait_leader(nodes)
            await leader.propose(encode(Command((Stmt("CREATE TABLE t (c INTEGER, s INTEGER)"),))))
            rng = random.Random(5)
            seqs = dict.fromkeys(range(CLIENTS), 0)
            first_data = b""

            async def client(n: int) -> None:
                nonlocal first_data
                for _ in range(WRITES // CLIENTS):
                    node = rng.choice(nodes)
                    seqs[n] += 1
                    data = _insert(node, n, seqs[n])
                    if n == 0 and seqs[n] == 1:
                        first_data = data
                    await node.propose(data, f"conn-{n}".encode(), seqs[n])
                    await asyncio.sleep(rng.random() * 0.01)

            await asyncio.gather(*(client(n) for n in range(CLIENTS)))
            # idle clients' sessions go: filler entries, past two expiry points
            for _ in range(WINDOW + 8):
                await leader.propose(encode(Command((Stmt("SELECT 1"),))))
            # a copy of client 0's first request, long after its proposal and its session:
            # refused, where applying it would apply that request a second time
            index, results = await leader.propose_indexed(first_data, b"conn-0", 1)
            assert results[0].error is not None and results[0].error[0] == "40001", results
            assert "entries later, and was not applied" in results[0].error[1]
            target = max(sm.applied_index() for sm in sms)
            for _ in range(400):
                if all(sm.applied_index() >= target for sm in sms):
                    break
                await asyncio.sleep(0.05)
            await leader.propose(encode(Command((Stmt("SELECT 1"),))))  # all at one index
            for _ in range(400):
                indexes = {sm.applied_index() for sm in sms}
                if len(indexes) == 1:
                    break
                await asyncio.sleep(0.05)
            assert len({sm.applied_index() for sm in sms}) == 1
            assert len({sm.db.checksum() for sm in sms}) == 1
            for sm in sms:
                with sm.db._auth.internal():  # test-only look at the state
                    sessions = list(sm.db._conn.execute("SELECT count(*) FROM _raftsql_sessions"))
                    rows = list(sm.db._conn.execute("SELECT count(*), count(DISTINCT c || '.' || s) "
                                                    "FROM t"))
                assert sessions == [(0,)], "every session was idle for more than the window"
                assert rows == [(WRITES, WRITES)], "a request was applied twice, or lost"
        finally:
            await stop_nodes(nodes, sms)

    asyncio.run(scenario())
