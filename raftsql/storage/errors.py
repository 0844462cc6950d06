"""Errors of the durable store that are not part of the core's LogReader contract.

The LogReader errors (CompactedError, UnavailableError, SnapshotTemporarilyUnavailableError)
come from ``raftsql.raft.storage`` so the core can catch them without knowing RocksDB exists.
These here are for the runtime: misuse of the write API and corruption found on disk, both of
which mean the node must stop rather than guess.
"""

from __future__ import annotations


class StorageError(RuntimeError):
    """A write request that would break a log invariant (a gap, a term going backwards...)."""


class CorruptionError(StorageError):
    """What is on disk contradicts the store's invariants or fails its checksum."""
