"""One WatchExecution stream: replay from the log, then live from the hub, no gap, no duplicate.

The stream's shape: a first Progress at once, naming the revision the watch starts after
and the log's identity; for a replay, the events from the log and then one Progress with
``caught_up`` (a live watch sets it on its first message); then live events, with a
Progress heartbeat whenever the stream was idle for the heartbeat interval; at a graceful
end, a last Progress before the status.

The session keeps a ``cursor``: every event at or below it was sent or filtered out. It
subscribes to the hub first (``live_from`` = the hub's revision at that instant), replays
``(cursor, live_from]`` from the store, then drains its queue, skipping anything at or below
the cursor. After an overflow it re-arms and replays the hole from the log the same way.
Each response comes with the revision it covers to, so the transport knows what a client
that received it may resume after. A catch-up reads pages of the log bounded in bytes and
reserves them from the hub's budget, so a watcher that stops reading holds one page at most
and all catching-up watchers together hold at most the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterable
from typing import Protocol

from execstream_server.config import Limits
from execstream_server.domain.errors import (
    RevisionCompactedError,
    ShuttingDownError,
    StoreUnavailableError,
)
from execstream_server.domain.hub import Hub, Watcher, WatchFilter
from execstream_server.domain.records import BoundedResponse, CommittedBatch, FramePage
from execstream_server.domain.watch_frames import (
    Coalescer,
    batch_responses,
    progress,
    responses_after,
)

Sent = tuple[bytes, int]  # a serialised response and the revision it covers to


class LogReader(Protocol):
    async def read_frames(
        self, after_revision: int, *, max_bytes: int, task_ids: frozenset[str] | None = None
    ) -> FramePage: ...

    @property
    def oldest_revision(self) -> int: ...


class WatchSession:
    """Produces the responses of one watch; see the module docstring."""

    def __init__(
        self,
        hub: Hub,
        log: LogReader,
        watch_filter: WatchFilter,
        after_revision: int | None,
        *,
        limits: Limits,
        heartbeat_s: float,
        log_id: str,
    ) -> None:
        self._hub = hub
        self._log = log
        self._filter = watch_filter
        self._after = after_revision
        self._max_events = limits.watch_max_events_per_response
        self._max_bytes = limits.watch_max_bytes_per_response
        # A page of the log and the responses built from it fit in the per-watcher bound.
        self._page_reserve = limits.watch_queue_bytes
        self._page_bytes = max(1, limits.watch_queue_bytes // 2)
        self._heartbeat_s = heartbeat_s
        self._log_id = log_id
        self._caught_up = False
        self.cursor = 0

    def _progress(self) -> Sent:
        return progress(self.cursor, self._log_id), self.cursor

    async def responses(self) -> AsyncGenerator[Sent, None]:
        watcher = self._hub.subscribe(self._filter)
        try:
            if self._after is None:
                self.cursor = watcher.live_from
            else:
                oldest = self._log.oldest_revision
                if self._after < oldest - 1:
                    raise RevisionCompactedError(self._after, oldest)
                self.cursor = self._after
            self._caught_up = self.cursor >= watcher.live_from
            yield progress(self.cursor, self._log_id, caught_up=self._caught_up), self.cursor
            # aclosing: closing this generator closes the inner ones at once, so a catch-up
            # page's reservation is given back now, not when the collector finds it.
            async with contextlib.aclosing(self._run(watcher)) as run:
                async for sent in run:
                    yield sent
        finally:
            self._hub.unsubscribe(watcher)

    async def _run(self, watcher: Watcher) -> AsyncGenerator[Sent, None]:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            if watcher.overflowed:
                self._hub.rejoin(watcher)
            async with contextlib.aclosing(self._catch_up(watcher)) as catch_up:
                async for sent in catch_up:
                    last_sent = loop.time()
                    yield sent
            if not self._caught_up and not watcher.closing:
                self._caught_up = True
                yield progress(self.cursor, self._log_id, caught_up=True), self.cursor
                last_sent = loop.time()
            while not watcher.overflowed:
                if watcher.closing:
                    yield self._progress()
                    raise ShuttingDownError(self.cursor)
                if watcher.queue:
                    for response, through in self._live(watcher.take()):
                        yield response, through
                        self.cursor = through
                        last_sent = loop.time()
                    continue
                self.cursor = max(self.cursor, self._hub.revision)
                wait = self._heartbeat_s - (loop.time() - last_sent)
                try:
                    if wait <= 0:
                        raise TimeoutError
                    async with asyncio.timeout(wait):
                        await watcher.wake.wait()
                except TimeoutError:
                    yield self._progress()
                    last_sent = loop.time()

    async def _catch_up(self, watcher: Watcher) -> AsyncGenerator[Sent, None]:
        """Replay ``(cursor, live_from]`` from stored frames, a byte-bounded page at a time.

        A task filter reads through the store's (task, revision) index, so a watcher of a
        few tasks does not read every report.
        """
        live_from = watcher.live_from
        while self.cursor < live_from and not watcher.closing:
            async with self._hub.catch_up_budget.hold(self._page_reserve):
                page = await self._log.read_frames(
                    self.cursor, max_bytes=self._page_bytes, task_ids=self._filter.task_ids
                )
                through = min(page.through, live_from)
                if through <= self.cursor:
                    raise StoreUnavailableError(
                        f"log read after revision {self.cursor} returned nothing below "
                        f"revision {live_from}"
                    )
                responses = responses_after(
                    page.frames,
                    self._filter,
                    self.cursor,
                    through=through,
                    max_events=self._max_events,
                    max_bytes=self._max_bytes,
                )
                del page  # the responses are all the page needs from here on
                for response, covered, _ in responses:
                    yield response, covered
                    self.cursor = covered
                self.cursor = through

    def _live(self, batches: list[CommittedBatch]) -> list[tuple[bytes, int]]:
        coalescer = Coalescer(self._max_events, self._max_bytes)
        through = self.cursor
        for batch in batches:
            if batch.last_revision <= through:
                continue
            chunks: Iterable[BoundedResponse]
            if batch.first_revision > through:
                chunks = batch_responses(
                    batch, self._filter, max_events=self._max_events, max_bytes=self._max_bytes
                )
            else:  # partly sent already (the catch-up reached into it)
                chunks = responses_after(
                    batch.frames,
                    self._filter,
                    through,
                    through=batch.last_revision,
                    max_events=self._max_events,
                    max_bytes=self._max_bytes,
                )
            for chunk in chunks:
                coalescer.add(*chunk)
            through = batch.last_revision
        joined = coalescer.finish(through)
        if not joined:
            self.cursor = through
        return joined
