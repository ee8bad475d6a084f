"""Per-sidecar rate limits, watcher and stream caps."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.domain.ratelimit import EventRateLimiter
from execstream_server.transport.auth import Role, create_token

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
    assert limiter.acquire(["sc"], 200, terminal=False).wait == 0
    refused = limiter.acquire(["sc"], 50, terminal=False)
    assert refused.wait == pytest.approx(0.5)
    assert refused.key == "sc"
    clock.now = 0.5
    assert limiter.acquire(["sc"], 50, terminal=False).wait == 0
    assert limiter.acquire(["other"], 200, terminal=False).wait == 0, "buckets are per key"


def test_a_sidecar_at_its_limit_can_still_finish_its_tasks() -> None:
    limiter = EventRateLimiter(rate=10, burst=10, clock=FakeClock())
    assert limiter.acquire(["sc"], 10, terminal=False).wait == 0
    assert limiter.acquire(["sc"], 1, terminal=False).wait > 0
    for _ in range(5):  # five tasks end, each with some last output, on an empty bucket
        assert limiter.acquire(["sc"], 2, terminal=True).wait == 0


def test_finishing_borrows_at_most_one_burst_then_waits_for_the_refill() -> None:
    clock = FakeClock()
    limiter = EventRateLimiter(rate=10, burst=10, clock=clock)
    assert limiter.acquire(["sc"], 10, terminal=False).wait == 0
    assert limiter.acquire(["sc"], 10, terminal=True).wait == 0  # debt: -10
    refused = limiter.acquire(["sc"], 1, terminal=True)
    assert refused.wait == pytest.approx(0.1)
    clock.now = 0.1
    assert limiter.acquire(["sc"], 1, terminal=True).wait == 0


def test_no_mix_of_kinds_lifts_the_sustained_rate() -> None:
    """Throwaway tasks' finished events (alone or padding a report) still pay their way."""
    clock = FakeClock()
    rate, burst = 100, 200
    limiter = EventRateLimiter(rate=rate, burst=burst, clock=clock)
    accepted = 0
    for step in range(10_000):  # 10 simulated seconds, a report every millisecond
        clock.now = step / 1000
        events, terminal = [(1, True), (50, True), (20, False)][step % 3]
        if limiter.acquire(["sc"], events, terminal=terminal).wait == 0:
            accepted += events
    assert accepted <= burst + limiter.debt + rate * 10
    assert accepted >= rate * 10 * 0.9, "the limit is a rate, not a stop"


def test_every_bucket_of_a_report_must_admit_it() -> None:
    limiter = EventRateLimiter(rate=1, burst=10, clock=FakeClock())
    assert limiter.acquire(["sidecar:a", "token:t"], 10, terminal=False).wait == 0
    refused = limiter.acquire(["sidecar:b", "token:t"], 1, terminal=False)
    assert refused.key == "token:t"
    assert limiter.acquire(["sidecar:b"], 10, terminal=False).wait == 0, "b was not charged"


def test_zero_rate_disables_limiting() -> None:
    limiter = EventRateLimiter(rate=0, burst=1, clock=FakeClock())
    assert limiter.acquire(["sc"], 10**6, terminal=False).wait == 0


