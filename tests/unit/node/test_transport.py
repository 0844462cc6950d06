"""The TCP transport between nodes, on real loopback sockets (raftsql/node/transport.py).

Regression: the Jepsen suite found that a message sent to a peer whose connection had just been
reset (before the sender task noticed) was written into the closed uvloop transport, which
raised and ended the Raft loop. send() must never raise; the message waits for the reconnect.
"""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from raftsql.node.transport import TcpTransport
from raftsql.raft.types import Message, MessageType, Snapshot, SnapshotMetadata

uvloop = pytest.importorskip("uvloop")


async def _pair() -> tuple[TcpTransport, TcpTransport, list[Message]]:
    got: list[Message] = []
    a = TcpTransport(1, "c", ("127.0.0.1", 0), {}, lambda m: None)
    b = TcpTransport(2, "c", ("127.0.0.1", 0), {}, got.append)
    await a.start()
    await b.start()
    a.add_peer(2, "127.0.0.1", b.bound_port)
    for _ in range(200):
        if a.is_connected(2):
            break
        await asyncio.sleep(0.01)
    assert a.is_connected(2)
    return a, b, got


def _heartbeat(term: int) -> Message:
    return Message(MessageType.HEARTBEAT, to=2, frm=1, term=term)


async def _delivered(got: list[Message], n: int) -> None:
    for _ in range(300):
        if len(got) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(got)} of {n} messages arrived")


def test_send_to_a_reset_connection_never_raises_and_delivers_after_reconnect() -> None:
    async def scenario() -> None:
        a, b, got = await _pair()
        try:
            a.send([_heartbeat(1)])
            await _delivered(got, 1)
            peer = a._peers[2]  # noqa: SLF001 - the state the bug depended on
            assert peer.writer is not None
            peer.writer.transport.abort()  # the peer reset: closed before the sender notices
            a.send([_heartbeat(2)])  # raised RuntimeError under uvloop before the fix
            await _delivered(got, 2)
            assert [m.term for m in got] == [1, 2]
        finally:
            await a.close()
            await b.close()

    uvloop.run(scenario())


def test_wrong_cluster_id_is_refused() -> None:
    async def scenario() -> None:
        got: list[Message] = []
        a = TcpTransport(1, "one", ("127.0.0.1", 0), {}, lambda m: None)
        b = TcpTransport(2, "two", ("127.0.0.1", 0), {}, got.append)
        await a.start()
        await b.start()
        try:
            a.add_peer(2, "127.0.0.1", b.bound_port)
            a.send([_heartbeat(1)])
            await asyncio.sleep(0.5)
            assert not a.is_connected(2) and got == []
            assert b.stats.refused_connections >= 1
        finally:
            await a.close()
            await b.close()

    uvloop.run(scenario())


def _chunks(index: int, data: bytes, size: int) -> list[Message]:
    """A snapshot as the core sends it: consecutive chunks, the last one marked done."""
    meta = SnapshotMetadata(index=index, term=1)
    view = memoryview(data)  # as SnapshotFiles.load hands it out
    return [Message(MessageType.SNAP, to=2, frm=1, term=1,
                    snapshot=Snapshot(meta, view[off:off + size]), snapshot_offset=off,
                    snapshot_done=off + size >= len(data))
            for off in range(0, len(data), size)]


def test_a_snapshot_is_streamed_a_chunk_at_a_time_and_a_newer_one_replaces_it() -> None:
    """Snapshot chunks go out one after another, each once the socket drained the last, so
    the sender's buffer never holds the snapshot whole (it did: 875 MB of peak RSS for a
    196 MB snapshot); heartbeats sent meanwhile still arrive; a different snapshot sent while
    one is streaming replaces it, the same one sent again does not restart it (a big snapshot
    takes longer than the core's resend timeout)."""
    async def scenario() -> None:
        a, b, got = await _pair()
        try:
            size = 1 << 20
            first = _chunks(5, bytes(24 * size), size)
            second = _chunks(6, bytes(range(256)) * (32 * 4096 + 1), size)  # 32 MiB + 256 B
            a.send(first)
            a.send([_heartbeat(1), *second])  # before the first stream wrote anything
            await asyncio.sleep(0)
            a.send(second)  # the core's resend after its timeout: the stream goes on
            writer = a._peers[2].writer  # noqa: SLF001 - the buffer the stream keeps small
            assert writer is not None
            most = 0
            while len([m for m in got if m.type is MessageType.SNAP]) < len(second):
                most = max(most, writer.transport.get_write_buffer_size())
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)
            snaps = [m for m in got if m.type is MessageType.SNAP]
            assert [m.snapshot.metadata.index for m in snaps] == [6] * len(second)
            assert [m.snapshot_offset for m in snaps] == [m.snapshot_offset for m in second]
            assert b"".join(bytes(m.snapshot.data) for m in snaps) == bytes(range(256)) * (
                32 * 4096 + 1)
            assert snaps[-1].snapshot_done
            assert any(m.type is MessageType.HEARTBEAT for m in got)
            assert most <= 2 * size, most
        finally:
            await a.close()
            await b.close()

    uvloop.run(scenario())


