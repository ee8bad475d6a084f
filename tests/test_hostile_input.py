"""In-range but hostile numbers, times and bytes: refused at admission, or harmless after it.

Each case once stopped ingest, hid a revision from watchers or broke snapshots and JSON for
everyone. Now the value is refused with INVALID_ARGUMENT naming the field and the bound, or
accepted and carried safely through fold, totals, snapshot and watch, on both stores.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.config import MAX_TOKENS
from google.protobuf.json_format import MessageToJson
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .support.helpers import (
    collect_watch,
    error_details,
    event,
    report,
    stub_for,
    task_events,
)
from .support.redis_server import RedisServer
from .support.server_thread import ServerThread

pytestmark = pytest.mark.server
INT64_MAX = 2**63 - 1
EXPENSIVE = events_pb.Usage(model="claude-opus-4-1", backend="anthropic")  # $15 / $75 per Mtok


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
        return
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        yield redis_server.url
    finally:
        redis_server.kill()


@pytest.fixture
def hostile_server(store_url: str, server_factory: Callable[..., ServerThread]) -> ServerThread:
    return server_factory(store=store_url) if store_url else server_factory()


def usage(**counts: int) -> events_pb.Usage:
    chunk = events_pb.Usage()
    chunk.CopyFrom(EXPENSIVE)
    for name, count in counts.items():
        setattr(chunk, name, count)
    return chunk


def finished(task_id: str, seq: int = 1, **counts: int) -> events_pb.ExecutionEvent:
    return event(task_id, seq, "finished", usage=usage(**counts))


def refused_field(call: Callable[[], object]) -> tuple[str, str]:
    """Run a call that must fail INVALID_ARGUMENT; return its first field and description."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    violation = error_details(info.value)["BadRequest"].field_violations[0]
    return violation.field, violation.description


def assert_serving_and_gap_free(server: ServerThread) -> None:
    """Another sidecar still gets through promptly; watch and snapshot see every revision."""
    channel, stub = stub_for(server.address)
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1  # SERVING
    done = report(stub, "bystander", task_events("bystander-task", 1), timeout=10)
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=10_000), timeout=10)
    assert snap.revision == done.last_revision
    MessageToJson(snap)
    watch = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0), timeout=30)
    seen = collect_watch(watch, lambda evs: bool(evs) and evs[-1].revision >= snap.revision)
    watch.cancel()
    assert [e.revision for e in seen] == list(range(1, snap.revision + 1))
    channel.close()


def test_a_finished_event_costing_more_than_int64_is_refused_and_ingest_goes_on(
    hostile_server: ServerThread,
) -> None:
    channel, stub = stub_for(hostile_server.address)
    field, text = refused_field(
        lambda: report(stub, "attacker", [finished("wedge", input_tokens=3 * 10**15)], timeout=10)
    )
    assert field == "events[0].finished.usage.input_tokens"
    assert str(MAX_TOKENS) in text
    assert_serving_and_gap_free(hostile_server)
    channel.close()


def test_tokens_at_the_bound_are_accepted_and_priced(hostile_server: ServerThread) -> None:
    channel, stub = stub_for(hostile_server.address)
    report(stub, "sc", [finished("max", input_tokens=MAX_TOKENS)], timeout=10)
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=["max"]), timeout=10)
    assert snap.tasks[0].cost.actual.input_nanos == MAX_TOKENS * 15_000
    field, _ = refused_field(
        lambda: report(stub, "sc", [finished("past", input_tokens=MAX_TOKENS + 1)], timeout=10)
    )
    assert field == "events[0].finished.usage.input_tokens"
    channel.close()


@pytest.mark.parametrize(
    "counts",
    [{"input_tokens": 2 * 10**15}, {"output_tokens": 2**63 + 5}],
    ids=["priced-2e15", "unpriced-2^63+5"],
)
def test_two_huge_tasks_are_refused_and_nothing_skips_a_revision(
    hostile_server: ServerThread, counts: dict[str, int]
) -> None:
    channel, stub = stub_for(hostile_server.address)
    for task in ("huge-1", "huge-2"):
        ev = finished(task, **counts)
        if "output_tokens" in counts:
            ev.finished.usage.model = "no-such-model"
        field, _ = refused_field(functools.partial(report, stub, "sc", [ev], timeout=10))
        assert field == f"events[0].finished.usage.{next(iter(counts))}"
    assert_serving_and_gap_free(hostile_server)
    channel.close()


def test_a_task_cannot_pass_the_bound_in_many_chunks(hostile_server: ServerThread) -> None:
    channel, stub = stub_for(hostile_server.address)
    half = MAX_TOKENS // 2
    retry = event("chunky", 1, "status", status=events_pb.TASK_STATUS_RETRYING)
    retry.status.usage.CopyFrom(usage(output_tokens=half))
    report(stub, "sc", [retry], timeout=10)
    again = event("chunky", 2, "error", usage=usage(output_tokens=half))
    report(stub, "sc", [again], timeout=10)  # exactly MAX_TOKENS now
    field, text = refused_field(
        lambda: report(stub, "sc", [finished("chunky", 3, output_tokens=1)], timeout=10)
    )
    assert field == "events[0].finished.usage"
    assert "2^40" in text
    report(stub, "sc", [finished("chunky", 3)], timeout=10)  # finishing without tokens is fine
    assert_serving_and_gap_free(hostile_server)
    channel.close()


