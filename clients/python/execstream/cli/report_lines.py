"""Where each stdin line of ``execstream report`` goes: its seq, or skipped as stored.

Three modes, chosen per call:

- new (the default): every task starts on stdin. Its first event is numbered 1 and
  committed alone (``first_event``), so a task id that is taken is refused before anything
  else of it is sent; its next lines continue from 2.
- ``--resume``: each task continues after its last committed seq. A line without ``seq``
  is a new event (a sidecar that reports one event per call); a line numbered at or below
  the committed seq is skipped as already stored.
- ``--replay``: stdin holds each task from its first event (a file a sidecar wrote, sent
  again after a failure). A line without ``seq`` is numbered by its place among its task's
  lines (1, 2, 3, ...; after a numbered line, that number + 1); lines at or below the
  committed seq are skipped, the rest continue the task.

Every event queued is recorded with its stdin line, so that a refusal of one of them can
name the line.
"""

from __future__ import annotations

import dataclasses
import enum

from execstream.v1 import events_pb2 as events_pb

from ..client import Reporter, TaskReporter
from .first_event import FirstEvent, commit_first_event, mark_invocation


class Mode(enum.Enum):
    NEW = "new"
    RESUME = "resume"
    REPLAY = "replay"


@dataclasses.dataclass
class Placement:
    """The counts and records of one ``report`` call."""

    read: int = 0  # events on stdin
    first_stored: int = 0  # first events of new tasks, committed one by one
    skipped: int = 0  # lines at or below their task's committed seq
    revision: int = 0  # the highest revision the first events' commits reached
    # Per task: the committed seq when it was first seen (resumed) or its first event's.
    committed: dict[str, int] = dataclasses.field(default_factory=dict)
    # (task_id, seq, stdin line) of every event queued on the reporter, in order.
    queued: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)


class LinePlacer:
    """Numbers stdin's events per task, in one of the three modes, onto ``reporter``."""

    def __init__(self, mode: Mode, reporter: Reporter, first: FirstEvent) -> None:
        self.mode = mode
        self.reporter = reporter
        self.first = first
        self.placement = Placement()
        self._position: dict[str, int] = {}  # --replay: the seq of the task's previous line

    def place(self, event: events_pb.ExecutionEvent, number: int) -> None:
        """Queue (or commit, or skip) the event of stdin line ``number``."""
        self.placement.read += 1
        task_id = event.task_id
        if not self.reporter.has_task(task_id):
            if self.mode is Mode.NEW:
                self._commit_new_task(event, number)
                return
            task = self.reporter.resume_task(task_id)
            self.placement.committed[task_id] = task.last_seq
        task = self.reporter.task(task_id)
        if self.mode is Mode.REPLAY:
            event.seq = event.seq or self._position.get(task_id, 0) + 1
            self._position[task_id] = event.seq
        if self.mode is not Mode.NEW and event.seq and event.seq <= task.last_seq:
            self.placement.skipped += 1
            return
        self._queue(task, event, number)

    def _queue(self, task: TaskReporter, event: events_pb.ExecutionEvent, number: int) -> None:
        try:
            task.raw(event)
        except ValueError as exc:
            raise ValueError(f"stdin line {number}: {exc}") from None
        self.placement.queued.append((task.task_id, task.last_seq, number))

    def _commit_new_task(self, event: events_pb.ExecutionEvent, number: int) -> None:
        """Number the task's first event 1 and commit it alone: refuse a taken id at once."""
        if event.seq not in (0, 1):
            raise ValueError(
                f"stdin line {number}: seq is {event.seq}, but task {event.task_id!r} starts "
                "here (its first seq is 1; pass --resume or --replay to continue a task "
                "reported before)"
            )
        event.seq = 1
        event.sidecar_id = self.reporter.sidecar_id  # the report's, as for its other events
        if not event.HasField("time"):
            event.time.GetCurrentTime()
        mark_invocation(event)
        hint = (
            f"nothing of it was stored from stdin line {number} on; pass --resume to continue "
            "it, or use a fresh task id"
        )
        first = dataclasses.replace(self.first, hint=hint, line=number)
        response = commit_first_event(first, event)
        self.reporter.task(event.task_id, next_seq=2)
        self.placement.first_stored += 1
        self.placement.committed[event.task_id] = 1
        self.placement.revision = max(self.placement.revision, response.last_revision)
