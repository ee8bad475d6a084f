"""A graceful stop ends every stream with UNAVAILABLE + SHUTTING_DOWN and where to resume.

Streams open at the stop, and streams that arrive while the server drains, all get it;
none is CANCELLED or INTERNAL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .support.helpers import error_details, event, report, stub_for, task_events, wait_for
from .support.server_thread import ServerThread

pytestmark = pytest.mark.server


def shutting_down(error: grpc.RpcError) -> dict[str, str]:
    assert error.code() == grpc.StatusCode.UNAVAILABLE, (error.code(), error.details())
    detail = error_details(error)["ErrorInfo"]
    assert detail.reason == "SHUTTING_DOWN"
    return dict(detail.metadata)


def held_open_reports(sidecar: str, first: list[Any], release: threading.Event) -> Iterator[Any]:
    """One report, then a stream that stays open (the server waits for the next one)."""
    yield service_pb.ProgressReport(sidecar_id=sidecar, events=first)
    release.wait(30)


class Outcome:
    """The error a call in a background thread ended with."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.error: grpc.RpcError | None = None
        self.messages: list[service_pb.WatchExecutionResponse] = []
        self._thread = threading.Thread(target=self._run, args=(call,))
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            result = call()
            if result is not None and not isinstance(result, service_pb.ReportProgressResponse):
                self.messages.extend(result)
        except grpc.RpcError as error:
            self.error = error

    def wait(self) -> grpc.RpcError:
        self._thread.join(30)
        assert self.error is not None, "the call ended without an error"
        return self.error


def test_open_streams_end_with_shutting_down_and_where_to_resume(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(shutdown_grace_s=10)
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 1))  # revisions 1..3
    release = threading.Event()
    stream = held_open_reports("sc", [event("u", 1), event("u", 2)], release)
    ingest = Outcome(lambda: stub.ReportProgress(stream, timeout=30))
    wait_for(lambda: server.call(lambda: server.engine.revision) == 5)
    messages: list[service_pb.WatchExecutionResponse] = []
    watch_call = stub.WatchExecution(service_pb.WatchExecutionRequest(), timeout=30)

    def watch() -> None:
        messages.extend(watch_call)

    watching = Outcome(watch)
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 1)
    server.stop(grace=10)
    release.set()
    assert shutting_down(watching.wait()) == {"resume_revision": "5"}
    assert messages[-1].progress.revision == 5, "a last Progress before the status"
    assert shutting_down(ingest.wait()) == {}
    committed = error_details(ingest.wait())["ReportProgressResponse"]
    assert [(t.task_id, t.last_seq) for t in committed.tasks] == [("u", 2)]
    assert committed.events_accepted == 2


def test_streams_arriving_while_the_server_drains_are_refused_with_shutting_down(
    server: ServerThread,
) -> None:
    channel, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 1))
    server.run(server.app.drain(grace=5))  # what a stop does before the gRPC server stops
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
    late_watch = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=2))
    with pytest.raises(grpc.RpcError) as watch_refused:
        list(late_watch)
    assert shutting_down(watch_refused.value) == {"resume_revision": "2"}
    with pytest.raises(grpc.RpcError) as report_refused:
        report(stub, "sc", [event("late", 1)])
    assert shutting_down(report_refused.value) == {}
    committed = error_details(report_refused.value)["ReportProgressResponse"]
    assert [(t.task_id, t.last_seq) for t in committed.tasks] == []
    assert server.call(lambda: server.engine.revision) == 3, "nothing of it was stored"


async def test_a_drain_with_no_open_stream_is_done_at_once_even_with_no_grace() -> None:
    from execstream_server.transport.drain import Drain

    drain = Drain()
    assert await drain.start(0.0), "nothing open: nothing left after the grace"
    assert drain.draining
