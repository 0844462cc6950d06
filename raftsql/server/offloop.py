"""Long statements are analysed on a worker thread, so that the event loop keeps serving.

Translating a statement (sqlglot's parse and our rewrites) and inferring its parameter types
take time in proportion to its length: the 1,000-row INSERT that COPY builds (4,000
parameters) took 0.8 s on a slow 2-core machine, and an ORM's bulk insert is no shorter. On
the event loop that is a stall of everything on the node, the Raft loop's ticks and
heartbeats included, and the followers elected a new leader in 4 of 5 `pgbench -i` runs
(tests/integration/test_leader_stability.py). On a worker thread the interpreter switches
between it and the loop every few milliseconds (`sys.getswitchinterval()`), so the loop's
work goes on meanwhile.

Both analyses are pure functions of the text and cached, so the worker only fills the caches
and the session's own calls then hit them. Short statements stay on the loop: for them the hop
to a thread costs more than the analysis.
"""

from __future__ import annotations

import asyncio

from raftsql.server import inference
from raftsql.sql.errors import SqlError
from raftsql.sql.translate import translate

LONG_STATEMENT_CHARS = 2048


def _analyse(text: str) -> None:
    try:
        translate(text)
    except SqlError:
        return  # not cached: the session's own call raises it again, where it reports errors
    inference.parse(text)


async def analyse_long(text: str) -> None:
    """Fill the translation and inference caches for ``text`` off the loop when it is long."""
    if len(text) >= LONG_STATEMENT_CHARS:
        await asyncio.to_thread(_analyse, text)
