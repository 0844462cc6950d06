"""One master seed, one independent random stream per component.

TigerBeetle's VOPR and FoundationDB's simulator draw every choice from one seed. Giving each
component its own ``random.Random`` derived from (seed, name) keeps the streams independent: a
component that draws one more number does not shift every other component's choices, so a
change to the network model does not change which nodes crash. ``sha256`` (not ``hash()``)
makes the derivation stable across processes and Python versions.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, name: str) -> int:
    """A 64-bit seed for the component ``name`` of the run ``seed``."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def derive_rng(seed: int, name: str) -> random.Random:
    """The random stream of component ``name``; equal inputs give equal streams."""
    return random.Random(derive_seed(seed, name))
