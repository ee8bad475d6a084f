"""Watch responses as bytes, assembled from the stored event bytes.

A ``WatchExecutionResponse`` is its ``events`` entries concatenated (a repeated field on
the wire is just its entries), so responses are built from the serialised events the store
committed, without parsing them. Live responses are built once per batch and filter and
shared by every watcher with that filter; a watcher with several batches queued joins them
(``Coalescer``). Each response carries the revision it covers to: everything matching the
watch up to it has been sent, which is where a client resumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from execstream.v1 import service_pb2 as service_pb

from execstream_server.domain.hub import WatchFilter
from execstream_server.domain.records import CommittedBatch, EventRecord, event_field

Field = tuple[int, bytes]  # (revision, encoded WatchExecutionResponse.events entry)
# A bounded response: its bytes, the revision it covers to, and how many events it holds.
Chunk = tuple[bytes, int, int]


def progress(revision: int, log_id: str, *, caught_up: bool = False) -> bytes:
    """A serialised progress-only response: the first message, a heartbeat or the last."""
    response = service_pb.WatchExecutionResponse()
    response.progress.revision = revision
    response.progress.log_id = log_id
    response.progress.caught_up = caught_up
    response.progress.time.GetCurrentTime()
    return response.SerializeToString()


def matches(watch_filter: WatchFilter, record: EventRecord) -> bool:
    return (
        (watch_filter.task_ids is None or record.task_id in watch_filter.task_ids)
        and (watch_filter.sidecar_ids is None or record.sidecar_id in watch_filter.sidecar_ids)
        and (watch_filter.kinds is None or record.kind in watch_filter.kinds)
    )


def fields_of(watch_filter: WatchFilter, records: Iterable[EventRecord]) -> list[Field]:
    if watch_filter.matches_all:
        return [(r.revision, event_field(r.payload)) for r in records]
    return [(r.revision, event_field(r.payload)) for r in records if matches(watch_filter, r)]


def batch_fields(batch: CommittedBatch, watch_filter: WatchFilter) -> list[Field]:
    """The batch's entries for a filter, computed once and shared by equal filters."""
    cached = batch.frames.get(watch_filter)
    if cached is None:
        cached = fields_of(watch_filter, batch.records)
        batch.frames[watch_filter] = cached
    return cached


def iter_chunks(
    fields: Iterable[Field], *, max_events: int, max_bytes: int, through: int
) -> Iterator[Chunk]:
    """Group fields into bounded responses, one at a time.

    The last response covers ``through`` (events after its last one were filtered out).
    """
    parts: list[bytes] = []
    size = 0
    last = 0
    for revision, field in fields:
        if parts and (len(parts) >= max_events or size + len(field) > max_bytes):
            yield b"".join(parts), last, len(parts)
            parts, size = [], 0
        parts.append(field)
        size += len(field)
        last = revision
    if parts:
        yield b"".join(parts), max(last, through), len(parts)


def chunk_fields(
    fields: Iterable[Field], *, max_events: int, max_bytes: int, through: int
) -> list[Chunk]:
    return list(iter_chunks(fields, max_events=max_events, max_bytes=max_bytes, through=through))


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


class Coalescer:
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
