"""The fold: a task's state is a pure function of its events.

``fold(state, events)`` serves live ingest and restart recovery alike, so a restarted
server rebuilds exactly what it showed before. It never raises: events reaching it were
admitted, and admission applied the same lifecycle rules (``lifecycle.next_status``).
"""

from __future__ import annotations

from collections.abc import Iterable

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.cost import add_cost, add_usage
from execstream_server.domain.events import OUTPUT_BODIES
from execstream_server.domain.interim import Effect, effect
from execstream_server.domain.lifecycle import next_status

TaskState = state_pb.TaskState


def trim_tail(text: str, limit: int) -> tuple[str, bool]:
    """Keep the last ``limit`` UTF-8 bytes of ``text`` (cut on a character boundary)."""
    if len(text) * 4 <= limit:
        return text, False
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[-limit:].decode("utf-8", errors="ignore"), True


def _apply(state: TaskState, event: events_pb.ExecutionEvent, body: str | None) -> None:
    """What a non-output event adds; the fields every event touches are set by ``fold``."""
    if state.HasField("interim"):
        change = effect(state.interim.attempt, event, body)
        if change is Effect.SETTLE:
            _settle(state)
        elif change is Effect.REPLACE:
            state.ClearField("interim")
    if body == "usage":
        update = event.usage
        state.interim.CopyFrom(
            state_pb.InterimUsage(attempt=event.attempt or 1, usage=update.usage, cost=update.cost)
        )
    elif body == "started":
        started = event.started
        if started.backend:
            state.backend = started.backend
        if started.model:
            state.model = started.model
        if started.description:
            state.description = started.description
        if started.labels:
            # Replace, never add up: validation bounds each event's labels, and so the
            # task's, however many `started` events it sends.
            state.labels.clear()
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
    elif body == "budget":
        _mark_crossing(state, event.budget)


def _mark_crossing(state: TaskState, crossed: events_pb.BudgetCrossed) -> None:
    """Keep, per budget, the crossing with the latest period and then the highest threshold."""
    marks = state.budget_crossings
    for at, mark in enumerate(marks):
        if mark.budget == crossed.budget:
            newer = (crossed.period_start.ToNanoseconds(), crossed.threshold_percent)
            if newer > (mark.period_start.ToNanoseconds(), mark.threshold_percent):
                del marks[at]
                marks.append(crossed)
            return
    marks.append(crossed)


def _settle(state: TaskState) -> None:
    """The interim becomes its attempt's figure: it moves into usage and cost."""
    _add_chunk(state, state.interim)
    state.ClearField("interim")


def _add_chunk(
    state: TaskState,
    holder: events_pb.StatusChange | events_pb.ErrorReport | state_pb.InterimUsage,
) -> None:
    """Add a failed attempt's usage and its stamped price to the task's running totals."""
    if holder.HasField("usage"):
        add_usage(state.usage, holder.usage)
    if holder.HasField("cost"):
        if state.HasField("cost"):
            state.cost.CopyFrom(add_cost(state.cost, holder.cost))
        else:
            state.cost.CopyFrom(holder.cost)


def _apply_finished(state: TaskState, event: events_pb.ExecutionEvent) -> None:
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
    state: TaskState | None, events: Iterable[events_pb.ExecutionEvent], *, tail_bytes: int
) -> TaskState:
    """Return the state after ``events`` (all of one task, in seq order); ``state`` is untouched.

    Work that only the last event decides (seq, revision, times) is done once per call, and
    the output tail is trimmed once per call rather than per chunk: keeping the last N bytes
    on a character boundary gives the same tail however the events are grouped, so live
    batches and recovery reads still fold to identical states.
    """
    new = TaskState()
    if state is not None:
        new.CopyFrom(state)
    texts: list[str] = []
    pending = 0  # characters in ``texts``
    status = new.status
    attempt = new.attempt
    seq = new.last_seq
    count = 0
    last: events_pb.ExecutionEvent | None = None
    for event in events:
        if not new.task_id:
            new.task_id = event.task_id
            new.sidecar_id = event.sidecar_id
            status = events_pb.TASK_STATUS_PENDING
            new.created_time.CopyFrom(event.time)
            new.first_revision = event.revision
        body = event.WhichOneof("body")
        status = next_status(new.task_id, status, event)
        count += 1
        attempt = max(attempt, event.attempt or 1)
        seq = event.seq or seq  # the server's own events (seq 0) leave the sidecar's seq
        last = event
        if body in OUTPUT_BODIES:
            text = getattr(event, body).text
            if text and tail_bytes > 0:
                texts.append(text)
                pending += len(text)
                if pending > 4 * tail_bytes:  # bound the work and memory of a long batch
                    _extend_tail(new, texts, tail_bytes)
                    pending = 0
        else:
            _apply(new, event, body)
    if last is None:
        return new
    if texts:
        _extend_tail(new, texts, tail_bytes)
    new.status = status
    new.attempt = attempt
    new.event_count += count
    new.last_seq = seq
    new.last_revision = last.revision
    new.updated_time.CopyFrom(last.time)
    return new


def _extend_tail(state: TaskState, texts: list[str], tail_bytes: int) -> None:
    tail, cut = trim_tail(state.output_tail + "".join(texts), tail_bytes)
    state.output_tail = tail
    state.output_tail_truncated = state.output_tail_truncated or cut
    texts.clear()
