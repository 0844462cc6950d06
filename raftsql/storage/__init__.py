"""Durable node storage: the RocksDB Raft log (``RocksLogStore``) and snapshot files."""

from raftsql.storage.errors import CorruptionError, StorageError
from raftsql.storage.log_store import PersistRequest, RocksLogStore, StoreStats
from raftsql.storage.snapshots import SnapshotFiles
from raftsql.storage.tail import TailCache

__all__ = [
    "CorruptionError",
    "PersistRequest",
    "RocksLogStore",
    "SnapshotFiles",
    "StorageError",
    "StoreStats",
    "TailCache",
]
