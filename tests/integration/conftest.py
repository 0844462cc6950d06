"""Fixtures for real multi-process clusters on 127.0.0.1 (raftsql.testing.procs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftsql.testing.procs import ProcessCluster


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="run long fault and soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long test: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
