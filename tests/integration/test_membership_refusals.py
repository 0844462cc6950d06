"""Membership requests that make no sense are refused before anything is proposed, and a node
cut out of the cluster stops answering ``/readyz`` with 200.

Sources of truth: docs/operations.md ("Membership changes", "Monitoring"); etcd's membership
API, which refuses to add an existing member ("member already exists"), to promote anything but
a learner ("can only promote a learner member"), and to remove a non-member ("member not
found"); Raft thesis 3.10 (a leadership transfer goes to a voter) and 4.2.2 (a removed leader
steps down).

Each test runs real ``NodeServer``s (RocksDB log, TCP transport and the HTTP operations
endpoint on 127.0.0.1) in the test's own event loop, and talks to them over HTTP as
``raftsql cluster`` does; one runs the CLI itself against them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from raftsql.node.errors import MembershipError
from raftsql.raft.types import ConfChangeType
from raftsql.server.app import NodeServer, ServeOptions
from raftsql.sql.command import Command, Stmt, encode
from raftsql.testing.procs import HOST, free_port


def _options(node_id: int, data: Path, raft: dict[int, tuple[str, int]],
             join: bool = False) -> ServeOptions:
    return ServeOptions(node_id=node_id, data_dir=data, raft_listen=raft[node_id],
                        pg_listen=None, http_listen=(HOST, free_port()),
                        peers={i: a for i, a in raft.items() if i != node_id or not join},
                        join=join)


class Cluster:
    """In-process NodeServers: voters 1..n, and ``--join`` nodes added with ``join``."""

    def __init__(self, tmp: Path, n: int) -> None:
        self.tmp = tmp
        self.raft = {i: (HOST, free_port()) for i in range(1, n + 1)}
        self.servers: dict[int, NodeServer] = {}

    async def start(self) -> None:
        voters = dict(self.raft)
        for i in voters:
            server = NodeServer(_options(i, self.tmp / f"n{i}", voters))
            self.servers[i] = server
            await server.start()

    async def join(self, node_id: int) -> NodeServer:
        self.raft[node_id] = (HOST, free_port())
        server = NodeServer(_options(node_id, self.tmp / f"n{node_id}", self.raft, join=True))
        self.servers[node_id] = server
        await server.start()
        return server

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop(transfer=False)

    def addr(self, node_id: int) -> str:
        host, port = self.raft[node_id]
        return f"{host}:{port}"

    def http(self, node_id: int) -> str:
        opts = self.servers[node_id].opts
        assert opts.http_listen is not None
        return f"{HOST}:{opts.http_listen[1]}"

    async def leader(self, among: list[int] | None = None, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in among or list(self.servers):
                if self.servers[i].node.is_leader():
                    return i
            await asyncio.sleep(0.02)
        raise TimeoutError("no leader")

    async def post(self, node_id: int, path: str) -> tuple[int, dict[str, Any]]:
        code, body = await asyncio.to_thread(_request, self.http(node_id), path, "POST")
        return code, json.loads(body or b"{}")

    async def readyz(self, node_id: int) -> tuple[int, str]:
        code, body = await asyncio.to_thread(_request, self.http(node_id), "/readyz", "GET")
        return code, body.decode()

    def conf(self, node_id: int) -> tuple[list[int], list[int]]:
        st = self.servers[node_id].node.status_snapshot
        assert st is not None
        return list(st.conf_state.voters), list(st.conf_state.learners)


def _request(addr: str, path: str, method: str) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{addr}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _run(tmp: Path, n: int, body: Callable[[Cluster], Awaitable[None]]) -> None:
    async def main() -> None:
        c = Cluster(tmp, n)
        try:
            await c.start()
            await c.leader()
            await body(c)
        finally:
            await c.stop()

    asyncio.run(main())


async def _wait_for(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _refused(code: int, res: dict[str, Any], message: str) -> None:
    assert code == 409, (code, res)
    assert res["sqlstate"] == MembershipError.sqlstate == "55000", res
    assert message in res["error"], res


@pytest.mark.timeout(120)
def test_adding_a_voter_or_a_learner_again_is_refused(tmp_path: Path) -> None:
    """Defect 1: `cluster add` of a voter (the leader too) turned it into a learner."""

    async def body(c: Cluster) -> None:
        leader = await c.leader()
        follower = next(i for i in (1, 2, 3) if i != leader)
        for voter in (leader, follower):
            code, res = await c.post(leader, f"/cluster/add?id={voter}&addr={c.addr(voter)}")
            _refused(code, res, f"node {voter} is already a voter")
        # the CLI says so and exits 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "raftsql.cli", "cluster", "add", "--node", str(leader),
            "--addr", c.addr(leader), "--http", ",".join(c.http(i) for i in (1, 2, 3)),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 1, (out, err)
        assert f"node {leader} is already a voter" in out.decode(), (out, err)
        assert c.conf(leader) == ([1, 2, 3], [])

        addr4 = f"{HOST}:{free_port()}"  # nobody there: a learner does not count for quorum
        code, res = await c.post(leader, f"/cluster/add?id=4&addr={addr4}")
        assert code == 200 and res == {"voters": [1, 2, 3], "learners": [4]}, res
        # raftsql_nodes gives the address a member was added with (it gave NULL: it looked only
        # at the members the node was started with)
        rows = c.servers[leader].db.virtual_tables()["raftsql_nodes"][1]
        assert {r[0]: r[2] for r in rows} == {i: c.addr(i) for i in (1, 2, 3)} | {4: addr4}
        code, res = await c.post(leader, f"/cluster/add?id=4&addr={addr4}")
        _refused(code, res, "node 4 is already a learner")

        # Checked against the configuration including the change still pending: of two adds
        # of node 5 sent together, the second is refused as a member, not left to the core
        node = c.servers[leader].node
        results = await asyncio.gather(
            node.change_membership([(ConfChangeType.ADD_LEARNER, 5)], b"127.0.0.1:1"),
            node.change_membership([(ConfChangeType.ADD_LEARNER, 5)], b"127.0.0.1:1"),
            return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], MembershipError), results
        assert "node 5 is already a learner" in errors[0].message
        assert c.conf(leader) == ([1, 2, 3], [4, 5])

    _run(tmp_path, 3, body)


@pytest.mark.timeout(60)
def test_promoting_anything_but_a_learner_is_refused(tmp_path: Path) -> None:
    """Defect 2: promoting a node never added made a phantom voter, and a one-voter cluster
    lost its quorum for good."""

    async def body(c: Cluster) -> None:
        code, res = await c.post(1, "/cluster/promote?id=2")
        _refused(code, res, "node 2 is not a learner: can only promote a learner")
        code, res = await c.post(1, "/cluster/promote?id=1")
        _refused(code, res, "node 1 is already a voter")
        assert c.conf(1) == ([1], [])
        # still a quorum on its own: a write commits
        node = c.servers[1].node
        assert node.is_leader()
        await node.propose(encode(Command((Stmt("CREATE TABLE t (k INTEGER)"),))), timeout=5)

    _run(tmp_path, 1, body)


@pytest.mark.timeout(60)
def test_removing_a_non_member_is_refused(tmp_path: Path) -> None:
    """Defect 3."""

    async def body(c: Cluster) -> None:
        code, res = await c.post(1, "/cluster/remove?id=9")
        _refused(code, res, "node 9 is not a member")
        code, res = await c.post(1, "/cluster/remove?id=1")
        _refused(code, res, "refusing to remove the last voter")
        assert c.conf(1) == ([1], [])

    _run(tmp_path, 1, body)


@pytest.mark.timeout(120)
def test_transfer_to_a_non_voter_is_refused_at_once_and_to_the_leader_succeeds(
        tmp_path: Path) -> None:
    """Defect 4: a transfer to a non-member or a learner waited 5 s for "did not finish"."""

    async def body(c: Cluster) -> None:
        leader = await c.leader()
        code, res = await c.post(leader, f"/cluster/add?id=4&addr={HOST}:{free_port()}")
        assert code == 200, res
        for target in (9, 4):
            t0 = time.monotonic()
            code, res = await c.post(leader, f"/cluster/transfer?id={target}")
            _refused(code, res, f"node {target} is not a voter")
            assert time.monotonic() - t0 < 1.0
        t0 = time.monotonic()
        code, res = await c.post(leader, f"/cluster/transfer?id={leader}")
        assert code == 200 and res == {"leader_id": leader}, res
        assert time.monotonic() - t0 < 1.0
        assert c.servers[leader].node.is_leader()

    _run(tmp_path, 3, body)


@pytest.mark.timeout(120)
def test_add_needs_an_address_unless_the_node_knows_it(tmp_path: Path) -> None:
    """Defect 5: `cluster add` without --addr left a learner nobody could dial."""

    async def body(c: Cluster) -> None:
        leader = await c.leader()
        code, res = await c.post(leader, "/cluster/add?id=9")
        assert code == 400, res
        assert res["error"] == "bad request: an address is needed to add node 9 (addr=HOST:PORT)"
        assert res["sqlstate"] == "22023"
        code, res = await c.post(leader, "/cluster/add?id=9&addr=nowhere")
        assert code == 400 and "expected HOST:PORT" in res["error"], res
        assert c.conf(leader) == ([1, 2, 3], [])
        # A node the leader knows (here from --peers) is added with that address, which every
        # member then dials: the leader dropped it from its transport when it was removed.
        gone = next(i for i in (1, 2, 3) if i != leader)
        code, res = await c.post(leader, f"/cluster/remove?id={gone}")
        assert code == 200, res
        assert gone not in c.servers[leader].node.transport.peer_ids()
        code, res = await c.post(leader, f"/cluster/add?id={gone}")
        assert code == 200 and res["learners"] == [gone], res
        assert gone in c.servers[leader].node.transport.peer_ids()

        async def caught_up() -> bool:
            return c.conf(gone)[1] == [gone]

        await _wait_for(f"node {gone} to apply its return as a learner", caught_up, 20)

    _run(tmp_path, 3, body)


@pytest.mark.timeout(120)
def test_readyz_answers_503_on_a_removed_node(tmp_path: Path) -> None:
    """Defect 6: a removed node went on answering /readyz with 200.

    A removed learner is the case that stayed wrong for ever: the leader stops talking to it
    when it applies the removal, so the learner mostly never learns that it committed, and a
    learner never campaigns, so it went on naming its leader. A removed leader applies its
    removal itself."""

    async def body(c: Cluster) -> None:
        leader = await c.leader()
        await c.join(4)
        code, res = await c.post(leader, f"/cluster/add?id=4&addr={c.addr(4)}")
        assert code == 200, res

        async def ready4() -> bool:
            return (await c.readyz(4))[0] == 200

        await _wait_for("the learner to be ready", ready4, 20)
        code, res = await c.post(leader, "/cluster/remove?id=4")
        assert code == 200 and res["learners"] == [], res

        async def not_ready4() -> bool:
            return (await c.readyz(4))[0] == 503

        await _wait_for("the removed learner to be not ready", not_ready4, 5)
        # usually it never learns that its removal committed; when it does, it applies it
        _, text = await c.readyz(4)
        assert text.startswith(("not ready: no word from leader",
                                "not ready: node 4 is not a member of the cluster")), text

        code, res = await c.post(leader, f"/cluster/remove?id={leader}")
        assert code == 200 and leader not in res["voters"], res
        assert (await c.readyz(leader)) == (
            503, f"not ready: node {leader} is not a member of the cluster (removed, or not "
                 "added yet)\n")
        rest = [i for i in (1, 2, 3) if i != leader]
        await c.leader(among=rest)

        async def rest_ready() -> bool:
            codes = [(await c.readyz(i))[0] for i in rest]
            return codes == [200, 200]

        await _wait_for("the remaining voters to be ready", rest_ready, 20)
        assert (await c.readyz(leader))[0] == 503

    _run(tmp_path, 3, body)
