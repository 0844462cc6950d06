"""The client channel (raftsql/server/channel.py) over real sockets on 127.0.0.1: bytes in
order, the sink that takes bytes arriving during a read, and flow control both ways."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import uvloop

from raftsql.server.channel import READ_LIMIT, AnswerBatch, ClientChannel

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def run(loop_name: str, coro_fn: Callable[[], object]) -> None:
    loop = LOOPS[loop_name]()
    try:
        loop.run_until_complete(asyncio.wait_for(coro_fn(), 20))  # type: ignore[arg-type]
    finally:
        loop.close()


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[ClientChannel, socket.socket]]:
    """A server-side channel and the client's blocking socket (used off the loop)."""
    made: asyncio.Future[ClientChannel] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ClientChannel(made.set_result), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        channel = await made
        yield channel, client
    finally:
        client.close()
        channel.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("loop_name", LOOPS)
def test_bytes_come_in_order_then_end_of_input(loop_name: str) -> None:
    async def main() -> None:
        async with connected() as (channel, client):
            client.sendall(b"abc")
            got = await channel.read()
            client.sendall(b"def")
            await asyncio.sleep(0.05)  # arrives while nobody reads: kept for the next read
            client.sendall(b"ghi")
            await asyncio.sleep(0.05)
            got += await channel.read() or b""
            assert got == b"abcdefghi"
            client.shutdown(socket.SHUT_WR)
            assert await channel.read() == b""
            assert await channel.read() == b""

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_sink_takes_bytes_that_arrive_during_a_read(loop_name: str) -> None:
    async def main() -> None:
        async with connected() as (channel, client):
            taken: list[bytes] = []

            def sink(data: bytes) -> bool:
                taken.append(data)
                return data != b"stop"  # True: answered here, the read goes on waiting

            reading = asyncio.ensure_future(channel.read(sink))
            await asyncio.sleep(0.01)  # the read waits before the bytes come
            for chunk in (b"one", b"two"):
                client.sendall(chunk)
                await asyncio.sleep(0.05)
            assert not reading.done()
            assert b"".join(taken) == b"onetwo"
            client.sendall(b"stop")
            assert await reading is None
            assert taken[-1] == b"stop"
            client.sendall(b"later")  # no read waits: kept, not given to the old sink
            await asyncio.sleep(0.05)
            assert await channel.read() == b"later"

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_reading_pauses_while_the_session_is_behind(loop_name: str) -> None:
    async def main() -> None:
        async with connected() as (channel, client):
            assert channel.transport is not None
            client.setblocking(False)
            block = b"x" * 65536
            sent = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while channel.transport.is_reading() and loop.time() < deadline:
                try:
                    sent += client.send(block)
                except BlockingIOError:
                    pass
                await asyncio.sleep(0.001)
            assert not channel.transport.is_reading(), "reading never paused"
            data = await channel.read()
            assert data is not None and READ_LIMIT < len(data) <= sent
            assert channel.transport.is_reading()

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_drain_waits_for_a_slow_client_and_fails_once_it_is_gone(loop_name: str) -> None:
    async def main() -> None:
        async with connected() as (channel, client):
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            for _ in range(200):  # the client reads nothing: the transport's buffer fills
                channel.write(b"y" * 65536)
                if channel.must_drain:
                    break
            assert channel.must_drain
            draining = asyncio.ensure_future(channel.drain())
            await asyncio.sleep(0.05)
            assert not draining.done()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # lingering 0 seconds: the close resets the connection
            with pytest.raises(ConnectionError):
                await draining
            with pytest.raises(ConnectionError):
                await channel.drain()

    run(loop_name, main)


def _pending(sock: socket.socket) -> bytes:
    """What has reached the client's socket so far, without waiting."""
    try:
        return sock.recv(1 << 16, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(5)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize("loop_name", LOOPS)
def test_answers_written_in_the_callback_go_out_together_and_in_order(loop_name: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        batch = AnswerBatch()
        made: asyncio.Queue[ClientChannel] = asyncio.Queue()
        server = await loop.create_server(lambda: ClientChannel(made.put_nowait, batch),
                                          "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        channels = [await made.get() for _ in clients]
        try:
            seen_in_callback: list[bytes] = []

            def answering(i: int) -> Callable[[bytes], bool]:
                def sink(data: bytes) -> bool:
                    if i == 0:  # runs before the batch is sent, outside the callback
                        loop.call_soon(channels[0].write, b"+later")
                    channels[i].write(b"answer-")
                    channels[i].write(data)
                    seen_in_callback.append(_pending(clients[i]))
                    return False
                return sink

            reads = [asyncio.ensure_future(ch.read(answering(i))) for i, ch in enumerate(channels)]
            await asyncio.sleep(0.01)
            for i, client in enumerate(clients):
                client.sendall(str(i).encode())
            assert await asyncio.gather(*reads) == [None, None]
            # held while the callback ran; the second channel's answer waits for the batch too
            assert seen_in_callback == [b"", b""]
            assert _recv_exactly(clients[0], 14) == b"answer-0+later"  # behind the held one
            assert _recv_exactly(clients[1], 8) == b"answer-1"
            channels[1].write(b"now")  # nothing held: written at once
            assert _pending(clients[1]) == b"now"

            def answer_and_close(data: bytes) -> bool:
                channels[1].write(b"bye")
                channels[1].close()
                return False

            closing = asyncio.ensure_future(channels[1].read(answer_and_close))
            await asyncio.sleep(0.01)
            clients[1].sendall(b"x")
            assert await closing is None
            assert _recv_exactly(clients[1], 3) == b"bye"  # close sends what it held first
        finally:
            for client in clients:
                client.close()
            for ch in channels:
                ch.close()
            server.close()
            await server.wait_closed()

    run(loop_name, main)
