"""`raftsql serve`'s garbage-collector settings (cli.freeze_start_up_heap): the start-up heap is
frozen, and a burst of live objects such as a leader's requests in flight at 64 clients starts
no collection. Each case runs in a fresh interpreter, since the settings are process-wide."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Keeps `live` container objects alive at once, as requests in flight are, and prints how many
# collections of each generation that started.
_BURST = """
import gc, sys
from raftsql import cli
if sys.argv[1] == "serve":
    cli.freeze_start_up_heap()
runs = [0, 0, 0]
gc.callbacks.append(lambda phase, info: phase == "start" and runs.__setitem__(
    info["generation"], runs[info["generation"]] + 1))
live = int(sys.argv[2])
for _ in range(20):
    flight = [[n] for n in range(live)]
    del flight
print(gc.get_freeze_count(), *runs)
"""


def _burst(mode: str, live: int) -> list[int]:
    out = subprocess.run([sys.executable, "-c", _BURST, mode, str(live)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return [int(n) for n in out.split()]


@pytest.mark.timeout(120)
def test_a_burst_of_live_objects_starts_no_collection_once_serving() -> None:
    from raftsql.cli import GC_YOUNG_THRESHOLD

    live = GC_YOUNG_THRESHOLD // 2
    frozen, *runs = _burst("serve", live)
    assert frozen > 1_000  # the start-up heap (modules, parser tables) is out of the collector
    assert runs == [0, 0, 0]
    frozen, *runs = _burst("default", live)  # what CPython's own threshold (700) does with it
    assert frozen == 0
    assert runs[0] >= 20
