"""Virtual time: a discrete-event heap and per-node tick clocks with bounded drift.

The simulator never reads the wall clock (STYLE.md section 5: "a heap of (sim_time, seq,
event)"). Time is an integer number of microseconds so that equal seeds give bit-equal runs.
Each node's Raft timer fires every ``tick_us * (1 + drift)`` with ``|drift| <= max_drift``:
this is what makes lease reads testable, because a lease is only safe while the leader's clock
does not run slower than the followers' by more than the margin the config assumes
(Raft thesis section 6.4.1).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any

Event = Callable[[], Any]


class SimClock:
    """A discrete-event scheduler. ``seq`` breaks time ties in scheduling order, so a run is a
    pure function of the seed. Heap items are plain tuples (time, seq, event): comparing
    tuples is several times cheaper than comparing dataclasses, and this is the hot loop."""

    def __init__(self) -> None:
        self.now = 0
        self._seq = 0
        self._heap: list[tuple[int, int, Event]] = []

    def at(self, time: int, event: Event) -> None:
        """Run ``event`` at virtual time ``time`` (never in the past)."""
        assert time >= self.now, f"scheduling into the past: {time} < {self.now}"
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, event))

    def after(self, delay: int, event: Event) -> None:
        self.at(self.now + max(0, delay), event)

    def pending(self) -> int:
        return len(self._heap)

    def next_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def step(self) -> bool:
        """Pop the next event, advance time to it and run it; False when nothing is left."""
        if not self._heap:
            return False
        time, _, event = heapq.heappop(self._heap)
        self.now = time
        event()
        return True


def draw_drift(rng: random.Random, max_drift: float) -> float:
    """A node's clock rate error in [-max_drift, +max_drift]; the bound is the config's
    assumption, so the extremes are drawn often (a quarter of the time each)."""
    r = rng.random()
    if r < 0.25:
        return -max_drift
    if r < 0.5:
        return max_drift
    return rng.uniform(-max_drift, max_drift)


def tick_interval(tick_us: int, drift: float) -> int:
    """Real (virtual) microseconds between two ticks of a clock that runs ``drift`` fast.

    A fast clock (drift > 0) ticks more often: its interval is shorter.
    """
    return max(1, round(tick_us / (1.0 + drift)))
