"""A commit group's accepted events as stored frames, task chunks and answers.

``plan_frames`` runs before revisions are known: one ``PlannedFrame`` per admitted report
(per run of one sidecar's events, should a report hold several), each event serialised
once, and per task a ``TaskChunk``: its first seq and where its events sit in the group.
``stamp`` then gives the group its revisions: each frame's bytes get the revision
appended to every entry (``frames.stamped_frame``; the Redis commit script builds the same
bytes), and each chunk its revision span. The stores keep the chunks as their (task,
revision) index: a filtered replay reads the frames of its tasks' spans, and a resent seq
finds the committed event to compare it with (``committed_digests``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from execstream.v1 import events_pb2 as events_pb

from execstream_server.domain.errors import DomainError
from execstream_server.domain.events import kind_of
from execstream_server.domain.frames import stamped_frame
from execstream_server.domain.records import ReportFrame
from execstream_server.domain.report_keys import ReportKeys
from execstream_server.store.base import AppendResult
from execstream_server.store.group_admission import Outcome
from execstream_server.store.group_commit import Submission

Answer = AppendResult | DomainError


@dataclass(slots=True)
class PlannedFrame:
    """A frame before its revisions: keys, and each event serialised without a revision."""

    keys: ReportKeys
    payloads: list[bytes]
    events: list[events_pb.ExecutionEvent]


@dataclass(slots=True)
class TaskChunk:
    """One task's events of one commit group: its first seq (0 when it has none) and where
    its first and last event sit among the group's accepted events (revision = the group's
    first revision + index)."""

    task_id: str
    first_seq: int
    first_index: int
    last_index: int


@dataclass(slots=True)
class FramePlan:
    frames: list[PlannedFrame] = field(default_factory=list)
    chunks: list[TaskChunk] = field(default_factory=list)
    event_count: int = 0


def _runs(events: list[events_pb.ExecutionEvent]) -> list[list[events_pb.ExecutionEvent]]:
    """Runs of consecutive events with one sidecar_id (a frame's keys name one sidecar)."""
    runs: list[list[events_pb.ExecutionEvent]] = []
    current = ""
    for event in events:
        if not runs or event.sidecar_id != current:
            runs.append([])
            current = event.sidecar_id
        runs[-1].append(event)
    return runs


def plan_frames(outcomes: Sequence[tuple[Submission, Outcome]]) -> FramePlan:
    """Frames and task chunks of the group's admitted reports (refused ones are skipped)."""
    plan = FramePlan()
    chunks: dict[str, TaskChunk] = {}
    index = 0
    for _, outcome in outcomes:
        if isinstance(outcome, DomainError) or not outcome.accepted:
            continue
        for run in _runs(outcome.accepted):
            payloads = [event.SerializeToString() for event in run]
            keys = ReportKeys.of(run[0].sidecar_id, [(e.task_id, kind_of(e)) for e in run])
            plan.frames.append(PlannedFrame(keys, payloads, run))
            for event in run:
                chunk = chunks.get(event.task_id)
                if chunk is None:
                    chunk = chunks[event.task_id] = TaskChunk(
                        event.task_id, event.seq, index, index
                    )
                elif not chunk.first_seq:
                    chunk.first_seq = event.seq
                chunk.last_index = index
                index += 1
    plan.chunks = list(chunks.values())
    plan.event_count = index
    return plan


def stamp(
    plan: FramePlan,
    outcomes: Sequence[tuple[Submission, Outcome]],
    first_revision: int,
    committed_ms: int,
) -> tuple[list[ReportFrame], list[events_pb.ExecutionEvent], list[tuple[Submission, Answer]]]:
    """The group's frames and events with revisions from ``first_revision``, and answers;
    ``committed_ms`` is the store's clock at the commit (budget periods follow it)."""
    frames: list[ReportFrame] = []
    events: list[events_pb.ExecutionEvent] = []
    revision = first_revision
    for planned in plan.frames:
        frames.append(
            ReportFrame(
                revision, planned.keys, stamped_frame(planned.payloads, revision), committed_ms
            )
        )
        for event in planned.events:
            event.revision = revision
            events.append(event)
            revision += 1
    answers: list[tuple[Submission, Answer]] = []
    last = first_revision - 1  # a report of duplicates only answers the revision before it
    for sub, outcome in outcomes:
        if isinstance(outcome, DomainError):
            answers.append((sub, outcome))
            continue
        if outcome.accepted:
            last = outcome.accepted[-1].revision
        answers.append(
            (sub, AppendResult(len(outcome.accepted), outcome.duplicates, last, outcome.last_seq))
        )
    return frames, events, answers
