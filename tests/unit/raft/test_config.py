"""Config.validate refuses unsafe settings.

Source of truth: etcd raft.go Config.validate ("CheckQuorum must be enabled when ReadOnlyOption
is ReadOnlyLeaseBased"); Raft thesis 6.4.1 (a lease shorter than the election timeout by a
clock-drift bound).
"""

from __future__ import annotations

import pytest

from raftsql.raft.config import Config, ConfigError, ReadOnlyOption


def test_defaults_are_valid() -> None:
    """Reference: docs/raft-api.md defaults."""
    Config(id=1).validate()
    Config(id=1, read_only_option=ReadOnlyOption.LEASE_BASED).validate()


@pytest.mark.parametrize(
    "kw",
    [
        {"id": 0},
        {"heartbeat_tick": 0},
        {"heartbeat_tick": 10, "election_tick": 10},
        {"max_inflight_msgs": 0},
        {"max_size_per_msg": 0},
        {"snapshot_chunk_size": 0},
        {"max_uncommitted_entries_size": -1},
        {"read_only_option": ReadOnlyOption.LEASE_BASED, "check_quorum": False},
        {"read_only_option": ReadOnlyOption.LEASE_BASED, "lease_drift_margin_ticks": 10},
        {"read_only_option": ReadOnlyOption.LEASE_BASED, "lease_drift_margin_ticks": -1},
    ],
)
def test_invalid_configs_are_refused(kw: dict) -> None:
    """Reference: etcd Config.validate; thesis 6.4.1 lease needs CheckQuorum and a margin."""
    kw = {"id": 1, **kw}
    with pytest.raises(ConfigError):
        Config(**kw).validate()
