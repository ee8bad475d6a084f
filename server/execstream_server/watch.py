"""One WatchExecution stream: replay from the log, then live from the hub, no gap, no duplicate.

The session keeps a ``cursor``: every event at or below it was sent or filtered out. It
subscribes to the hub first (``live_from`` = the hub's revision at that instant), replays
``(cursor, live_from]`` from the store, then drains its queue, skipping anything at or below
the cursor. After an overflow it re-arms and replays the hole from the log the same way.
Responses are serialised ``WatchExecutionResponse`` bytes built from the stored event bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Protocol

from execstream.v1 import service_pb2 as spb

from .config import Limits
from .errors import RevisionCompactedError, ShuttingDownError, StoreUnavailableError
from .hub import Hub, Watcher, WatchFilter
from .records import CommittedBatch, EventRecord, event_field

_CATCH_UP_PAGE = 4096
Field = tuple[int, bytes]  # (revision, encoded WatchExecutionResponse.events entry)


class LogReader(Protocol):
    async def read(self, after_revision: int, *, limit: int) -> list[EventRecord]: ...

    @property
    def oldest_revision(self) -> int: ...


def matches(watch_filter: WatchFilter, record: EventRecord) -> bool:
    return (
        (watch_filter.task_ids is None or record.task_id in watch_filter.task_ids)
        and (watch_filter.sidecar_ids is None or record.sidecar_id in watch_filter.sidecar_ids)
        and (watch_filter.kinds is None or record.kind in watch_filter.kinds)
    )


def _fields(watch_filter: WatchFilter, records: Iterable[EventRecord]) -> list[Field]:
    if watch_filter.matches_all:
        return [(r.revision, event_field(r.payload)) for r in records]
    return [(r.revision, event_field(r.payload)) for r in records if matches(watch_filter, r)]


def batch_fields(batch: CommittedBatch, watch_filter: WatchFilter) -> list[Field]:
    """The batch's entries for a filter, computed once and shared by equal filters."""
    cached = batch.frames.get(watch_filter)
    if cached is None:
        cached = _fields(watch_filter, batch.records)
        batch.frames[watch_filter] = cached
    return cached


def heartbeat(revision: int) -> bytes:
    """A serialised progress-only response."""
    response = spb.WatchExecutionResponse()
    response.progress.revision = revision
    response.progress.time.GetCurrentTime()
    return response.SerializeToString()


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
    ) -> None:
        self._hub = hub
        self._log = log
        self._filter = watch_filter
        self._after = after_revision
        self._max_events = limits.watch_max_events_per_response
        self._max_bytes = limits.watch_max_bytes_per_response
        self._heartbeat_s = heartbeat_s
        self.cursor = 0

    def _chunks(self, fields: Iterable[Field], through: int) -> Iterable[tuple[bytes, int]]:
        """Group fields into bounded responses; each is paired with the cursor after it."""
        parts: list[bytes] = []
        size = 0
        last = self.cursor
        for revision, field in fields:
            if parts and (len(parts) >= self._max_events or size + len(field) > self._max_bytes):
                yield b"".join(parts), last
                parts, size = [], 0
            parts.append(field)
            size += len(field)
            last = revision
        if parts:
            yield b"".join(parts), max(last, through)

    async def responses(self) -> AsyncGenerator[bytes, None]:
        watcher = self._hub.subscribe(self._filter)
        try:
            if self._after is None:
                self.cursor = watcher.live_from
            else:
                oldest = self._log.oldest_revision
                if self._after < oldest - 1:
                    raise RevisionCompactedError(self._after, oldest)
                self.cursor = self._after
            async for response in self._run(watcher):
                yield response
        finally:
            self._hub.unsubscribe(watcher)

    async def _run(self, watcher: Watcher) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            if watcher.overflowed:
                self._hub.rejoin(watcher)
            async for response in self._catch_up(watcher):
                last_sent = loop.time()
                yield response
            while not watcher.overflowed:
                if watcher.closing:
                    yield heartbeat(self.cursor)
                    raise ShuttingDownError(self.cursor)
                if watcher.queue:
                    for response, through in self._live(watcher.take()):
                        yield response
                        self.cursor = through
                        last_sent = loop.time()
                    continue
                self.cursor = max(self.cursor, self._hub.revision)
                wait = self._heartbeat_s - (loop.time() - last_sent)
                try:
                    if wait <= 0:
                        raise TimeoutError
                    await asyncio.wait_for(watcher.wake.wait(), wait)
                except TimeoutError:
                    yield heartbeat(self.cursor)
                    last_sent = loop.time()

    async def _catch_up(self, watcher: Watcher) -> AsyncIterator[bytes]:
        while self.cursor < watcher.live_from and not watcher.closing:
            records = await self._log.read(self.cursor, limit=_CATCH_UP_PAGE)
            records = [r for r in records if r.revision <= watcher.live_from]
            if not records:
                raise StoreUnavailableError(
                    f"log read after revision {self.cursor} returned nothing below "
                    f"revision {watcher.live_from}"
                )
            for response, through in self._chunks(
                _fields(self._filter, records), records[-1].revision
            ):
                yield response
                self.cursor = through
            self.cursor = records[-1].revision

    def _live(self, batches: list[CommittedBatch]) -> Iterable[tuple[bytes, int]]:
        fields: list[Field] = []
        through = self.cursor
        for batch in batches:
            if batch.last_revision <= through:
                continue
            if batch.first_revision > through:
                fields.extend(batch_fields(batch, self._filter))
            else:
                fresh = [r for r in batch.records if r.revision > through]
                fields.extend(_fields(self._filter, fresh))
            through = batch.last_revision
        if not fields:
            self.cursor = through
            return []
        return self._chunks(fields, through)
