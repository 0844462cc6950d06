"""Fixtures for the client compatibility suite: one real 3-node cluster per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from compat_cluster import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    c.start()
    try:
        yield c
    finally:
        c.stop()
