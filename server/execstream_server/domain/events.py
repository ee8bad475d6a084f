"""The event model's vocabulary: kinds, terminal statuses and which events carry what.

The events themselves are the ``execstream.v1`` protobuf messages (the contract is the model);
this module holds the small facts about them that several domain modules share.
"""

from __future__ import annotations

from typing import Final

from execstream.v1 import events_pb2 as events_pb

KIND_BY_BODY: Final[dict[str, int]] = {
    "started": events_pb.EVENT_KIND_STARTED,
    "token": events_pb.EVENT_KIND_TOKEN,
    "stdout": events_pb.EVENT_KIND_STDOUT,
    "stderr": events_pb.EVENT_KIND_STDERR,
    "status": events_pb.EVENT_KIND_STATUS,
    "error": events_pb.EVENT_KIND_ERROR,
    "tool_call": events_pb.EVENT_KIND_TOOL_CALL,
    "finished": events_pb.EVENT_KIND_FINISHED,
    "usage": events_pb.EVENT_KIND_USAGE,
    "budget": events_pb.EVENT_KIND_BUDGET,
}

TERMINAL_STATUSES: Final[frozenset[int]] = frozenset(
    {events_pb.TASK_STATUS_SUCCEEDED, events_pb.TASK_STATUS_FAILED, events_pb.TASK_STATUS_CANCELLED}
)
STATUS_BY_OUTCOME: Final[dict[int, int]] = {
    events_pb.OUTCOME_SUCCEEDED: events_pb.TASK_STATUS_SUCCEEDED,
    events_pb.OUTCOME_FAILED: events_pb.TASK_STATUS_FAILED,
    events_pb.OUTCOME_CANCELLED: events_pb.TASK_STATUS_CANCELLED,
}
OUTPUT_BODIES: Final[frozenset[str]] = frozenset({"token", "stdout", "stderr"})
# Bodies only the server writes (seq 0, into an existing task's stream); refused on input.
SERVER_BODIES: Final[frozenset[str]] = frozenset({"budget"})
# The author of the events the server writes: a sidecar id is never empty.
SERVER_AUTHOR: Final = ""


def kind_of(event: events_pb.ExecutionEvent) -> int:
    """Return the EventKind of an event (EVENT_KIND_UNSPECIFIED when it has no body)."""
    body = event.WhichOneof("body")
    return KIND_BY_BODY[body] if body else events_pb.EVENT_KIND_UNSPECIFIED


def status_name(status: int) -> str:
    """``TASK_STATUS_RUNNING`` -> ``RUNNING``, for messages and metric labels."""
    return events_pb.TaskStatus.Name(status).removeprefix("TASK_STATUS_")  # type: ignore[arg-type]


def outcome_name(outcome: int) -> str:
    return events_pb.Outcome.Name(outcome).removeprefix("OUTCOME_")  # type: ignore[arg-type]


def kind_name(kind: int) -> str:
    return events_pb.EventKind.Name(kind).removeprefix("EVENT_KIND_")  # type: ignore[arg-type]
