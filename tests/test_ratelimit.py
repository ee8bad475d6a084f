"""Per-sidecar rate limits, watcher and stream caps."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.domain.ratelimit import EventRateLimiter

from .support.helpers import error_details, event, report, stub_for, task_events
from .support.server_thread import ServerThread


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_the_rate_and_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = EventRateLimiter(rate=100, burst=200, clock=clock)
    assert limiter.acquire("sc", 200, terminal=False) == 0
    assert limiter.acquire("sc", 50, terminal=False) == pytest.approx(0.5)
    clock.now = 0.5
    assert limiter.acquire("sc", 50, terminal=False) == 0
    assert limiter.acquire("other", 200, terminal=False) == 0, "buckets are per sidecar"


def test_a_finishing_report_is_never_refused() -> None:
    limiter = EventRateLimiter(rate=10, burst=10, clock=FakeClock())
    assert limiter.acquire("sc", 10, terminal=False) == 0
    assert limiter.acquire("sc", 5, terminal=True) == 0
    assert limiter.acquire("sc", 1, terminal=False) > 0


def test_zero_rate_disables_limiting() -> None:
    limiter = EventRateLimiter(rate=0, burst=1, clock=FakeClock())
    assert limiter.acquire("sc", 10**6, terminal=False) == 0


def test_server_answers_resource_exhausted_with_a_retry_hint_but_lets_finished_through(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(limits={"sidecar_events_per_second": 1, "sidecar_burst_events": 5})
    _, stub = stub_for(server.address)
    events = task_events("t", 10)
    report(stub, "sc", events[:5])
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", events[5:11])
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--sidecar-events-per-second" in info.value.details()
    assert error_details(info.value)["RetryInfo"].retry_delay.ToNanoseconds() > 0
    finished = report(stub, "sc", events[5:])
    assert finished.events_accepted == 7, "a report finishing the task is never rate limited"


def test_max_watchers_is_enforced(server_factory: Callable[..., ServerThread]) -> None:
    server = server_factory(limits={"max_watchers": 2})
    _, stub = stub_for(server.address)
    report(stub, "sc", [event("t", 1)])
    open_calls = [
        stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0)) for _ in range(2)
    ]
    for call in open_calls:
        next(iter(call))
    with pytest.raises(grpc.RpcError) as info:
        next(iter(stub.WatchExecution(service_pb.WatchExecutionRequest())))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-watchers" in info.value.details()
    for call in open_calls:
        call.cancel()


def test_streams_per_client_are_capped(server_factory: Callable[..., ServerThread]) -> None:
    server = server_factory(limits={"max_streams_per_client": 2})
    _, stub = stub_for(server.address)
    report(stub, "sc", [event("t", 1)])
    open_calls = [
        stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0)) for _ in range(2)
    ]
    for call in open_calls:
        next(iter(call))
    with pytest.raises(grpc.RpcError) as info:
        next(iter(stub.WatchExecution(service_pb.WatchExecutionRequest())))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-streams-per-client" in info.value.details()
    assert stub.GetSnapshot(service_pb.GetSnapshotRequest()).revision == 1, (
        "unary calls are not capped"
    )
    for call in open_calls:
        call.cancel()
