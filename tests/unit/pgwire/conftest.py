"""Fixtures for the pgwire tests."""

from __future__ import annotations

import pytest
from pg_session import connect

from raftsql.pgwire import ServerConnection


@pytest.fixture
def ready() -> ServerConnection:
    return connect()
