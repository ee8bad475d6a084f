"""Watch responses as bytes, assembled from stored report frames without parsing them.

A ``WatchExecutionResponse`` is its ``events`` entries concatenated (a repeated field on
the wire is just its entries), so a stored frame is already a response, and several frames
joined are one too. A frame is cut only when a filter drops some of its entries, a cursor
falls inside it, or it is larger than one response may be (``frame_pieces``). Live
responses are built once per batch and filter and shared by every watcher with that
filter; a watcher with several batches queued joins them (``Coalescer``). Each response
carries the revision it covers to: everything matching the watch up to it has been sent,
which is where a client resumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from execstream.v1 import service_pb2 as service_pb

from execstream_server.domain.frames import entry_offsets
from execstream_server.domain.hub import WatchFilter
from execstream_server.domain.records import BoundedResponse, CommittedBatch, ReportFrame


def progress(revision: int, log_id: str, *, caught_up: bool = False) -> bytes:
    """A serialised progress-only response: the first message, a heartbeat or the last."""
    response = service_pb.WatchExecutionResponse()
    response.progress.revision = revision
    response.progress.log_id = log_id
    response.progress.caught_up = caught_up
    response.progress.time.GetCurrentTime()
    return response.SerializeToString()


def frame_pieces(
    frame: ReportFrame,
    watch_filter: WatchFilter,
    after: int,
    *,
    max_events: int,
    max_bytes: int,
    upto: int | None = None,
) -> list[BoundedResponse]:
    """The frame's entries the filter keeps with revision in ``(after, upto]``, as pieces.

    Each piece fits one response; the common case (a whole frame, every entry wanted) is
    the stored bytes themselves.
    """
    first, count, data = frame.first_revision, frame.count, frame.data
    skip = max(0, after - first + 1)
    stop = count if upto is None else min(count, upto - first + 1)
    if skip >= stop:
        return []
    keep = frame.keys.matching(watch_filter)
    if keep is None:
        if skip == 0 and stop == count and count <= max_events and len(data) <= max_bytes:
            return [(data, first + count - 1, count)]
        wanted: Iterable[int] = range(skip, stop)
    else:
        wanted = [i for i in keep if skip <= i < stop]
    return _cut(frame, wanted, max_events=max_events, max_bytes=max_bytes)


def _cut(
    frame: ReportFrame, wanted: Iterable[int], *, max_events: int, max_bytes: int
) -> list[BoundedResponse]:
    """Pieces of the ``wanted`` entries (ascending), runs of neighbours sliced at once."""
    data = frame.data
    offsets = entry_offsets(data)
    offsets.append(len(data))
    pieces: list[BoundedResponse] = []
    runs: list[bytes] = []
    run_start = run_end = -1
    size = events = 0
    last = -1
    for i in wanted:
        start, end = offsets[i], offsets[i + 1]
        if events and (events >= max_events or size + end - start > max_bytes):
            runs.append(data[run_start:run_end])
            pieces.append((b"".join(runs), frame.first_revision + last, events))
            runs, size, events, run_start = [], 0, 0, -1
        if start != run_end or run_start < 0:
            if run_start >= 0:
                runs.append(data[run_start:run_end])
            run_start = start
        run_end = end
        size += end - start
        events += 1
        last = i
    if events:
        runs.append(data[run_start:run_end])
        pieces.append((b"".join(runs), frame.first_revision + last, events))
    return pieces


def bounded_responses(
    pieces: Iterable[BoundedResponse], *, max_events: int, max_bytes: int, through: int
) -> Iterator[BoundedResponse]:
    """Join pieces into bounded responses, one at a time.

    The last response covers ``through`` (events after its last one were filtered out).
    """
    parts: list[bytes] = []
    size = events = 0
    last = 0
    for piece, covered, count in pieces:
        if parts and (events + count > max_events or size + len(piece) > max_bytes):
            yield b"".join(parts), last, events
            parts, size, events = [], 0, 0
        parts.append(piece)
        size += len(piece)
        events += count
        last = covered
    if parts:
        yield b"".join(parts), max(last, through), events


def batch_responses(
    batch: CommittedBatch, watch_filter: WatchFilter, *, max_events: int, max_bytes: int
) -> list[BoundedResponse]:
    """The batch's responses for a filter, built once and shared by its watchers."""
    cached = batch.responses.get(watch_filter)
    if cached is None:
        cached = list(
            bounded_responses(
                _pieces(batch.frames, watch_filter, 0, max_events, max_bytes),
                max_events=max_events,
                max_bytes=max_bytes,
                through=batch.last_revision,
            )
        )
        batch.responses[watch_filter] = cached
    return cached


def responses_after(
    frames: Iterable[ReportFrame],
    watch_filter: WatchFilter,
    after: int,
    *,
    through: int,
    max_events: int,
    max_bytes: int,
) -> Iterator[BoundedResponse]:
    """Bounded responses of the frames' entries in ``(after, through]`` (replays, partly
    sent batches), built one at a time."""
    return bounded_responses(
        _pieces(frames, watch_filter, after, max_events, max_bytes, upto=through),
        max_events=max_events,
        max_bytes=max_bytes,
        through=through,
    )


def _pieces(
    frames: Iterable[ReportFrame],
    watch_filter: WatchFilter,
    after: int,
    max_events: int,
    max_bytes: int,
    upto: int | None = None,
) -> Iterator[BoundedResponse]:
    for frame in frames:
        yield from frame_pieces(
            frame, watch_filter, after, max_events=max_events, max_bytes=max_bytes, upto=upto
        )


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
