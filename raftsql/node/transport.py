"""TCP transport between Raft nodes: length-prefixed frames, an authenticated handshake, one
outbound connection per peer with a bounded queue, reconnect with backoff.

Identity is the node id proven in the handshake, never the address: the address in ``--peers``
may be a proxy (ARCHITECTURE.md, command line contract). A frame that does not decode, is too
large, or claims to come from another node closes that one connection with a log line; the node
keeps running.

Frame payloads start with a channel byte:

- ``CH_RAFT``: one Raft message (``raftsql.codec.encode_message``);
- ``CH_RPC_REQUEST`` / ``CH_RPC_REPLY``: application requests between nodes (forwarded
  statements and reads), msgpack ``[request_id, method, body]`` / ``[request_id, ok, body]``.

Handshake (each side's first frames, msgpack arrays)::

    dialer   -> acceptor  [MAGIC, VERSION, cluster_id, dialer_id, dialer_nonce]
    acceptor -> dialer    [MAGIC, VERSION, cluster_id, acceptor_id, acceptor_nonce, acceptor_mac]
    dialer   -> acceptor  [dialer_mac]

With a shared cluster secret each MAC is HMAC-SHA256 over the role, both nonces, both ids and the
cluster id, so a peer that does not know the secret cannot complete the handshake and a recorded
handshake cannot be replayed (fresh nonces). Without a secret the MACs are empty; a node that has
a secret refuses a peer that sends an empty one.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack

from raftsql.codec import CodecError, FrameDecoder, decode_message, encode_frame, encode_message
from raftsql.raft.types import Message, MessageType, NodeId, SnapshotMetadata

log = logging.getLogger("raftsql.transport")

MAGIC = "raftsql"
VERSION = 1
CH_RAFT = 1
CH_RPC_REQUEST = 2
CH_RPC_REPLY = 3

HANDSHAKE_TIMEOUT = 5.0
HANDSHAKE_MAX_FRAME = 4096
READ_CHUNK = 256 * 1024
WRITE_BUFFER_LIMIT = 32 << 20
"""Bytes queued in one peer socket's buffer beyond which new messages are dropped."""

RpcHandler = Callable[[NodeId, str, Any], Awaitable[Any]]


class HandshakeError(Exception):
    """The peer is not a member of this cluster, or could not prove the shared secret."""


