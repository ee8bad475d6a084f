"""Commit a task's first event alone, and refuse a task id that is already taken.

``run``, ``run-llm`` and ``report`` commit each new task's first event in a call of its own
and look at the answer before anything else happens (a command runs, a model is called,
the rest of stdin is sent). The answer must say whether the task is ours:

- stored: the task is new, and ours;
- ALREADY_EXISTS (SEQ_CONFLICT): the task has another first event: taken;
- a duplicate: the server already has this very event. That is our own first try when
  its answer was lost (we resend after a broken call, and so does gRPC itself), or it is
  a task someone created with the same event before.

To tell those two apart, the ``started`` event carries a label unique to this invocation
(``execstream.invocation``, a random id): nobody else's event can equal ours, so the
server answers SEQ_CONFLICT for theirs, and a duplicate is confirmed as ours by reading the
task's labels back. A first event that is not ``started`` (``report`` passes on what stdin
holds) cannot carry the label: a duplicate of it is refused as taken, since it cannot be
shown to be ours. A finished task and another sidecar's task are refused too, each with
one line.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping

import grpc
from rich.console import Console

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from ..client.errors import code_of, refused, status_of, unreachable
from ..client.options import ConnectOptions
from ..client.task import TaskReporter
from .errors import CommandError
from .exit_codes import EXIT_USAGE

INVOCATION_LABEL = "execstream.invocation"
_CALL_TIMEOUT_S = 30.0
_RESEND = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class TaskTaken(CommandError):
    """The task id belongs to an earlier task (or another sidecar's): nothing was done."""


def started_event(
    task_id: str,
    sidecar_id: str,
    *,
    backend: str,
    model: str = "",
    description: str = "",
    labels: Mapping[str, str] | None = None,
) -> events_pb.ExecutionEvent:
    """The ``started`` event with seq 1, built as the reporter builds every event, and unique."""
    built: list[events_pb.ExecutionEvent] = []
    TaskReporter(task_id, sidecar_id, built.append).started(
        backend=backend, model=model, description=description, labels=labels
    )
    mark_invocation(built[0])
    return built[0]


def mark_invocation(event: events_pb.ExecutionEvent) -> None:
    """Label a ``started`` event with a random id, so that no one else's can equal it."""
    if event.HasField("started"):
        event.started.labels[INVOCATION_LABEL] = uuid.uuid4().hex


@dataclasses.dataclass(frozen=True)
class FirstEvent:
    """How to commit one task's first event and what to say if it is refused.

    ``hint`` ends a refusal: what was not done and what to do instead. A field the server
    refuses is named as the user gave it, in a usage error (exit 2): by the stdin ``line``
    it came from, or by its flag in ``fields`` (``task_id`` -> ``--task``).
    """

    options: ConnectOptions
    wait_s: float
    err: Console
    hint: str
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    line: int = 0

    def bad_field(
        self, path: str, description: str, event: events_pb.ExecutionEvent
    ) -> CommandError | None:
        """The usage error for a refused field, or None when the user did not give it."""
        name = path.split(".", 1)[1] if path.startswith("events[") and "." in path else path
        flag = self.fields.get(name)
        if flag is not None:
            value = getattr(event, name, "")
            return CommandError(f"{flag} {value!r}: {description}", EXIT_USAGE)
        if self.line:
            return CommandError(f"stdin line {self.line}: {name}: {description}", EXIT_USAGE)
        return None


def commit_first_event(
    first: FirstEvent, event: events_pb.ExecutionEvent
) -> service_pb.ReportProgressResponse:
    """Commit ``event`` (a task's seq 1) in one call; raise ``TaskTaken`` if it is not new."""
    options = first.options
    report = service_pb.ProgressReport(sidecar_id=event.sidecar_id, events=[event])
    deadline = time.monotonic() + first.wait_s
    announced = False
    with options.channel() as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        while True:
            try:
                response: service_pb.ReportProgressResponse = stub.ReportProgress(
                    iter([report]), metadata=options.metadata, timeout=_CALL_TIMEOUT_S
                )
                if response.events_accepted or _is_ours(stub, options, event):
                    return response
                raise TaskTaken(f"task {event.task_id!r} already exists: {first.hint}")
            except grpc.RpcError as error:
                if code_of(error) not in _RESEND or time.monotonic() >= deadline:
                    raise _refusal(first, event, error) from None
                if not announced:
                    first.err.print(f"[dim]no answer from {options.target}; resending…[/]")
                    announced = True
                time.sleep(0.5)


def _is_ours(
    stub: service_pb2_grpc.ExecutionServiceStub,
    options: ConnectOptions,
    event: events_pb.ExecutionEvent,
) -> bool:
    """Whether the task the server holds is the one ``event`` (a duplicate) started."""
    invocation = event.started.labels.get(INVOCATION_LABEL, "")
    if not invocation:
        return False
    request = service_pb.GetSnapshotRequest(task_ids=[event.task_id])
    snapshot = stub.GetSnapshot(request, metadata=options.metadata, timeout=_CALL_TIMEOUT_S)
    return any(task.labels.get(INVOCATION_LABEL) == invocation for task in snapshot.tasks)


def _refusal(first: FirstEvent, event: events_pb.ExecutionEvent, error: grpc.RpcError) -> Exception:
    code = code_of(error)
    if code in _RESEND:
        return unreachable(first.options.target, error)
    status = status_of(error)
    task_id, hint = event.task_id, first.hint
    if code == grpc.StatusCode.ALREADY_EXISTS or status.reason == "SEQ_CONFLICT":
        return TaskTaken(f"task {task_id!r} already exists: {hint}")
    if status.reason == "TASK_FINISHED":
        return TaskTaken(f"task {task_id!r} already exists and has finished: {hint}")
    if status.reason == "TASK_OWNED_BY_OTHER_SIDECAR":
        return TaskTaken(f"task {task_id!r} belongs to another sidecar: {hint}")
    if status.reason == "INVALID_FIELD" and status.field_violations:
        violation = status.field_violations[0]
        usage = first.bad_field(violation.field, violation.description, event)
        if usage is not None:
            return usage
    return refused(error)
