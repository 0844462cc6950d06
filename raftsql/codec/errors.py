"""The codec's one error type.

Every way bytes can be wrong (truncated, malformed msgpack, a wrong type in a field, an unknown
version or enum value, an oversized frame) surfaces as :class:`CodecError`, so the transport and
the log store need exactly one ``except`` clause to reject bad input and nothing else can escape
from a decoder (the fuzz tests in ``tests/unit/codec`` hold the codec to this).
"""

from __future__ import annotations


class CodecError(ValueError):
    """Input bytes (or a value to encode) do not satisfy the codec's format."""
