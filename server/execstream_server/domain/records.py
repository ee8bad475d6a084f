"""Committed events as the stores, the hub and the watchers move them: one frame per report.

A report's accepted events are stored as one ``ReportFrame``: its ready-to-send
``WatchExecutionResponse`` bytes (the stamped events' entries concatenated, revisions
``first_revision``.. consecutive) and its ``ReportKeys`` (task and kind of each entry). Live
fan-out and replay send frames as they are; a filter selects entries by the keys, and a
cursor inside a frame takes the entries after it (``watch_frames``). Nothing on the
watch path parses an event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.frames import entry_payloads
from execstream_server.domain.report_keys import ReportKeys

# A watch response bounded in events and bytes: its bytes, the revision it covers to, and
# how many events it holds.
BoundedResponse = tuple[bytes, int, int]

# One task's fold in a batch: its state before (None for a new task) and after. Output of a
# running task is folded in place and makes no change (see ``batch_fold``).
TaskChange = tuple[state_pb.TaskState | None, state_pb.TaskState]

# What a frame costs a watcher's queue beyond its bytes (objects, list slots).
_FRAME_OVERHEAD_BYTES = 64


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One committed event: its filter keys and its serialised ExecutionEvent."""

    revision: int
    task_id: str
    sidecar_id: str
    kind: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ReportFrame:
    """One stored report (or one sidecar's run of it): its watch frame and its keys."""

    first_revision: int
    keys: ReportKeys
    data: bytes
    # When the store committed it, in ms since the epoch on the store's clock (SQLite: this
    # server's; Redis: the Redis server's, shared by every replica). Budgets' periods read it.
    committed_ms: int = 0

    @property
    def count(self) -> int:
        return len(self.keys.kinds)

    @property
    def last_revision(self) -> int:
        return self.first_revision + len(self.keys.kinds) - 1

    @property
    def sidecar_id(self) -> str:
        return self.keys.sidecar_id

    def records(self) -> list[EventRecord]:
        """Each entry as an EventRecord (for readers that want events one by one)."""
        task_ids, sidecar, first = self.keys.task_ids, self.keys.sidecar_id, self.first_revision
        return [
            EventRecord(first + i, task_ids[task], sidecar, kind, payload)
            for i, (task, kind, payload) in enumerate(
                zip(self.keys.positions(), self.keys.kinds, entry_payloads(self.data), strict=True)
            )
        ]

    def events(self) -> list[events_pb.ExecutionEvent]:
        """The frame's events, parsed in one call (recovery and other replicas' batches)."""
        return list(service_pb.WatchExecutionResponse.FromString(self.data).events)


@dataclass(frozen=True, slots=True)
class FramePage:
    """A read of stored frames: every matching event in ``(after, through]`` is in ``frames``.

    The first frame may start at or before the revision the read was after (a cursor
    inside a report); frames are in revision order.
    """

    frames: list[ReportFrame]
    through: int


@dataclass(slots=True)
class CommittedBatch:
    """Frames committed together, in revision order, with their parsed events for the fold."""

    frames: list[ReportFrame]
    events: list[events_pb.ExecutionEvent]
    # True when this process committed the batch (always, for SQLite). With a shared store,
    # each replica's metrics count only its own batches, so summing replicas is exact.
    local: bool = True
    # Whole watch responses per filter (bytes, covered-to revision, events), shared by
    # every watcher with an equal filter.
    responses: dict[object, list[BoundedResponse]] = field(default_factory=dict)

    @property
    def first_revision(self) -> int:
        return self.frames[0].first_revision

    @property
    def last_revision(self) -> int:
        return self.frames[-1].last_revision

    @property
    def size_bytes(self) -> int:
        return sum(len(f.data) for f in self.frames) + _FRAME_OVERHEAD_BYTES * len(self.frames)

    def commit_times_ms(self) -> list[int]:
        """Each event's commit time (its frame's ``committed_ms``), in the order of ``events``.

        Frames and events are both in revision order; a recovery page's first frame may
        hold revisions before its first event, so events are matched to frames by revision.
        """
        times: list[int] = []
        frames = iter(self.frames)
        frame = next(frames, None)
        for event in self.events:
            while frame is not None and frame.last_revision < event.revision:
                frame = next(frames, None)
            times.append(frame.committed_ms if frame is not None else 0)
        return times

    def kind_counts(self) -> Counter[int]:
        """How many events of each EventKind the batch holds (from the keys, no parsing)."""
        counts: Counter[int] = Counter()
        for frame in self.frames:
            counts.update(frame.keys.kinds)
        return counts
