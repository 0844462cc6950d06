"""A TCP proxy placed on every directed link between nodes, for partitions on real processes.

Node ``a`` dials node ``b`` through the proxy of link (a, b): ``a``'s ``--peers`` names the
proxy's port as ``b``'s address (ARCHITECTURE.md: the dial address may be a proxy; identity
comes from the handshake). Raft messages from ``a`` to ``b`` travel only on connections that
``a`` dialed, so blocking link (a, b) silences ``a`` towards ``b`` while ``b`` can still reach
``a``: both symmetric and asymmetric partitions are expressible.

The proxy runs its own asyncio loop in a daemon thread, so tests written in plain synchronous
code (starting processes, sleeping, killing) can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable

Link = tuple[int, int]


class FaultProxy:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="fault-proxy"
        )
        self._servers: dict[Link, asyncio.AbstractServer] = {}
        self._targets: dict[Link, tuple[str, int]] = {}
        self._blocked: set[Link] = set()
        self._conns: dict[Link, set[asyncio.StreamWriter]] = {}
        self.ports: dict[Link, int] = {}
        self._thread.start()

    def _call(self, coro: object, timeout: float = 10.0) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def add_link(self, src: int, dst: int, target: tuple[str, int]) -> int:
        """Listen for ``src``'s connections to ``dst`` and forward them to ``target``."""
        port = self._call(self._add(src, dst, target))
        assert isinstance(port, int)
        return port

    async def _add(self, src: int, dst: int, target: tuple[str, int]) -> int:
        link = (src, dst)
        self._targets[link] = target
        self._conns[link] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._forward(link, reader, writer)

        server = await asyncio.start_server(handle, self.host, 0)
        self._servers[link] = server
        port = server.sockets[0].getsockname()[1]
        self.ports[link] = port
        return port

    def set_target(self, src: int, dst: int, target: tuple[str, int]) -> None:
        """Point a link at a new address (a restarted node listening elsewhere)."""
        self._targets[(src, dst)] = target

    async def _forward(
        self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if link in self._blocked:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._targets[link])
        except OSError:
            writer.close()
            return
        conns = self._conns[link]
        conns.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if link in self._blocked:
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            conns.discard(writer)
            conns.discard(up_writer)
            writer.close()
            up_writer.close()

    # ------------------------------------------------------------------ faults

    def block(self, links: Iterable[Link]) -> None:
        self._call(self._block(set(links)))

    async def _block(self, links: set[Link]) -> None:
        self._blocked |= links
        for link in links:
            for w in list(self._conns.get(link, ())):
                w.close()

    def unblock(self, links: Iterable[Link] | None = None) -> None:
        def apply() -> None:
            if links is None:
                self._blocked.clear()
            else:
                self._blocked.difference_update(links)

        self._loop.call_soon_threadsafe(apply)

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between different groups, both directions; heal links inside groups."""
        sets = [set(g) for g in groups]
        cut = set()
        for src, dst in self._servers:
            gs = next((i for i, g in enumerate(sets) if src in g), None)
            gd = next((i for i, g in enumerate(sets) if dst in g), None)
            if gs != gd:
                cut.add((src, dst))
        self.unblock()
        self.block(cut)

    def isolate(self, node: int) -> None:
        others = {d for s, d in self._servers} | {s for s, d in self._servers}
        others.discard(node)
        self.partition([node], others)

    def heal(self) -> None:
        self.unblock()

    def close(self) -> None:
        async def shutdown() -> None:
            for server in self._servers.values():
                server.close()
            for conns in self._conns.values():
                for w in list(conns):
                    w.close()

        with contextlib.suppress(Exception):
            self._call(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