async def _dial_by_hand(port: int, secret: bytes, *, tail: bytes, step: int | None) -> bytes:
    """A dialer's side of the handshake written by hand: the hello, then the proof followed
    at once by `tail`, everything in writes of `step` bytes (None: the proof and the tail in
    one write). Returns what the acceptor answered."""
    from raftsql.codec import encode_frame
    from raftsql.node.transport import MAGIC, VERSION, _mac  # noqa: PLC2701 - the MAC under test

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        nonce = b"n" * 16

        async def send(data: bytes) -> None:
            for off in range(0, len(data), step or len(data)):
                writer.write(data[off:off + (step or len(data))])
                await writer.drain()
                if step:
                    await asyncio.sleep(0.001)  # separate segments, separate callbacks

        await send(encode_frame(msgpack.packb([MAGIC, VERSION, "c", 1, nonce])))
        header = await reader.readexactly(4)
        reply = await reader.readexactly(int.from_bytes(header, "big"))
        peer_nonce = msgpack.unpackb(reply)[4]
        proof = _mac(secret, b"dialer", "c", (1, 2), (nonce, peer_nonce))
        await send(encode_frame(msgpack.packb([proof])) + tail)
        return reply
    finally:
        await asyncio.sleep(0.05)
        writer.close()


@pytest.mark.parametrize("step", [None, 1, 7])
def test_a_handshake_in_pieces_or_with_messages_behind_it_delivers_them_all(
        step: int | None) -> None:
    """The acceptor takes the handshake frames as they come, however the bytes are cut (one
    at a time, or the proof and the first messages in one segment), and hands every message
    after the proof to the node in order."""
    from raftsql.codec import encode_frame, encode_message
    from raftsql.node.transport import CH_RAFT

    async def scenario() -> None:
        got: list[Message] = []
        b = TcpTransport(2, "c", ("127.0.0.1", 0), {}, got.append, secret=b"k")
        await b.start()
        try:
            tail = b"".join(encode_frame(bytes((CH_RAFT,)) + encode_message(_heartbeat(t)))
                            for t in (1, 2, 3))
            await _dial_by_hand(b.bound_port, b"k", tail=tail, step=step)
            await _delivered(got, 3)
            assert [m.term for m in got] == [1, 2, 3]
            assert b.stats.refused_connections == 0 and b.stats.bad_frames == 0
        finally:
            await b.close()

    uvloop.run(scenario())


def test_a_wrong_proof_is_refused_and_nothing_behind_it_is_delivered() -> None:
    from raftsql.codec import encode_frame, encode_message
    from raftsql.node.transport import CH_RAFT

    async def scenario() -> None:
        got: list[Message] = []
        b = TcpTransport(2, "c", ("127.0.0.1", 0), {}, got.append, secret=b"k")
        await b.start()
        try:
            tail = encode_frame(bytes((CH_RAFT,)) + encode_message(_heartbeat(1)))
            await _dial_by_hand(b.bound_port, b"not-k", tail=tail, step=None)
            await asyncio.sleep(0.1)
            assert got == [] and b.stats.refused_connections == 1
        finally:
            await b.close()

    uvloop.run(scenario())


def test_a_connection_that_never_finishes_its_handshake_is_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from raftsql.node import transport

    monkeypatch.setattr(transport, "HANDSHAKE_TIMEOUT", 0.2)

    async def scenario() -> None:
        b = TcpTransport(2, "c", ("127.0.0.1", 0), {}, lambda m: None)
        await b.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", b.bound_port)
            writer.write(b"\0\0")  # half a header, then nothing
            assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the node
            writer.close()
            assert b.stats.refused_connections == 1
            assert not b._connections  # noqa: SLF001 - nothing left behind
        finally:
            await b.close()

    uvloop.run(scenario())
