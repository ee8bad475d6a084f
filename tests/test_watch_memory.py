"""What watchers that stop reading may hold while they catch up from the log.

Real parts, no server: a SQLite store on a file, the hub, and watch sessions whose
consumers stop after their first responses, as a client that never reads again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator
from pathlib import Path

from execstream_server.config import Limits
from execstream_server.domain.hub import Hub, WatchFilter
from execstream_server.domain.watch import WatchSession
from execstream_server.store.sqlite import SqliteStore

from .support.flat_pricer import FlatPricer
from .support.helpers import event

EVENT_TEXT = "x" * 10_000
LIMITS = dataclasses.replace(
    Limits(),
    watch_queue_bytes=100_000,
    watch_total_bytes=300_000,
    watch_max_bytes_per_response=30_000,
)


async def filled_store(path: Path, events: int) -> SqliteStore:
    store = SqliteStore(str(path), pricer=FlatPricer())
    await store.open()
    for first in range(1, events + 1, 50):
        batch = [event("t", seq, text=EVENT_TEXT) for seq in range(first, first + 50)]
        await store.append("sc", batch)
    return store


async def until(predicate: object, within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met"
        await asyncio.sleep(0.005)


async def test_stalled_catch_ups_hold_one_page_each_and_the_total_is_capped(
    tmp_path: Path,
) -> None:
    store = await filled_store(tmp_path / "log.db", 200)  # ~2 MB of history
    hub = Hub(
        revision=store.revision,
        queue_bytes=LIMITS.watch_queue_bytes,
        total_bytes=LIMITS.watch_total_bytes,
    )
    sessions = [
        WatchSession(hub, store, WatchFilter(), 0, limits=LIMITS, heartbeat_s=60, log_id="l")
        for _ in range(10)
    ]
    streams: list[AsyncGenerator[tuple[bytes, int], None]] = [s.responses() for s in sessions]
    try:
        for stream in streams:
            _opening, start = await stream.__anext__()
            assert start == 0
        # Each consumer asks for one response with events, then stops reading for good.
        reads = [asyncio.ensure_future(stream.__anext__()) for stream in streams]
        budget = hub.catch_up_budget
        await until(lambda: sum(r.done() for r in reads) == 3 and budget.waiting == 7)
        assert budget.used == budget.peak == 300_000, "three pages of 100 kB, no more"
        for read in reads:
            if read.done():
                response, through = read.result()
                assert len(response) <= LIMITS.watch_max_bytes_per_response + 100
                assert 0 < through <= 5, "a page is at most half the per-watcher bound"
        # One stalled watcher goes away (shed or cancelled): a waiting one gets its page.
        done = next(i for i, r in enumerate(reads) if r.done())
        await streams[done].aclose()
        await until(lambda: sum(r.done() for r in reads) == 4)
        assert budget.peak == 300_000
    finally:
        for read in reads:
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
        for stream in streams:
            await stream.aclose()
        await store.close()
    assert hub.catch_up_budget.used == 0 and hub.watcher_count == 0
