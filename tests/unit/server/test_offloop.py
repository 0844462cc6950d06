"""A long statement's analysis leaves the event loop serving (raftsql/server/offloop.py).

The statement is the one COPY builds for a chunk of 1,000 rows of pgbench_accounts; before,
its translation ran on the loop and held it for most of a second on a slow machine.
"""

from __future__ import annotations

import asyncio

import pytest

from raftsql.server import inference, offloop
from raftsql.sql.translate import cache_info, translate


def _bulk_insert(rows: int, tag: str) -> str:
    marks = ", ".join(f"(${4 * r + 1}, ${4 * r + 2}, ${4 * r + 3}, ${4 * r + 4})"
                      for r in range(rows))
    return f'INSERT INTO "accounts_{tag}" ("aid", "bid", "abalance", "filler") VALUES {marks}'


@pytest.mark.timeout(60)
def test_loop_keeps_running_while_a_long_statement_is_analysed() -> None:
    text = _bulk_insert(1000, "loop")
    assert len(text) >= offloop.LONG_STATEMENT_CHARS

    async def main() -> int:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await offloop.analyse_long(text)
        done.set()
        await task
        return ticks

    ticks = asyncio.run(main())
    # on the loop, the ticker would not run at all while the statement is analysed
    assert ticks >= 3
    hits = cache_info().hits
    assert translate(text)[0].nparams == 4000
    assert cache_info().hits == hits + 1  # the session's own call finds it cached
    assert inference.parse(text) is not None


def test_short_statement_is_analysed_in_place() -> None:
    text = _bulk_insert(2, "short")
    misses = cache_info().misses

    async def main() -> None:
        await offloop.analyse_long(text)

    asyncio.run(main())
    assert cache_info().misses == misses  # nothing was analysed ahead of the session
