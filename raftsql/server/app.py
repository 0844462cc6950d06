"""One ``raftsql serve`` process: the Raft node, its SQL state machine, the Postgres frontend and
the operations endpoint, started together and stopped together.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftsql.node.database import Database
from raftsql.node.driver import NodeConfig, RaftNode
from raftsql.node.errors import NodeError
from raftsql.node.sqlsm import SqlStateMachine
from raftsql.raft.types import ConfChangeType, NodeId
from raftsql.server.auth import Users
from raftsql.server.backup import BackupSource
from raftsql.server.http import HttpServer, Response, json_response
from raftsql.server.metrics import FrontendCounters, make_registry, render

log = logging.getLogger("raftsql.server")


def parse_addr(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT with a port from 0 to 65535, got {text!r}")
    return host.strip("[]"), int(port)


def parse_peers(text: str) -> dict[NodeId, tuple[str, int]]:
    peers: dict[NodeId, tuple[str, int]] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        ident, sep, addr = item.partition("=")
        if not sep or not ident.isdigit() or int(ident) <= 0:
            raise ValueError(f"expected ID=HOST:PORT with a positive id, got {item!r}")
        peers[int(ident)] = parse_addr(addr)
    return peers


@dataclass
class ServeOptions:
    node_id: NodeId
    data_dir: Path
    raft_listen: tuple[str, int]
    pg_listen: tuple[str, int] | None
    http_listen: tuple[str, int] | None
    peers: dict[NodeId, tuple[str, int]]
    cluster_id: str = "raftsql"
    secret: bytes | None = None
    join: bool = False
    tick_ms: int = 50
    election_tick: int = 10
    snapshot_entries: int | None = None
    users_file: Path | None = None
    ack_spin_us: int = 500
    clock_rate: float = 1.0
    """Testing only: scale this node's clock (clock-drift fault injection, Jepsen suite)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Refuse configurations that cannot work or would be unsafe, before touching disk."""
        if not self.join and self.node_id not in self.peers:
            raise ValueError(f"--peers must list this node ({self.node_id}) unless --join is given")
        if self.tick_ms <= 0 or self.election_tick < 3:
            raise ValueError("--tick-ms must be > 0 and --election-tick >= 3")
        if not 0 <= self.ack_spin_us <= 100_000:
            raise ValueError("--ack-spin-us must be between 0 and 100000")
        if self.pg_listen is not None:
            host = self.pg_listen[0]
            loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
            if not loopback and self.users_file is None:
                raise ValueError(
                    "trust authentication is allowed only on loopback listeners: "
                    f"--pg-listen {host} needs --users-file (SCRAM-SHA-256 users)")
        if self.users_file is not None:
            # read now, so that a bad file fails `--check` and a start before its data dir
            Users.load(self.users_file)


def _bad_request(exc: Exception) -> Response:
    """400 in the usual error shape, SQLSTATE 22023 (invalid_parameter_value)."""
    msg = f"missing parameter {exc}" if isinstance(exc, KeyError) else str(exc)
    return json_response({"error": f"bad request: {msg}", "sqlstate": "22023"}, 400)


