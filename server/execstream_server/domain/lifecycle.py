"""The task lifecycle: which status an event leads to, and which changes are refused.

PENDING -> RUNNING -> (RETRYING -> RUNNING)* -> SUCCEEDED | FAILED | CANCELLED. Admission
uses ``next_status`` to refuse illegal changes before anything is stored; the fold uses the
same function on admitted events, so the two can never disagree.
"""

from __future__ import annotations

from typing import cast

from execstream.v1 import events_pb2 as events_pb

from execstream_server.domain.errors import IllegalTransitionError
from execstream_server.domain.events import STATUS_BY_OUTCOME, TERMINAL_STATUSES, status_name

PENDING = events_pb.TASK_STATUS_PENDING
RUNNING = events_pb.TASK_STATUS_RUNNING
RETRYING = events_pb.TASK_STATUS_RETRYING

_ALLOWED_STATUS_EVENTS: dict[int, frozenset[int]] = {
    PENDING: frozenset({PENDING, RUNNING, RETRYING}),
    RUNNING: frozenset({RUNNING, RETRYING}),
    RETRYING: frozenset({RUNNING, RETRYING}),
}
_RUNS = frozenset({"started", "token", "stdout", "stderr", "tool_call", "usage"})


def is_terminal(status: int) -> bool:
    return status in TERMINAL_STATUSES


def next_status(
    task_id: str, current: int, event: events_pb.ExecutionEvent
) -> events_pb.TaskStatus.ValueType:
    """Return the status after ``event``; raise IllegalTransitionError for a forbidden change.

    Output, a usage update or a ``started`` event means the task runs (a retry's new
    attempt restarts it);
    an ``error`` leaves the status alone, since only ``finished`` ends a task.
    """
    body = event.WhichOneof("body")
    if body == "finished":
        return cast(events_pb.TaskStatus.ValueType, STATUS_BY_OUTCOME[event.finished.outcome])
    if body == "status":
        requested = event.status.status
        if requested not in _ALLOWED_STATUS_EVENTS.get(current, frozenset()):
            raise IllegalTransitionError(task_id, status_name(current), status_name(requested))
        return requested
    if body in _RUNS and current in (PENDING, RETRYING):
        return RUNNING
    return cast(events_pb.TaskStatus.ValueType, current)
