"""WatchExecution: live, replay-then-live, filters, coalescing, heartbeats, retention, cleanup."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import Stub, error_details, event, report, stub_for, task_events, wait_for
from .support.server_thread import ServerThread


def watch(stub: Stub, **kwargs: Any) -> Any:
    """A WatchExecution call: iterate it for responses, ``cancel()`` it to stop."""
    return stub.WatchExecution(service_pb.WatchExecutionRequest(**kwargs))


def read_events(call: Any, count: int) -> list[events_pb.ExecutionEvent]:
    got: list[events_pb.ExecutionEvent] = []
    for message in call:
        got.extend(message.events)
        if len(got) >= count:
            break
    call.cancel()
    return got


def test_live_watch_sees_events_reported_after_it_started(stub: Stub, server: ServerThread) -> None:
    report(stub, "sc", task_events("old", 1))
    call = watch(stub)
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 1)
    report(stub, "sc", task_events("new", 2))
    got = read_events(call, 4)
    assert [(e.task_id, e.revision) for e in got] == [("new", r) for r in range(4, 8)]


def test_replay_then_live_has_no_gap_and_no_duplicate_under_load(server: ServerThread) -> None:
    channel, stub = stub_for(server.address)
    total_tasks, per_task = 40, 25
    report(stub, "sc", task_events("warm", 10))
    stop = threading.Event()

    def produce() -> None:
        _, producer = stub_for(server.address)
        for i in range(total_tasks):
            events = task_events(f"t{i}", per_task - 2)
            report(producer, f"sc{i % 3}", events[:10], events[10:])

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: server.call(lambda: server.engine.revision) > 100)
    expected_total = 12 + total_tasks * per_task
    call = watch(stub, after_revision=5)
    got = read_events(call, expected_total - 5)
    producer.join(60)
    stop.set()
    assert [e.revision for e in got] == list(range(6, expected_total + 1))
    channel.close()


def test_filters_select_tasks_sidecars_and_kinds(stub: Stub) -> None:
    report(stub, "alpha", task_events("a1", 2), task_events("a2", 2))
    report(stub, "beta", task_events("b1", 2))
    by_task = read_events(watch(stub, after_revision=0, task_ids=["a2"]), 4)
    assert {e.task_id for e in by_task} == {"a2"}
    by_sidecar = read_events(watch(stub, after_revision=0, sidecar_ids=["beta"]), 4)
    assert {e.sidecar_id for e in by_sidecar} == {"beta"}
    finished = read_events(watch(stub, after_revision=0, kinds=[events_pb.EVENT_KIND_FINISHED]), 3)
    assert [e.task_id for e in finished] == ["a1", "a2", "b1"]


def test_responses_are_coalesced(stub: Stub) -> None:
    report(stub, "sc", task_events("t", 300))
    call = watch(stub, after_revision=0)
    messages = 0
    seen = 0
    for message in call:
        messages += 1
        seen += len(message.events)
        if seen >= 302:
            break
    call.cancel()
    assert messages < 10, f"{messages} responses for 302 events: not coalesced"


def test_idle_watch_gets_heartbeats_with_the_current_revision(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(heartbeat_interval_s=0.05)
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 2))
    call = watch(stub)
    beats = []
    for message in call:
        if message.HasField("progress"):
            beats.append(message.progress.revision)
        if len(beats) == 2:
            break
    call.cancel()
    assert beats == [4, 4]


def test_compacted_revision_ends_with_out_of_range(
    server_factory: Callable[..., ServerThread],
) -> None:
    from execstream_server.config import Retention

    server = server_factory(
        retention=Retention(max_events=5), checkpoint_interval_s=0.02, compact_interval_s=0.02
    )
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 18))
    wait_for(lambda: server.call(lambda: server.engine.store.oldest_revision) == 16)
    with pytest.raises(grpc.RpcError) as info:
        read_events(watch(stub, after_revision=3), 1)
    assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "oldest retained revision is 16" in info.value.details()
    assert error_details(info.value)["ErrorInfo"].metadata["oldest_revision"] == "16"
    kept = read_events(watch(stub, after_revision=15), 5)
    assert [e.revision for e in kept] == [16, 17, 18, 19, 20]
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest())
    assert snap.tasks[0].last_seq == 20 and snap.oldest_revision == 16


def test_cancelled_watchers_leave_no_subscribers(stub: Stub, server: ServerThread) -> None:
    calls = [watch(stub, after_revision=0) for _ in range(5)]
    report(stub, "sc", task_events("t", 1))
    for call in calls:
        next(iter(call))
    assert server.call(lambda: server.engine.hub.watcher_count) == 5
    for call in calls:
        call.cancel()
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 0)


def test_slow_watcher_catches_up_from_the_log_without_losing_events(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(limits={"watch_queue_bytes": 4096})
    _, stub = stub_for(server.address)
    call = watch(stub, after_revision=0)
    big = "x" * 60_000
    # ~24 MB: far more than HTTP/2 flow control lets the server buffer for an idle reader.
    for i in range(200):
        report(
            stub,
            "sc",
            [event(f"t{i}", 1, "stdout", text=big), event(f"t{i}", 2, "stdout", text=big)],
        )
    assert server.app.metrics is not None
    registry = server.app.metrics.registry
    wait_for(lambda: (registry.get_sample_value("execstream_watch_overflows_total") or 0) > 0)
    got = read_events(call, 400)
    assert [e.revision for e in got] == list(range(1, 401))


def test_unknown_kind_in_filter_is_invalid(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        read_events(watch(stub, kinds=[99]), 1)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kinds[0]" in info.value.details()