class AddressBook:
    """Raft addresses of members added after bootstrap, kept in the data dir across restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.addresses: dict[NodeId, tuple[str, int]] = {}
        if path.exists():
            raw = json.loads(path.read_text())
            self.addresses = {int(k): (v[0], int(v[1])) for k, v in raw.items()}

    def add(self, node_id: NodeId, addr: tuple[str, int]) -> None:
        self.addresses[node_id] = addr
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({str(k): list(v) for k, v in self.addresses.items()}))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(self.path)


class NodeServer:
    def __init__(self, opts: ServeOptions) -> None:
        self.opts = opts
        self.frontend_counters = FrontendCounters()
        self.book = AddressBook(Path(opts.data_dir) / "peers.json")
        peers = dict(opts.peers)
        for pid, addr in self.book.addresses.items():
            peers.setdefault(pid, addr)
        self.sm = SqlStateMachine(Path(opts.data_dir) / "sql")
        self.node = RaftNode(
            NodeConfig(
                node_id=opts.node_id,
                data_dir=Path(opts.data_dir),
                raft_listen=opts.raft_listen,
                peers=peers,
                cluster_id=opts.cluster_id,
                secret=opts.secret,
                join=opts.join,
                tick_interval=opts.tick_ms / 1000,
                election_tick=opts.election_tick,
                snapshot_entries=opts.snapshot_entries,
                clock_rate=opts.clock_rate,
                ack_spin=opts.ack_spin_us / 1e6,
            ),
            self.sm,
            rpc_handler=self._rpc,
        )
        self.diverged: dict[NodeId, tuple[int, str, str]] = {}
        self._divergence_task: asyncio.Task[None] | None = None
        self.node.on_member_added = self._member_added
        self.http: HttpServer | None = None
        self.pg: Any = None
        self._stop = asyncio.Event()

    def _member_added(self, node_id: NodeId, context: bytes) -> None:
        if not context:
            return
        try:
            addr = parse_addr(context.decode())
        except (UnicodeDecodeError, ValueError):
            log.warning("member %d added with an unreadable address %r", node_id, context)
            return
        if node_id != self.opts.node_id:
            self.book.add(node_id, addr)
            self.node.add_peer_address(node_id, *addr)

    async def _rpc(self, peer: NodeId, method: str, body: Any) -> Any:
        if method == "checkpoints":
            return self.sm.db.checkpoints()[-20:]
        raise ValueError(f"unknown RPC method {method!r}")

    async def _watch_divergence(self, interval: float = 5.0) -> None:
        """Compare state checksums recorded at the same log index with every peer; a mismatch
        means a node's SQLite state diverged (a determinism bug or a tampered file)."""
        while True:
            await asyncio.sleep(interval)
            mine = dict(self.sm.db.checkpoints()[-20:])
            for peer in self.node.transport.peer_ids():
                try:
                    theirs = await self.node.transport.rpc(peer, "checkpoints", None, timeout=5)
                except Exception:
                    continue
                for index, checksum in theirs:
                    ours = mine.get(index)
                    if ours is not None and ours != checksum and peer not in self.diverged:
                        self.diverged[peer] = (index, ours, checksum)
                        log.error("DIVERGENCE: node %d and node %d disagree on the state at index "
                                  "%d (%s != %s)", self.opts.node_id, peer, index, ours, checksum)

    async def start(self) -> None:
        await self.node.start()
        self.db = Database(self.node, self.sm)
        self._divergence_task = asyncio.create_task(self._watch_divergence())
        if self.opts.http_listen is not None:
            self.http = HttpServer(self._routes())
            await self.http.start(*self.opts.http_listen)
        if self.opts.pg_listen is not None:
            try:
                from raftsql.server.frontend import PgFrontend
            except ImportError:
                log.warning("the Postgres frontend is not available in this build")
            else:
                self.pg = PgFrontend(self.db, self.opts.pg_listen, self.opts.users_file,
                                     self.frontend_counters)
                await self.pg.start()

    async def stop(self, transfer: bool = True) -> None:
        if self._divergence_task is not None:
            self._divergence_task.cancel()
        if self.pg is not None:
            await self.pg.close()
        if self.http is not None:
            await self.http.close()
        await self.node.stop(transfer=transfer)
        self.db.close()
        self.sm.close()

    async def run_until_signalled(self, on_serving: Callable[[], None] | None = None) -> bool:
        """Serve until SIGTERM or SIGINT, or until the Raft loop fails; ``on_serving`` runs once
        everything listens. False if the Raft loop failed: a node that applies nothing more
        must not go on accepting clients and answering /healthz, so the process ends (with a
        non-zero status, for its supervisor to see) as etcd's does on a fatal error."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        await self.start()
        log.info("node %d serving: raft %s, pg %s, http %s", self.opts.node_id,
                 self.opts.raft_listen, self.opts.pg_listen, self.opts.http_listen)
        if on_serving is not None:
            on_serving()
        signalled = asyncio.ensure_future(self._stop.wait())
        failed = asyncio.ensure_future(self.node.failed.wait())
        await asyncio.wait((signalled, failed), return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        failed.cancel()
        ok = not self.node.failed.is_set()
        if ok:
            log.info("node %d shutting down", self.opts.node_id)
        else:
            log.error("node %d shutting down: its Raft loop failed", self.opts.node_id)
        await self.stop(transfer=ok)  # a failed loop can hand nothing over
        return ok

    # ------------------------------------------------------------------ operations endpoint

    def _not_ready_reason(self) -> str | None:
        """Why this node should get no clients (``/readyz`` 503), or None when it should.

        Not ready: a node outside its applied configuration (it applied its removal, or was
        started with ``--join`` and not added yet); a node that knows no leader, or has not
        heard from it for an election timeout; one whose applied index trails its commit index
        by more than 1000 entries. The silence matters for a removed node: the leader stops
        talking to it once the removal is applied, usually before the node learns that the
        removal committed, so it never applies it, and a learner (or a removed node that did
        apply it) never campaigns either: it would name its old leader for ever."""
        node = self.node
        st = node.status_snapshot
        if st is None:
            return "starting"
        cs = st.conf_state
        if node.id not in {*cs.voters, *cs.learners, *cs.voters_outgoing, *cs.learners_next}:
            return f"node {node.id} is not a member of the cluster (removed, or not added yet)"
        if not st.leader_id:
            return "no leader is known"
        silent = node.ticks_since_leader_contact()
        if silent >= node.cfg.election_tick:
            return (f"no word from leader {st.leader_id} for {silent * node.cfg.tick_interval:.1f}"
                    " s, over an election timeout (cut off, or removed from the cluster)")
        applied = node.reads.applied
        if applied < st.commit - 1000:
            return f"applied index {applied} trails the commit index {st.commit} by over 1000"
        return None

    def _address_to_add(self, node_id: NodeId, addr: str) -> str:
        """The Raft address ``HOST:PORT`` to add ``node_id`` with: ``addr`` checked, or when
        none is given the one this node knows (``--peers`` or a past membership change) so
        that every member can dial it. ValueError when neither is there: a learner nobody
        can dial would only wait forever."""
        if addr:
            parse_addr(addr)
            return addr
        known = self.book.addresses.get(node_id) or self.opts.peers.get(node_id)
        if known is None:
            raise ValueError(f"an address is needed to add node {node_id} (addr=HOST:PORT)")
        host, port = known
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _routes(self) -> dict[tuple[str, str], Any]:
        registry = make_registry(self.node, self.frontend_counters)
        backups = BackupSource(self.node, self.sm, Path(self.opts.data_dir))

        async def status(_q: dict[str, str]) -> Response:
            d = self.node.describe()
            d["diverged_from"] = {str(k): v[0] for k, v in self.diverged.items()}
            return json_response(d)

        async def checksum(_q: dict[str, str]) -> Response:
            # O(database) on a thread of its own: on the loop, hashing 100 MB stalled the node
            # for seconds, and a leader lost its term (issue 8, fourteenth round)
            index, digest = await asyncio.to_thread(self.sm.db.checksum_at)
            return json_response({"applied_index": index, "checksum": digest})

        async def metrics(_q: dict[str, str]) -> Response:
            return 200, "text/plain; version=0.0.4; charset=utf-8", render(registry)

        async def healthz(_q: dict[str, str]) -> Response:
            return 200, "text/plain", b"ok\n"

        async def readyz(_q: dict[str, str]) -> Response:
            why = self._not_ready_reason()
            if why is None:
                return 200, "text/plain", b"ready\n"
            return 503, "text/plain", f"not ready: {why}\n".encode()

        async def membership(q: dict[str, str], kind: ConfChangeType) -> Response:
            try:
                node_id = int(q["id"])
                if node_id <= 0:
                    raise ValueError(f"node ids are positive, not {node_id}")
                addr = q.get("addr", "")
                if kind is ConfChangeType.ADD_LEARNER:
                    addr = self._address_to_add(node_id, addr)
                cs = await self.node.change_membership([(kind, node_id)], addr.encode())
            except (KeyError, ValueError) as exc:
                return _bad_request(exc)
            except NodeError as exc:  # MembershipError: refused; or not the leader
                return json_response({"error": exc.message, "sqlstate": exc.sqlstate}, 409)
            return json_response({"voters": list(cs.voters), "learners": list(cs.learners)})

        async def add(q: dict[str, str]) -> Response:
            return await membership(q, ConfChangeType.ADD_LEARNER)

        async def promote(q: dict[str, str]) -> Response:
            return await membership(q, ConfChangeType.ADD_VOTER)

        async def remove(q: dict[str, str]) -> Response:
            return await membership(q, ConfChangeType.REMOVE_NODE)

        async def transfer(q: dict[str, str]) -> Response:
            try:
                to = int(q["id"]) if "id" in q else None
                leader = await self.node.transfer_leadership(to)
            except ValueError as exc:
                return _bad_request(exc)
            except NodeError as exc:
                return json_response({"error": exc.message, "sqlstate": exc.sqlstate}, 409)
            return json_response({"leader_id": leader})

        return {
            ("GET", "/status"): status,
            ("GET", "/metrics"): metrics,
            ("GET", "/healthz"): healthz,
            ("GET", "/checksum"): checksum,
            ("GET", "/readyz"): readyz,
            ("GET", "/backup"): backups.handle,
            ("POST", "/cluster/add"): add,
            ("POST", "/cluster/promote"): promote,
            ("POST", "/cluster/remove"): remove,
            ("POST", "/cluster/transfer"): transfer,
        }