class RpcError(Exception):
    """An RPC could not be delivered or the remote handler failed; ``body`` is its answer."""

    def __init__(self, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.body = body


def _mac(
    secret: bytes | None,
    role: bytes,
    cluster_id: str,
    ids: tuple[int, int],
    nonces: tuple[bytes, bytes],
) -> bytes:
    if not secret:
        return b""
    material = b"|".join(
        [role, cluster_id.encode(), str(ids[0]).encode(), str(ids[1]).encode(), *nonces]
    )
    return hmac.new(secret, material, hashlib.sha256).digest()


def _check_mac(secret: bytes | None, got: Any, want: bytes) -> None:
    if not isinstance(got, bytes):
        raise HandshakeError("malformed handshake proof")
    if secret and not hmac.compare_digest(got, want):
        raise HandshakeError("peer could not prove the cluster secret")
    if not secret and got:
        raise HandshakeError("peer uses a cluster secret and this node has none")


async def _read_handshake_frame(reader: asyncio.StreamReader) -> bytes:
    """Read exactly one small frame, so no byte after the handshake is consumed here."""
    header = await reader.readexactly(4)
    n = int.from_bytes(header, "big")
    if n > HANDSHAKE_MAX_FRAME:
        raise HandshakeError(f"handshake frame of {n} bytes")
    return await reader.readexactly(n)


async def _read_frame(
    reader: asyncio.StreamReader, decoder: FrameDecoder, pending: collections.deque[bytes]
) -> bytes:
    while not pending:
        data = await reader.read(READ_CHUNK)
        if not data:
            raise ConnectionError("connection closed by peer")
        pending.extend(decoder.feed(data))
    return pending.popleft()


def _unpack_array(frame: bytes, n_min: int) -> list[Any]:
    try:
        value = msgpack.unpackb(frame, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise HandshakeError(f"undecodable handshake: {exc}") from None
    if not isinstance(value, list) or len(value) < n_min:
        raise HandshakeError("malformed handshake")
    return value


@dataclass
class TransportStats:
    sent: int = 0
    received: int = 0
    dropped_full_queue: int = 0
    refused_connections: int = 0
    bad_frames: int = 0
    connects: int = 0
    per_peer_dropped: dict[NodeId, int] = field(default_factory=dict)


class _Peer:
    """The outbound side to one peer: a bounded queue drained by one sender task."""

    def __init__(self, peer_id: NodeId, host: str, port: int, max_queue: int) -> None:
        self.id = peer_id
        self.host = host
        self.port = port
        self.queue: collections.deque[bytes] = collections.deque()
        self.max_queue = max_queue
        self.task: asyncio.Task[None] | None = None
        self.connected = False
        self.writer: asyncio.StreamWriter | None = None
        self.snapshot_stream: asyncio.Task[None] | None = None
        self.streaming: SnapshotMetadata | None = None  # the snapshot snapshot_stream sends


class TcpTransport:
    """Moves Raft messages (and small RPCs) between nodes over TCP.

    ``send`` never blocks: it appends to the peer's bounded queue, dropping the message when the
    queue is full (Raft tolerates loss; the leader retries). ``on_message`` is called for every
    authenticated inbound message; ``on_unreachable`` when a peer's connection fails, so the
    leader can stop pipelining to it.
    """

    def __init__(
        self,
        node_id: NodeId,
        cluster_id: str,
        listen: tuple[str, int],
        peers: dict[NodeId, tuple[str, int]],
        on_message: Callable[[Message], None],
        *,
        on_unreachable: Callable[[NodeId], None] = lambda _id: None,
        rpc_handler: RpcHandler | None = None,
        secret: bytes | None = None,
        max_frame: int = 64 << 20,
        max_queue: int = 8192,
    ) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.listen = listen
        self.on_message = on_message
        self.on_unreachable = on_unreachable
        self.rpc_handler = rpc_handler
        self.secret = secret or None
        self.max_frame = max_frame
        self.max_queue = max_queue
        self.stats = TransportStats()
        self._peers: dict[NodeId, _Peer] = {}
        self._server: asyncio.Server | None = None
        self._inbound: set[asyncio.Task[None]] = set()  # RPCs being served
        self._connections: set[_Inbound] = set()
        self._rpc_waiters: dict[int, asyncio.Future[Any]] = {}
        self._rpc_seq = 0
        self._closed = False
        for pid, (host, port) in peers.items():
            if pid != node_id:
                self._peers[pid] = _Peer(pid, host, port, max_queue)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        host, port = self.listen
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Inbound(self), host, port)
        for peer in self._peers.values():
            peer.task = asyncio.create_task(self._sender(peer), name=f"raft-send-{peer.id}")

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        tasks = [p.task for p in self._peers.values() if p.task] + list(self._inbound)
        tasks += [p.snapshot_stream for p in self._peers.values() if p.snapshot_stream]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for peer in self._peers.values():
            if peer.writer is not None:
                peer.writer.close()
        if self._server is not None:
            await self._server.wait_closed()
        for fut in self._rpc_waiters.values():
            if not fut.done():
                fut.set_exception(RpcError("transport closed"))

    def add_peer(self, peer_id: NodeId, host: str, port: int) -> None:
        """Start dialing a new member (membership change)."""
        if peer_id == self.node_id or peer_id in self._peers:
            return
        peer = _Peer(peer_id, host, port, self.max_queue)
        self._peers[peer_id] = peer
        if self._server is not None:
            peer.task = asyncio.create_task(self._sender(peer), name=f"raft-send-{peer_id}")

    def remove_peer(self, peer_id: NodeId) -> None:
        peer = self._peers.pop(peer_id, None)
        if peer is not None:
            for task in (peer.task, peer.snapshot_stream):
                if task is not None:
                    task.cancel()

    def peer_ids(self) -> list[NodeId]:
        return sorted(self._peers)

    def peer_address(self, peer_id: NodeId) -> tuple[str, int] | None:
        """The address this node dials ``peer_id`` at, or None for an unknown peer."""
        peer = self._peers.get(peer_id)
        return None if peer is None else (peer.host, peer.port)

    def is_connected(self, peer_id: NodeId) -> bool:
        peer = self._peers.get(peer_id)
        return bool(peer and peer.connected)

    # ------------------------------------------------------------------ sending

    def send(self, msgs: Sequence[Message]) -> None:
        if len(msgs) == 1 and msgs[0].type is not MessageType.SNAP:
            m = msgs[0]
            peer = self._peers.get(m.to)
            if peer is not None:
                self._enqueue(peer, bytes((CH_RAFT,)) + encode_message(m))
            return
        # a Ready's messages to one peer leave in one write (one syscall, one TCP segment),
        # encoded peer by peer: the first follower's append leaves before the next one's is
        # encoded
        by_peer: dict[NodeId, list[Message]] = {}
        chunks: dict[NodeId, list[Message]] = {}
        for m in msgs:
            (chunks if m.type is MessageType.SNAP else by_peer).setdefault(m.to, []).append(m)
        for peer_id, snapshot in chunks.items():
            peer = self._peers.get(peer_id)
            if peer is not None:
                self._stream_snapshot(peer, snapshot)
        for peer_id, group in by_peer.items():
            peer = self._peers.get(peer_id)
            if peer is not None:
                self._enqueue(peer, *[bytes((CH_RAFT,)) + encode_message(m) for m in group])

    def _enqueue(self, peer: _Peer, *payloads: bytes) -> bool:
        """Write straight into a connected peer's socket buffer (no task hop on the hot path);
        while disconnected, keep a bounded backlog for the sender task to flush on connect.
        A socket buffer above WRITE_BUFFER_LIMIT means the peer is not keeping up: drop."""
        writer = peer.writer
        # is_closing(): the peer may have reset the connection before the sender task noticed;
        # uvloop raises on a write to a closed transport, which would end the Raft loop.
        if writer is not None and not writer.is_closing() and not peer.queue:
            if writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
                self._drop(peer)
                return False
            writer.write(b"".join(encode_frame(p, self.max_frame) for p in payloads))
            self.stats.sent += len(payloads)
            return True
        for payload in payloads:
            if len(peer.queue) >= peer.max_queue:
                self._drop(peer)
                return False
            peer.queue.append(payload)
        return True

    def _stream_snapshot(self, peer: _Peer, chunks: list[Message]) -> None:
        """Send a snapshot's chunks one at a time, each after the socket drained the last.

        Why not like other messages: a snapshot is the whole database. Encoded and written at
        once it sat in memory several times over and in the socket's user-space buffer whole
        (1.6 GiB of a leader's heap for a 392 MiB database, bench/snapshot_bench.py);
        streamed, one chunk is encoded at a time and the chunks are views of the mapped
        snapshot file (SnapshotFiles.load). Other messages to the peer keep flowing between
        chunks, so heartbeats are not held up behind it; Raft lets them overtake.

        A different snapshot replaces one still streaming. The same one sent again is ignored
        while it streams: the core resends when a follower stayed in SNAPSHOT for two election
        timeouts, a big snapshot takes longer than that to send, and started over each time
        it would never arrive. A connection lost midway ends the stream; the core's next
        resend starts a new one."""
        snap = chunks[0].snapshot
        assert snap is not None
        running = peer.snapshot_stream is not None and not peer.snapshot_stream.done()
        if running and peer.streaming == snap.metadata:
            return
        if peer.snapshot_stream is not None:
            peer.snapshot_stream.cancel()
        peer.streaming = snap.metadata
        peer.snapshot_stream = asyncio.get_running_loop().create_task(
            self._write_chunks(peer, chunks), name=f"raft-snapshot-{peer.id}")

    async def _write_chunks(self, peer: _Peer, chunks: list[Message]) -> None:
        """One connection only: after a reconnect the peer has lost the chunks in flight, and
        the core sends the snapshot again."""
        writer = peer.writer
        for m in chunks:
            if writer is None or writer.is_closing() or peer.writer is not writer:
                self._drop(peer)
                return
            payload = bytes((CH_RAFT,)) + encode_message(m)
            writer.write(encode_frame(payload, self.max_frame))
            self.stats.sent += 1
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                self._drop(peer)
                return

    def _drop(self, peer: _Peer) -> None:
        self.stats.dropped_full_queue += 1
        self.stats.per_peer_dropped[peer.id] = self.stats.per_peer_dropped.get(peer.id, 0) + 1

    async def rpc(self, peer_id: NodeId, method: str, body: Any, timeout: float) -> Any:
        """Call ``method`` on a peer and wait for its answer (forwarded statements and reads)."""
        peer = self._peers.get(peer_id)
        if peer is None:
            raise RpcError(f"unknown peer {peer_id}")
        self._rpc_seq += 1
        rid = self._rpc_seq
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._rpc_waiters[rid] = fut
        try:
            payload = bytes((CH_RPC_REQUEST,)) + msgpack.packb([rid, method, body])
            if not self._enqueue(peer, payload):
                raise RpcError(f"queue to peer {peer_id} is full")
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._rpc_waiters.pop(rid, None)

    async def _sender(self, peer: _Peer) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(peer.host, peer.port, limit=READ_CHUNK),
                    HANDSHAKE_TIMEOUT,
                )
            except (TimeoutError, OSError):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            try:
                await self._dial_handshake(peer, reader, writer)
                peer.connected = True
                self.stats.connects += 1
                backoff = 0.05
                self._flush_backlog(peer, writer)
                peer.writer = writer  # from now on send() writes directly
                await self._read_replies(peer, reader)
            except (
                TimeoutError,
                OSError,
                ConnectionError,
                HandshakeError,
                CodecError,
                asyncio.IncompleteReadError,
            ) as exc:
                log.warning("node %d: connection to peer %d failed: %s", self.node_id, peer.id, exc)
            finally:
                peer.connected = False
                peer.writer = None
                writer.close()
            self.on_unreachable(peer.id)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def _flush_backlog(self, peer: _Peer, writer: asyncio.StreamWriter) -> None:
        frames = [encode_frame(p, self.max_frame) for p in peer.queue]
        peer.queue.clear()
        if frames:
            writer.write(b"".join(frames))
            self.stats.sent += len(frames)

    async def _read_replies(self, peer: _Peer, reader: asyncio.StreamReader) -> None:
        """The dialed connection carries RPC replies back; anything else is a protocol error.
        Returns (raises) when the connection ends."""
        decoder = FrameDecoder(self.max_frame)
        pending: collections.deque[bytes] = collections.deque()
        while True:
            frame = await _read_frame(reader, decoder, pending)
            if not frame or frame[0] != CH_RPC_REPLY:
                raise CodecError("unexpected frame on an outbound connection")
            self._on_rpc_reply(frame[1:])

    def _on_rpc_reply(self, body: bytes) -> None:
        try:
            rid, ok, value = msgpack.unpackb(body, raw=False)
        except Exception as exc:
            raise CodecError(f"malformed RPC reply: {exc}") from None
        fut = self._rpc_waiters.get(rid)
        if fut is not None and not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(RpcError(str(value), value))

    async def _dial_handshake(
        self, peer: _Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonce = os.urandom(16)
        writer.write(
            encode_frame(msgpack.packb([MAGIC, VERSION, self.cluster_id, self.node_id, nonce]))
        )
        await writer.drain()
        frame = await asyncio.wait_for(_read_handshake_frame(reader), HANDSHAKE_TIMEOUT)
        magic, version, cluster_id, peer_id, peer_nonce, peer_mac = _unpack_array(frame, 6)[:6]
        if magic != MAGIC or version != VERSION:
            raise HandshakeError("peer does not speak the raftsql transport")
        if cluster_id != self.cluster_id:
            raise HandshakeError(f"peer belongs to cluster {cluster_id!r}")
        if peer_id != peer.id:
            raise HandshakeError(
                f"expected node {peer.id} at {peer.host}:{peer.port}, got {peer_id}"
            )
        if not isinstance(peer_nonce, bytes):
            raise HandshakeError("malformed handshake nonce")
        ids = (self.node_id, peer.id)
        _check_mac(
            self.secret,
            peer_mac,
            _mac(self.secret, b"acceptor", self.cluster_id, ids, (nonce, peer_nonce)),
        )
        writer.write(
            encode_frame(
                msgpack.packb(
                    [_mac(self.secret, b"dialer", self.cluster_id, ids, (nonce, peer_nonce))]
                )
            )
        )
        await writer.drain()

    # ------------------------------------------------------------------ receiving

    def _hello_reply(self, frame: bytes) -> tuple[NodeId, bytes, bytes, bytes]:
        """An acceptor's answer to a dialer's hello: (dialer id, dialer nonce, our nonce, the
        reply frame). Raises HandshakeError for anything but a hello from this cluster."""
        magic, version, cluster_id, peer_id, peer_nonce = _unpack_array(frame, 5)[:5]
        if magic != MAGIC or version != VERSION:
            raise HandshakeError("not a raftsql peer")
        if cluster_id != self.cluster_id:
            raise HandshakeError(f"wrong cluster id {cluster_id!r}")
        if not isinstance(peer_id, int) or isinstance(peer_id, bool) or peer_id <= 0:
            raise HandshakeError("malformed node id")
        if not isinstance(peer_nonce, bytes) or len(peer_nonce) != 16:
            raise HandshakeError("malformed handshake nonce")
        nonce = os.urandom(16)
        mac = _mac(self.secret, b"acceptor", self.cluster_id, (peer_id, self.node_id),
                   (peer_nonce, nonce))
        reply = encode_frame(
            msgpack.packb([MAGIC, VERSION, self.cluster_id, self.node_id, nonce, mac]))
        return peer_id, peer_nonce, nonce, reply

    def _check_proof(self, frame: bytes, peer_id: NodeId, nonces: tuple[bytes, bytes]) -> None:
        """The dialer's last handshake frame must prove the shared secret."""
        proof = _unpack_array(frame, 1)[0]
        _check_mac(self.secret, proof,
                   _mac(self.secret, b"dialer", self.cluster_id, (peer_id, self.node_id), nonces))

    def _dispatch(self, peer_id: NodeId, frame: bytes, writer: asyncio.Transport) -> None:
        if not frame:
            raise CodecError("empty frame")
        channel = frame[0]
        if channel == CH_RAFT:
            msg = decode_message(frame[1:], self.max_frame)
            if msg.frm != peer_id or msg.to != self.node_id:
                raise CodecError(
                    f"message from {msg.frm} to {msg.to} on node {peer_id}'s connection"
                )
            self.stats.received += 1
            self.on_message(msg)
        elif channel == CH_RPC_REQUEST:
            try:
                rid, method, body = msgpack.unpackb(frame[1:], raw=False)
            except Exception as exc:
                raise CodecError(f"malformed RPC request: {exc}") from None
            task = asyncio.create_task(self._serve_rpc(peer_id, rid, method, body, writer))
            self._inbound.add(task)
            task.add_done_callback(self._inbound.discard)
        else:
            raise CodecError(f"unknown channel {channel}")

    async def _serve_rpc(
        self, peer_id: NodeId, rid: int, method: str, body: Any, writer: asyncio.Transport
    ) -> None:
        if self.rpc_handler is None:
            ok, value = False, "no RPC handler"
        else:
            try:
                ok, value = True, await self.rpc_handler(peer_id, method, body)
            except RpcError as exc:
                ok, value = False, exc.body if exc.body is not None else str(exc)
            except Exception as exc:  # the remote caller gets the failure, the node keeps going
                log.exception("node %d: RPC %s from %d failed", self.node_id, method, peer_id)
                ok, value = False, f"{type(exc).__name__}: {exc}"
        if writer.is_closing():
            return
        writer.write(
            encode_frame(bytes((CH_RPC_REPLY,)) + msgpack.packb([rid, ok, value]), self.max_frame)
        )


class _Inbound(asyncio.Protocol):
    """One accepted peer connection: the handshake, then every frame dispatched in the protocol
    callback as its bytes arrive.

    Why a Protocol and not a stream read by a task: every Raft message a node receives (a
    follower's appends, a leader's acks) then reaches the node's inbox without a reader task's
    wake-up in between, on each side of a write's round trip: about 10 us less CPU per write
    on each node at one client (issue 8, twenty-first round in docs/benchmarks.md; the client
    side does the same, server/channel.py)."""

    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None
        self._peer_desc: Any = None
        self._hello = bytearray()  # handshake bytes not yet framed
        self._nonces: tuple[bytes, bytes] | None = None  # (dialer's, ours) once the hello came
        self._peer_id: NodeId = 0  # nonzero once the handshake is done
        self._peer_claimed: NodeId = 0
        self._decoder = FrameDecoder(owner.max_frame)
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._peer_desc = transport.get_extra_info("peername")
        if self._owner._closed:
            transport.close()
            return
        self._owner._connections.add(self)
        self._timer = asyncio.get_running_loop().call_later(
            HANDSHAKE_TIMEOUT, self._refuse, HandshakeError("handshake timed out"))

    def data_received(self, data: bytes) -> None:
        owner = self._owner
        try:
            if not self._peer_id:
                data = self._handshake(data)
                if not self._peer_id or not data:
                    return
            assert self._transport is not None
            for frame in self._decoder.feed(data):
                owner._dispatch(self._peer_id, frame, self._transport)
        except HandshakeError as exc:
            self._refuse(exc)
        except CodecError as exc:
            owner.stats.bad_frames += 1
            log.warning("node %d: bad frame from %s, closing: %s", owner.node_id,
                        self._peer_desc, exc)
            self.close()

    def _handshake(self, data: bytes) -> bytes:
        """Take the dialer's two handshake frames (each read whole, at most
        HANDSHAKE_MAX_FRAME bytes, before any later byte is looked at); return the bytes after
        them once the handshake is done."""
        buf = self._hello
        buf += data
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "big")
            if n > HANDSHAKE_MAX_FRAME:
                raise HandshakeError(f"handshake frame of {n} bytes")
            if len(buf) < 4 + n:
                break
            frame = bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            if self._nonces is None:
                peer_id, peer_nonce, nonce, reply = self._owner._hello_reply(frame)
                self._peer_claimed, self._nonces = peer_id, (peer_nonce, nonce)
                assert self._transport is not None
                self._transport.write(reply)
                continue
            self._owner._check_proof(frame, self._peer_claimed, self._nonces)
            self._peer_id = self._peer_claimed
            if self._timer is not None:
                self._timer.cancel()
            rest = bytes(buf)
            buf.clear()
            return rest
        return b""

    def _refuse(self, exc: Exception) -> None:
        owner = self._owner
        owner.stats.refused_connections += 1
        log.warning("node %d: refused connection from %s: %s", owner.node_id, self._peer_desc,
                    exc)
        self.close()

    def eof_received(self) -> bool:
        return False  # close: a peer that stops sending is done

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._owner._connections.discard(self)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._owner._connections.discard(self)
        if self._transport is not None:
            self._transport.close()
