"""One WatchExecution stream: replay from the log, then live from the hub, no gap, no duplicate.

The session keeps a ``cursor``: every event at or below it was sent or filtered out. It
subscribes to the hub first (``live_from`` = the hub's revision at that instant), replays
``(cursor, live_from]`` from the store, then drains its queue, skipping anything at or below
the cursor. After an overflow it re-arms and replays the hole from the log the same way.
Responses are serialised ``WatchExecutionResponse`` bytes built from the stored event bytes.
Live responses are built once per batch and filter and shared by every watcher with that
filter; a watcher that has several batches queued sends them as one response (concatenated
responses are one response on the wire), so fan-out does no per-event work per watcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Protocol

from execstream.v1 import service_pb2 as service_pb

from execstream_server.config import Limits
from execstream_server.domain.errors import (
    RevisionCompactedError,
    ShuttingDownError,
    StoreUnavailableError,
)
from execstream_server.domain.hub import Hub, Watcher, WatchFilter
from execstream_server.domain.records import CommittedBatch, EventRecord, event_field

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


# A bounded response: its bytes, the revision it covers to, and how many events it holds.
Chunk = tuple[bytes, int, int]


def chunk_fields(
    fields: Iterable[Field], *, max_events: int, max_bytes: int, through: int
) -> list[Chunk]:
    """Group fields into bounded responses.

    The last response covers ``through`` (events after its last one were filtered out).
    """
    chunks: list[Chunk] = []
    parts: list[bytes] = []
    size = 0
    last = 0
    for revision, field in fields:
        if parts and (len(parts) >= max_events or size + len(field) > max_bytes):
            chunks.append((b"".join(parts), last, len(parts)))
            parts, size = [], 0
        parts.append(field)
        size += len(field)
        last = revision
    if parts:
        chunks.append((b"".join(parts), max(last, through), len(parts)))
    return chunks


def batch_responses(
    batch: CommittedBatch, watch_filter: WatchFilter, *, max_events: int, max_bytes: int
) -> list[Chunk]:
    """The batch's responses for a filter, built once and shared by its watchers."""
    cached = batch.responses.get(watch_filter)
    if cached is None:
        cached = chunk_fields(
            batch_fields(batch, watch_filter),
            max_events=max_events,
            max_bytes=max_bytes,
            through=batch.last_revision,
        )
        batch.responses[watch_filter] = cached
    return cached


class _Coalescer:
    """Joins whole responses into bigger ones, within the per-response bounds."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.out: list[tuple[bytes, int]] = []
        self._parts: list[bytes] = []
        self._events = 0
        self._bytes = 0
        self._through = 0

    def add(self, response: bytes, through: int, events: int) -> None:
        """Queue a response of ``events`` events that covers up to ``through``."""
        if self._parts and (
            self._events + events > self.max_events or self._bytes + len(response) > self.max_bytes
        ):
            self._flush()
        self._parts.append(response)
        self._events += events
        self._bytes += len(response)
        self._through = through

    def _flush(self) -> None:
        if self._parts:
            self.out.append((b"".join(self._parts), self._through))
            self._parts, self._events, self._bytes = [], 0, 0

    def finish(self, through: int) -> list[tuple[bytes, int]]:
        """Flush; the last response also covers later batches that had nothing to send."""
        self._flush()
        if self.out:
            self.out[-1] = (self.out[-1][0], max(self.out[-1][1], through))
        return self.out


def heartbeat(revision: int) -> bytes:
    """A serialised progress-only response."""
    response = service_pb.WatchExecutionResponse()
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

    def _chunks(self, fields: Iterable[Field], through: int) -> list[Chunk]:
        """Group fields into bounded responses; each carries the cursor after it."""
        return chunk_fields(
            fields, max_events=self._max_events, max_bytes=self._max_bytes, through=through
        )

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
                    async with asyncio.timeout(wait):
                        await watcher.wake.wait()
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
            for response, through, _ in self._chunks(
                _fields(self._filter, records), records[-1].revision
            ):
                yield response
                self.cursor = through
            self.cursor = records[-1].revision

    def _live(self, batches: list[CommittedBatch]) -> list[tuple[bytes, int]]:
        coalescer = _Coalescer(self._max_events, self._max_bytes)
        through = self.cursor
        for batch in batches:
            if batch.last_revision <= through:
                continue
            if batch.first_revision > through:
                chunks = batch_responses(
                    batch, self._filter, max_events=self._max_events, max_bytes=self._max_bytes
                )
            else:  # partly sent already (the catch-up reached into it)
                fresh = [r for r in batch.records if r.revision > through]
                chunks = self._chunks(_fields(self._filter, fresh), batch.last_revision)
            for chunk in chunks:
                coalescer.add(*chunk)
            through = batch.last_revision
        joined = coalescer.finish(through)
        if not joined:
            self.cursor = through
        return joined