def test_totals_of_many_maximal_tasks_saturate_instead_of_failing(
    hostile_server: ServerThread,
) -> None:
    """200 tasks at the bound on a $50/Mtok model sum to 1.1e19 nano-USD, above int64."""
    channel, stub = stub_for(hostile_server.address)
    big = events_pb.Usage(model="claude-fable-5-1", backend="anthropic", output_tokens=MAX_TOKENS)
    events = [event(f"big-{i:03}", 1, "finished", usage=big) for i in range(200)]
    report(stub, "sc", events, timeout=30)
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=10_000), timeout=10)
    assert snap.totals.cost_nanos == INT64_MAX
    assert snap.tasks[0].cost.actual.total_nanos == MAX_TOKENS * 50_000
    assert_serving_and_gap_free(hostile_server)
    channel.close()


@pytest.mark.parametrize(
    ("seconds", "nanos", "field"),
    [(-(2**62), 0, "events[0].time.seconds"), (0, 2 * 10**9, "events[0].time.nanos")],
    ids=["seconds", "nanos"],
)
def test_out_of_range_times_are_refused(
    hostile_server: ServerThread, seconds: int, nanos: int, field: str
) -> None:
    channel, stub = stub_for(hostile_server.address)
    bad = event("timely", 1)
    bad.time.seconds, bad.time.nanos = seconds, nanos
    assert refused_field(lambda: report(stub, "sc", [bad], timeout=10))[0] == field
    first, last = event("edge", 1), event("edge", 2)
    first.time.FromJsonString("0001-01-01T00:00:00Z")
    last.time.FromJsonString("9999-12-31T23:59:59.999999999Z")
    report(stub, "sc", [first, last], timeout=10)
    assert_serving_and_gap_free(hostile_server)
    channel.close()


def _with_unknown_field(ev: events_pb.ExecutionEvent, size: int) -> events_pb.ExecutionEvent:
    """``ev`` plus field 99 holding ``size`` bytes, as a newer or hostile client might send."""
    from execstream_server.domain.frames import varint

    extra = b"\x9a\x06" + varint(size) + b"u" * size  # field 99, length-delimited
    return events_pb.ExecutionEvent.FromString(ev.SerializeToString() + extra)


def test_unknown_fields_are_dropped_before_storing(hostile_server: ServerThread) -> None:
    channel, stub = stub_for(hostile_server.address)
    report(stub, "sc", [_with_unknown_field(event("odd", 1), 5_000_000)], timeout=30)
    report(stub, "sc", [event("odd", 2)], timeout=10)
    # A client with gRPC's default 4 MiB receive limit reads past that revision.
    watch = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0), timeout=30)
    seen = collect_watch(watch, lambda evs: len(evs) >= 2)
    watch.cancel()
    assert [e.revision for e in seen] == [1, 2]
    assert seen[0].ByteSize() < 200
    channel.close()


def test_a_usage_setting_the_retired_field_9_is_refused_naming_its_successor(
    hostile_server: ServerThread,
) -> None:
    channel, stub = stub_for(hostile_server.address)
    old = events_pb.Usage.FromString(usage(input_tokens=5).SerializeToString() + b"\x48\x07")
    ev = event("old-client", 1, "finished", usage=old)
    field, text = refused_field(lambda: report(stub, "sc", [ev], timeout=10))
    assert field == "events[0].finished.usage.cache_write_one_hour_tokens"
    assert "field 9" in text
    channel.close()


def test_a_status_filter_outside_the_enum_is_invalid(hostile_server: ServerThread) -> None:
    channel, stub = stub_for(hostile_server.address)
    for statuses in ([99], [0]):
        request = service_pb.GetSnapshotRequest(statuses=statuses)  # type: ignore[arg-type]
        field, _ = refused_field(functools.partial(stub.GetSnapshot, request, timeout=10))
        assert field == "statuses[0]"
    channel.close()


def test_an_event_over_the_stored_size_bound_is_refused(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(
        limits={"max_text_bytes": 2 * 1024 * 1024, "max_event_bytes": 1024 * 1024}
    )
    channel, stub = stub_for(server.address)
    big = event("big", 1, "stdout", text="x" * (1024 * 1024))
    field, text = refused_field(lambda: report(stub, "sc", [big], timeout=10))
    assert field == "events[0]"
    assert "--max-event-bytes" in text
    fits = event("big", 1, "stdout", text="x" * (1024 * 1024 - 20))
    report(stub, "sc", [fits], timeout=10)
    channel.close()
