"""Options for the fault suite: ``--slow`` runs the long Jepsen-style runs (as in
tests/integration/conftest.py; whichever conftest loads first registers the option)."""

from __future__ import annotations

import contextlib

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    with contextlib.suppress(ValueError):  # already added by tests/integration/conftest.py
        parser.addoption("--slow", action="store_true", help="run long fault and soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long test: run with --slow")
    for item in items:
        if "slow" in item.keywords and "tests/faults" in str(item.fspath):
            item.add_marker(skip)
