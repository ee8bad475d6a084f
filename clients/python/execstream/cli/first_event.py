"""Commit a task's first event alone, and refuse a task id that is already taken.

The server acknowledges an event whose seq it already has as a duplicate and stores
nothing, which is what makes resending safe. For a new task that same rule would turn a
reused id into silent loss: ``execstream run --task hello`` a second time would be told
"done" while every event was a duplicate of the first run's. So ``run``, ``run-llm`` and
``report`` commit each new task's first event in a call of its own and look at the answer
before anything else happens: a duplicate, ALREADY_EXISTS (the seq exists with other
content), a finished task or another sidecar's task is refused with one line.

A call whose answer was lost is sent again; a duplicate after such a resend is taken to be
our own first try (a server that compares content answers ALREADY_EXISTS for anyone else's).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import grpc
from grpc_status import rpc_status
from rich.console import Console

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from ..client.errors import code_of, refused, unreachable
from ..client.options import ConnectOptions
from ..client.task import TaskReporter
from .errors import CommandError

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
    """The ``started`` event with seq 1, built as the reporter builds every event."""
    built: list[events_pb.ExecutionEvent] = []
    TaskReporter(task_id, sidecar_id, built.append).started(
        backend=backend, model=model, description=description, labels=labels
    )
    return built[0]


def commit_first_event(
    options: ConnectOptions,
    event: events_pb.ExecutionEvent,
    *,
    wait_s: float,
    hint: str,
    err: Console,
) -> service_pb.ReportProgressResponse:
    """Commit ``event`` (a task's seq 1) in one call; raise ``TaskTaken`` if it is not new.

    ``hint`` ends the refusal: what was not done and what to do instead.
    """
    report = service_pb.ProgressReport(sidecar_id=event.sidecar_id, events=[event])
    deadline = time.monotonic() + wait_s
    resent = False
    with options.channel() as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        while True:
            try:
                response: service_pb.ReportProgressResponse = stub.ReportProgress(
                    iter([report]), metadata=options.metadata, timeout=_CALL_TIMEOUT_S
                )
            except grpc.RpcError as error:
                if code_of(error) not in _RESEND or time.monotonic() >= deadline:
                    raise _refusal(options, event.task_id, error, hint) from None
                if not resent:
                    err.print(f"[dim]no answer from {options.target}; resending…[/]")
                resent = True
                time.sleep(0.5)
                continue
            if response.duplicates and not resent:
                raise TaskTaken(f"task {event.task_id!r} already exists: {hint}")
            return response


def _refusal(options: ConnectOptions, task_id: str, error: grpc.RpcError, hint: str) -> Exception:
    code = code_of(error)
    if code in _RESEND:
        return unreachable(options.target, error)
    reason = error_reason(error)
    if code == grpc.StatusCode.ALREADY_EXISTS or reason == "SEQ_CONFLICT":
        return TaskTaken(f"task {task_id!r} already exists: {hint}")
    if reason == "TASK_FINISHED":
        return TaskTaken(f"task {task_id!r} already exists and has finished: {hint}")
    if reason == "TASK_OWNED_BY_OTHER_SIDECAR":
        return TaskTaken(f"task {task_id!r} belongs to another sidecar: {hint}")
    return refused(error)


def error_reason(error: grpc.RpcError) -> str:
    """The ErrorInfo reason of a refusal (an ``ErrorReason`` name), or ""."""
    from google.rpc import error_details_pb2

    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return ""
    info = error_details_pb2.ErrorInfo()
    for detail in status.details if status is not None else ():
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            return str(info.reason)
    return ""
