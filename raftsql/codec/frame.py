"""Length-prefixed frames for the node-to-node TCP transport, sans I/O.

A frame is a 4-byte big-endian payload length followed by the payload. The decoder is fed
whatever bytes the socket produced and returns the complete payloads; it never touches a socket,
so it is tested with plain byte strings (STYLE.md rule 5, h11's receive buffer).

Bound (STYLE.md rule 15): a header announcing more than ``max_frame`` bytes raises
:class:`CodecError` as soon as the 4 header bytes are seen, before any of the body is awaited or
buffered, so a peer cannot make us hold more than ``max_frame`` plus one read of memory.
"""

from __future__ import annotations

from raftsql.codec.errors import CodecError

HEADER_SIZE = 4
DEFAULT_MAX_FRAME = 16 << 20
_U32_MAX = (1 << 32) - 1


def encode_frame(payload: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """Prefix ``payload`` with its length; refuses what the receiving decoder would refuse."""
    n = len(payload)
    if n > max_frame or n > _U32_MAX:
        raise CodecError(f"frame of {n} bytes exceeds the limit of {max_frame}")
    return n.to_bytes(HEADER_SIZE, "big") + payload


class FrameDecoder:
    """Incremental frame splitter: ``feed(bytes) -> list[payload]``.

    After a :class:`CodecError` the stream is out of sync for good: the decoder stays broken and
    every later ``feed`` raises too (the caller closes the connection).
    """

    __slots__ = ("_buf", "_max_frame", "_broken")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if not 0 <= max_frame <= _U32_MAX:
            raise ValueError(f"max_frame must be in [0, 2**32): {max_frame}")
        self._buf = bytearray()
        self._max_frame = max_frame
        self._broken = False

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame (bounded by max_frame + header + last feed)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self._broken:
            raise CodecError("frame stream already failed")
        buf = self._buf
        buf += data
        frames: list[bytes] = []
        pos = 0
        end = len(buf)
        while end - pos >= HEADER_SIZE:
            n = int.from_bytes(buf[pos : pos + HEADER_SIZE], "big")
            if n > self._max_frame:
                self._broken = True
                self._buf = bytearray()
                raise CodecError(f"frame of {n} bytes exceeds the limit of {self._max_frame}")
            start = pos + HEADER_SIZE
            if end - start < n:
                break
            frames.append(bytes(buf[start : start + n]))
            pos = start + n
        if pos:
            del buf[:pos]
        return frames
