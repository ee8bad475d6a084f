"""The fold: a task's state is a pure function of its events.

``fold(state, events)`` serves live ingest and restart recovery alike, so a restarted
server rebuilds exactly what it showed before. It never raises: events reaching it were
admitted, and admission applied the same lifecycle rules (``lifecycle.next_status``).
"""

from __future__ import annotations

from collections.abc import Iterable

from execstream.v1 import events_pb2 as pb
from execstream.v1 import state_pb2 as spb

from .cost import add_cost, add_usage
from .events import OUTPUT_BODIES
from .lifecycle import next_status

TaskState = spb.TaskState


def _trim_tail(text: str, limit: int) -> tuple[str, bool]:
    """Keep the last ``limit`` UTF-8 bytes of ``text`` (cut on a character boundary)."""
    if len(text) * 4 <= limit:
        return text, False
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[-limit:].decode("utf-8", errors="ignore"), True


def _apply(state: TaskState, event: pb.ExecutionEvent, tail_bytes: int) -> None:
    body = event.WhichOneof("body")
    if not state.task_id:
        state.task_id = event.task_id
        state.sidecar_id = event.sidecar_id
        state.status = pb.TASK_STATUS_PENDING
        state.created_time.CopyFrom(event.time)
    state.status = next_status(state.task_id, state.status, event)
    state.last_seq = event.seq
    state.last_revision = event.revision
    state.event_count += 1
    state.updated_time.CopyFrom(event.time)
    state.attempt = max(state.attempt, event.attempt or 1)
    if body in OUTPUT_BODIES:
        text = getattr(event, body).text
        if text and tail_bytes > 0:
            tail, cut = _trim_tail(state.output_tail + text, tail_bytes)
            state.output_tail = tail
            state.output_tail_truncated = state.output_tail_truncated or cut
    elif body == "started":
        started = event.started
        if started.backend:
            state.backend = started.backend
        if started.model:
            state.model = started.model
        if started.description:
            state.description = started.description
        state.labels.update(started.labels)
        state.started_time.CopyFrom(event.time)
    elif body == "status":
        state.status_message = event.status.message
        _add_chunk(state, event.status)
    elif body == "error":
        state.error = event.error.message
        state.error_code = event.error.code
        _add_chunk(state, event.error)
    elif body == "finished":
        _apply_finished(state, event)


def _add_chunk(state: TaskState, holder: pb.StatusChange | pb.ErrorReport) -> None:
    """Add a failed attempt's usage and its stamped price to the task's running totals."""
    if holder.HasField("usage"):
        add_usage(state.usage, holder.usage)
    if holder.HasField("cost"):
        if state.HasField("cost"):
            state.cost.CopyFrom(add_cost(state.cost, holder.cost))
        else:
            state.cost.CopyFrom(holder.cost)


def _apply_finished(state: TaskState, event: pb.ExecutionEvent) -> None:
    finished = event.finished
    state.finished_time.CopyFrom(event.time)
    add_usage(state.usage, finished.usage)
    if finished.HasField("exit_code"):
        state.exit_code = finished.exit_code
    if finished.error:
        state.error = finished.error
    if finished.HasField("cost"):
        state.cost.CopyFrom(finished.cost)
    if not state.model and finished.usage.model:
        state.model = finished.usage.model
    if not state.backend and finished.usage.backend:
        state.backend = finished.usage.backend


def fold(
    state: TaskState | None, events: Iterable[pb.ExecutionEvent], *, tail_bytes: int
) -> TaskState:
    """Return the state after ``events`` (all of one task, in seq order); ``state`` is untouched."""
    new = TaskState()
    if state is not None:
        new.CopyFrom(state)
    for event in events:
        _apply(new, event, tail_bytes)
    return new
