"""Fixtures for real multi-process clusters on 127.0.0.1 (raftsql.testing.procs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftsql.testing.procs import ProcessCluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ProcessCluster]:
    c = ProcessCluster(tmp_path, 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


@pytest.fixture
def proxied_cluster(tmp_path: Path) -> Iterator[ProcessCluster]:
    c = ProcessCluster(tmp_path, 3, proxy=True)
    try:
        c.start()
        yield c
    finally:
        c.close()
