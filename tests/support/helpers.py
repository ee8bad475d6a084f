"""Small builders and waits shared by the tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import grpc
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc
from execstream.v1 import state_pb2 as state_pb

Stub = service_pb2_grpc.ExecutionServiceStub
# gRPC call metadata, as the generated stubs take it.
Metadata = Sequence[tuple[str, str]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until truthy; fail with a clear message after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def event(task_id: str, seq: int, body: str = "stdout", **fields: Any) -> events_pb.ExecutionEvent:
    """Build an event; ``body`` names the oneof, ``fields`` its content."""
    ev = events_pb.ExecutionEvent(task_id=task_id, seq=seq)
    if body in ("stdout", "stderr", "token"):
        getattr(ev, body).text = fields.pop("text", f"{body} {seq}\n")
    elif body == "started":
        ev.started.CopyFrom(events_pb.Started(**({"backend": "shell"} | fields)))
        fields = {}
    elif body == "finished":
        ev.finished.CopyFrom(
            events_pb.Finished(**({"outcome": events_pb.OUTCOME_SUCCEEDED} | fields))
        )
        fields = {}
    elif body == "status":
        ev.status.CopyFrom(
            events_pb.StatusChange(**({"status": events_pb.TASK_STATUS_RUNNING} | fields))
        )
        fields = {}
    elif body == "error":
        ev.error.CopyFrom(events_pb.ErrorReport(**({"message": "boom"} | fields)))
        fields = {}
    elif body == "usage":
        ev.usage.usage.CopyFrom(fields.pop("usage", events_pb.Usage()))
    elif body == "tool_call":
        call = events_pb.ToolCall(tool_name="read_file", ok=True)
        for key, value in fields.items():
            setattr(call, key, value)
        ev.tool_call.CopyFrom(call)
        fields = {}
    elif body != "none":
        raise ValueError(body)
    for key, value in fields.items():
        setattr(ev, key, value)
    return ev


def stub_for(address: str) -> tuple[grpc.Channel, service_pb2_grpc.ExecutionServiceStub]:
    channel = grpc.insecure_channel(address)
    return channel, service_pb2_grpc.ExecutionServiceStub(channel)


def report(
    stub: service_pb2_grpc.ExecutionServiceStub,
    sidecar_id: str,
    *batches: Iterable[events_pb.ExecutionEvent],
    timeout: float = 30.0,
) -> service_pb.ReportProgressResponse:
    """Send one ReportProgress stream with one message per batch."""
    messages = [service_pb.ProgressReport(sidecar_id=sidecar_id, events=list(b)) for b in batches]
    return stub.ReportProgress(iter(messages), timeout=timeout)  # type: ignore[no-any-return]


def task_events(
    task_id: str, outputs: int, *, finish: bool = True
) -> list[events_pb.ExecutionEvent]:
    """started, ``outputs`` stdout events, and (optionally) finished: seq 1..n."""
    events = [event(task_id, 1, "started")]
    events += [event(task_id, 2 + i, "stdout") for i in range(outputs)]
    if finish:
        events.append(event(task_id, len(events) + 1, "finished", exit_code=0))
    return events


def collect_watch(
    responses: Iterator[service_pb.WatchExecutionResponse],
    until: Callable[[list[events_pb.ExecutionEvent]], bool],
) -> list[events_pb.ExecutionEvent]:
    """Read a watch until ``until(events)`` holds; returns the events seen."""
    seen: list[events_pb.ExecutionEvent] = []
    for response in responses:
        seen.extend(response.events)
        if until(seen):
            return seen
    raise AssertionError("watch ended before the condition held")


def error_details(error: grpc.RpcError) -> dict[str, Any]:
    """Decode google.rpc details of a failed call: {'ErrorInfo': ..., 'BadRequest': ...}.

    A failed ReportProgress also has 'ReportProgressResponse' (what the stream committed).
    """
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    found: dict[str, Any] = {}
    if status is None:
        return found
    assert status.message == error.details(), "abort message must equal the Status proto's"
    for detail in status.details:
        for cls in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
            service_pb.ReportProgressResponse,
        ):
            if detail.Is(cls.DESCRIPTOR):
                message = cls()
                detail.Unpack(message)
                found[cls.__name__] = message
    return found


def blobs(states: Iterable[state_pb.TaskState]) -> list[bytes]:
    """States serialised, as ``LogStore.checkpoint`` takes them."""
    return [state.SerializeToString() for state in states]
