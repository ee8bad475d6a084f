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
from execstream_server.domain.events import KIND_BY_BODY, SERVER_AUTHOR
from execstream_server.domain.frames import stamped_frame, varint
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


def _task_index(positions: list[int]) -> bytes:
    """``ReportKeys.task_index``: one varint per entry (one byte each below 128 tasks)."""
    if len(positions) < 128 or max(positions) < 128:
        return bytes(positions)
    return b"".join(varint(p) for p in positions)


def _plan_run(
    plan: FramePlan, chunks: dict[str, TaskChunk], run: list[events_pb.ExecutionEvent], index: int
) -> int:
    """Add one run's frame (and its tasks to ``chunks``); return the group index after it.

    One pass per event: serialise it, read its kind, and place it in its task's chunk.
    """
    payloads: list[bytes] = []
    kinds = bytearray()
    positions: list[int] = []
    run_chunks: list[TaskChunk] = []  # by the task's position among the run's tasks
    where: dict[str, int] = {}
    for event in run:
        task_id = event.task_id
        payloads.append(event.SerializeToString())
        body = event.WhichOneof("body")
        kinds.append(KIND_BY_BODY[body] if body else events_pb.EVENT_KIND_UNSPECIFIED)
        position = where.get(task_id)
        if position is None:
            position = where[task_id] = len(run_chunks)
            chunk = chunks.get(task_id)
            if chunk is None:
                chunk = chunks[task_id] = TaskChunk(task_id, event.seq, index, index)
            run_chunks.append(chunk)
        else:
            chunk = run_chunks[position]
        if not chunk.first_seq:
            chunk.first_seq = event.seq
        chunk.last_index = index
        positions.append(position)
        index += 1
    keys = ReportKeys(run[0].sidecar_id, tuple(where), _task_index(positions), bytes(kinds))
    plan.frames.append(PlannedFrame(keys, payloads, run))
    return index


def plan_frames(outcomes: Sequence[tuple[Submission, Outcome]]) -> FramePlan:
    """Frames and task chunks of the group's admitted reports (refused ones are skipped)."""
    plan = FramePlan()
    chunks: dict[str, TaskChunk] = {}
    index = 0
    for sub, outcome in outcomes:
        if isinstance(outcome, DomainError) or not outcome.accepted:
            continue
        # A sidecar's report is one run; the server's own events carry each task's owner.
        runs = _runs(outcome.accepted) if sub.sidecar_id == SERVER_AUTHOR else [outcome.accepted]
        for run in runs:
            index = _plan_run(plan, chunks, run, index)
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