def test_server_answers_resource_exhausted_with_a_retry_hint_but_lets_finished_through(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(limits={"sidecar_events_per_second": 1, "sidecar_burst_events": 5})
    _, stub = stub_for(server.address)
    events = task_events("t", 8)  # 10 events
    report(stub, "sc", events[:5])
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", events[5:9])
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--sidecar-events-per-second" in info.value.details()
    details = error_details(info.value)
    assert details["RetryInfo"].retry_delay.ToNanoseconds() > 0
    assert details["ErrorInfo"].reason == "RATE_LIMITED"
    assert details["ErrorInfo"].metadata["limit"] == "--sidecar-events-per-second"
    finished = report(stub, "sc", events[5:])
    assert finished.events_accepted == 5, "a report finishing the task may borrow a burst"


def test_finished_events_of_throwaway_tasks_do_not_bypass_the_limit(
    server_factory: Callable[..., ServerThread],
) -> None:
    rate, burst = 1, 100
    server = server_factory(
        limits={"sidecar_events_per_second": rate, "sidecar_burst_events": burst}
    )
    channel, stub = stub_for(server.address)
    started = time.monotonic()
    accepted = refused = 0
    codes: set[grpc.StatusCode] = set()
    for i in range(40):  # 20 output events padded with a throwaway task's finished event
        events = [event(f"pad-{i}", seq, "stdout") for seq in range(1, 21)]
        events.append(event(f"throwaway-{i}", 1, "finished"))
        try:
            accepted += report(stub, "sc", events, timeout=10).events_accepted
        except grpc.RpcError as exc:
            codes.add(exc.code())
            refused += 1
    elapsed = time.monotonic() - started
    assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert accepted <= 2 * burst + rate * elapsed + 21
    assert refused > 0
    channel.close()


def test_with_auth_every_token_has_its_own_bucket_across_sidecar_ids(
    server_factory: Callable[..., ServerThread], tmp_path: Path
) -> None:
    tokens = str(tmp_path / "tokens.json")
    admin = create_token(tokens, Role.ADMIN)
    server = server_factory(
        auth_file=tokens, limits={"sidecar_events_per_second": 1, "sidecar_burst_events": 10}
    )
    channel, stub = stub_for(server.address)
    md = [("authorization", f"Bearer {admin}")]

    def send(sidecar: str, task: str) -> None:
        messages = [service_pb.ProgressReport(sidecar_id=sidecar, events=task_events(task, 3))]
        stub.ReportProgress(iter(messages), metadata=md, timeout=10)

    send("sc-1", "a")  # 5 events
    send("sc-2", "b")  # 5 more: the token's bucket is empty, each sidecar's half full
    with pytest.raises(grpc.RpcError) as info:
        stub.ReportProgress(
            iter([service_pb.ProgressReport(sidecar_id="sc-3", events=[event("c", 1)])]),
            metadata=md,
            timeout=10,
        )
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "this token exceeds" in info.value.details()
    channel.close()


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


@pytest.mark.parametrize(
    "spell",
    [
        lambda t, i: "Bearer " + " " * i + t,
        lambda t, i: ("bearer", "BEARER", "BeArEr")[i % 3] + " " + t + " " * i,
    ],
    ids=["whitespace", "scheme-case"],
)
def test_respelling_the_authorization_header_shares_the_tokens_bucket(
    server_factory: Callable[..., ServerThread],
    tmp_path: Path,
    spell: Callable[[str, int], str],
) -> None:
    """The bucket is the authenticated token's, not the header's bytes."""
    tokens = str(tmp_path / "tokens.json")
    admin = create_token(tokens, Role.ADMIN)
    server = server_factory(
        auth_file=tokens, limits={"sidecar_events_per_second": 1, "sidecar_burst_events": 10}
    )
    channel, stub = stub_for(server.address)
    accepted = 0
    refusals = []
    for i in range(6):  # 6 sidecars x 3 events, each header spelled differently
        messages = [
            service_pb.ProgressReport(sidecar_id=f"sc-{i}", events=task_events(f"t{i}", 2)[:3])
        ]
        md = [("authorization", spell(admin, i))]
        try:
            accepted += stub.ReportProgress(iter(messages), metadata=md, timeout=10).events_accepted
        except grpc.RpcError as exc:
            refusals.append((exc.code(), "this token exceeds" in exc.details()))
    assert refusals and set(refusals) == {(grpc.StatusCode.RESOURCE_EXHAUSTED, True)}
    assert accepted <= 10 + 3  # one burst, plus what a second refills at most
    channel.close()
