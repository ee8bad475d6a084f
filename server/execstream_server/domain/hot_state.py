"""A task's state as plain Python, for the event kinds that arrive by the thousand.

Output (``token``, ``stdout``, ``stderr``) of a running task changes only counters, the
last seq/revision/time and the output tail. Keeping those in slots and the tail as raw
UTF-8 bytes makes a batch of output cost a few attribute writes and one bytes join per
task, instead of copying a ``TaskState`` (with its 4 KiB tail) per task per batch. The
``TaskState`` message is built only when someone reads it (GetSnapshot, checkpoints,
metrics on a status change) by ``to_proto``.

Every other kind (started, status, error, tool_call, finished) and output of a task that
is not running goes through ``fold.fold`` on the materialised state, so the rules live in
one place; ``tests/test_hot_state.py`` checks that any mix and grouping of events gives
exactly what folding them one at a time gives.
"""

from __future__ import annotations

from collections.abc import Iterable

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.events import OUTPUT_BODIES
from execstream_server.domain.fold import fold
from execstream_server.domain.lifecycle import RUNNING


class HotTask:
    """One task: hot fields in slots, the rest in ``base`` (whose tail is kept empty)."""

    __slots__ = (
        "attempt",
        "base",
        "event_count",
        "last_revision",
        "last_seq",
        "status",
        "tail",
        "tail_bytes",
        "truncated",
        "updated",
    )

    def __init__(self, base: state_pb.TaskState, *, tail_bytes: int) -> None:
        self.tail_bytes = tail_bytes
        self.base = base
        self.tail = base.output_tail.encode()
        self.truncated = base.output_tail_truncated
        base.ClearField("output_tail")
        self.status = base.status
        self.attempt = base.attempt
        self.event_count = base.event_count
        self.last_seq = base.last_seq
        self.last_revision = base.last_revision
        self.updated = (base.updated_time.seconds, base.updated_time.nanos)

    @property
    def task_id(self) -> str:
        return self.base.task_id

    @property
    def running(self) -> bool:
        """Whether output can take the fast path (``output``)."""
        return self.status == RUNNING

    # -- the fast path -------------------------------------------------------------------
    def output(
        self,
        texts: list[str],
        *,
        count: int,
        last_seq: int,
        last_revision: int,
        updated: tuple[int, int],
        attempt: int,
    ) -> None:
        """``count`` output events of this running task, in order (``texts``: their text).

        ``attempt`` is the highest ``attempt or 1`` among them; ``updated`` the last one's time.
        """
        self.event_count += count
        self.last_seq = last_seq
        self.last_revision = last_revision
        self.updated = updated
        if attempt > self.attempt:
            self.attempt = attempt
        limit = self.tail_bytes
        if limit > 0 and texts:
            tail = self.tail + "".join(texts).encode()
            if len(tail) > limit:
                tail = tail[-limit:]
                self.truncated = True
            self.tail = tail

    # -- everything else -----------------------------------------------------------------
    def event(self, events: Iterable[events_pb.ExecutionEvent]) -> None:
        """Events of any kind, through the fold (the reference rules)."""
        new = fold(self.to_proto(), events, tail_bytes=self.tail_bytes)
        self._absorb(new)

    def _absorb(self, state: state_pb.TaskState) -> None:
        self.tail = state.output_tail.encode()
        self.truncated = state.output_tail_truncated
        state.ClearField("output_tail")
        self.base = state
        self.status = state.status
        self.attempt = state.attempt
        self.event_count = state.event_count
        self.last_seq = state.last_seq
        self.last_revision = state.last_revision
        self.updated = (state.updated_time.seconds, state.updated_time.nanos)

    def to_proto(self) -> state_pb.TaskState:
        """The full ``TaskState`` (a new message; the caller may keep or change it)."""
        state = state_pb.TaskState()
        state.CopyFrom(self.base)
        state.status = self.status
        state.attempt = self.attempt
        state.event_count = self.event_count
        state.last_seq = self.last_seq
        state.last_revision = self.last_revision
        if self.updated != (0, 0) or self.base.HasField("updated_time"):
            state.updated_time.seconds, state.updated_time.nanos = self.updated
        # The raw tail may start inside a character; the shown tail starts at the next one.
        state.output_tail = self.tail.decode("utf-8", errors="ignore")
        state.output_tail_truncated = self.truncated
        return state


def new_task(events: Iterable[events_pb.ExecutionEvent], *, tail_bytes: int) -> HotTask:
    """A task created by its first events."""
    task = HotTask(state_pb.TaskState(), tail_bytes=tail_bytes)
    task.event(events)
    return task


def fold_batch(
    task: HotTask | None, events: list[events_pb.ExecutionEvent], *, tail_bytes: int
) -> HotTask:
    """Fold one batch's events of one task: runs of running-task output take the fast path."""
    if task is None:
        task = new_task(events[:1], tail_bytes=tail_bytes)
        events = events[1:]
    run: list[events_pb.ExecutionEvent] = []
    for event in events:
        body = event.WhichOneof("body")
        if body in OUTPUT_BODIES and task.running:
            run.append(event)
            continue
        _flush(task, run)
        task.event([event])
    _flush(task, run)
    return task


def _flush(task: HotTask, run: list[events_pb.ExecutionEvent]) -> None:
    if not run:
        return
    last = run[-1]
    texts = [getattr(e, e.WhichOneof("body") or "stdout").text for e in run]
    task.output(
        [t for t in texts if t],
        count=len(run),
        last_seq=last.seq,
        last_revision=last.revision,
        updated=(last.time.seconds, last.time.nanos),
        attempt=max(e.attempt or 1 for e in run),
    )
    run.clear()
