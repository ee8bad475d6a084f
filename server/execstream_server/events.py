"""The event model's vocabulary: kinds, terminal statuses and which events carry what.

The events themselves are the ``execstream.v1`` protobuf messages (the contract is the model);
this module holds the small facts about them that several domain modules share.
"""

from __future__ import annotations

from typing import Final

from execstream.v1 import events_pb2 as pb

ExecutionEvent = pb.ExecutionEvent

KIND_BY_BODY: Final[dict[str, int]] = {
    "started": pb.EVENT_KIND_STARTED,
    "token": pb.EVENT_KIND_TOKEN,
    "stdout": pb.EVENT_KIND_STDOUT,
    "stderr": pb.EVENT_KIND_STDERR,
    "status": pb.EVENT_KIND_STATUS,
    "error": pb.EVENT_KIND_ERROR,
    "tool_call": pb.EVENT_KIND_TOOL_CALL,
    "finished": pb.EVENT_KIND_FINISHED,
}
BODY_BY_KIND: Final[dict[int, str]] = {kind: body for body, kind in KIND_BY_BODY.items()}

TERMINAL_STATUSES: Final[frozenset[int]] = frozenset(
    {pb.TASK_STATUS_SUCCEEDED, pb.TASK_STATUS_FAILED, pb.TASK_STATUS_CANCELLED}
)
STATUS_BY_OUTCOME: Final[dict[int, int]] = {
    pb.OUTCOME_SUCCEEDED: pb.TASK_STATUS_SUCCEEDED,
    pb.OUTCOME_FAILED: pb.TASK_STATUS_FAILED,
    pb.OUTCOME_CANCELLED: pb.TASK_STATUS_CANCELLED,
}
OUTPUT_BODIES: Final[frozenset[str]] = frozenset({"token", "stdout", "stderr"})


def kind_of(event: pb.ExecutionEvent) -> int:
    """Return the EventKind of an event (EVENT_KIND_UNSPECIFIED when it has no body)."""
    body = event.WhichOneof("body")
    return KIND_BY_BODY[body] if body else pb.EVENT_KIND_UNSPECIFIED


def status_name(status: int) -> str:
    """``TASK_STATUS_RUNNING`` -> ``RUNNING``, for messages and metric labels."""
    return pb.TaskStatus.Name(status).removeprefix("TASK_STATUS_")  # type: ignore[arg-type]


def outcome_name(outcome: int) -> str:
    return pb.Outcome.Name(outcome).removeprefix("OUTCOME_")  # type: ignore[arg-type]


def kind_name(kind: int) -> str:
    return pb.EventKind.Name(kind).removeprefix("EVENT_KIND_")  # type: ignore[arg-type]
