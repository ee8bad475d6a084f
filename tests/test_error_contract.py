"""Every refusal on the wire carries ErrorInfo with its reason and documented metadata.

Reasons tied to one feature are tested beside it (auth in test_auth.py, watch revisions in
test_watch_contract.py, conflicts and what a refused stream committed in test_ingest.py);
this file covers the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import Stub, error_details, event, report, stub_for, task_events
from .support.server_thread import ServerThread


def refused(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def info_of(error: grpc.RpcError) -> tuple[str, dict[str, str]]:
    detail = error_details(error)["ErrorInfo"]
    assert detail.domain == "execstream.v1"
    return detail.reason, dict(detail.metadata)


def test_a_rate_limit_is_rate_limited_with_retry_info_and_the_pushback_trailer(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(limits={"sidecar_events_per_second": 1, "sidecar_burst_events": 3})
    _, stub = stub_for(server.address)
    report(stub, "sc", [event("t", 1), event("t", 2), event("t", 3)])
    error = refused(lambda: report(stub, "sc", [event("t", 4), event("t", 5)]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info_of(error) == (
        "RATE_LIMITED",
        {"limit": "--sidecar-events-per-second", "value": "1"},
    )
    delay_ms = error_details(error)["RetryInfo"].retry_delay.ToMilliseconds()
    trailers = dict(error.trailing_metadata())
    assert delay_ms > 0 and abs(int(trailers["grpc-retry-pushback-ms"]) - delay_ms) <= 1
    tasks = error_details(error)["ReportProgressResponse"].tasks
    assert [(t.task_id, t.last_seq) for t in tasks] == [("t", 3)]


def test_a_count_limit_is_limit_exceeded_naming_the_flag(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(limits={"max_watchers": 1})
    _, stub = stub_for(server.address)
    request = service_pb.WatchExecutionRequest()
    first = stub.WatchExecution(request)
    next(first)
    error = refused(lambda: next(stub.WatchExecution(request, timeout=10)))
    first.cancel()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info_of(error) == ("LIMIT_EXCEEDED", {"limit": "--max-watchers", "value": "1"})
    assert "grpc-retry-pushback-ms" not in dict(error.trailing_metadata())


def test_an_invalid_field_names_the_field_and_the_limit(stub: Stub) -> None:
    error = refused(lambda: stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=10**6)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info_of(error) == ("INVALID_FIELD", {"field": "page_size", "limit": "10000"})
    assert error_details(error)["BadRequest"].field_violations[0].field == "page_size"
    bad_id = refused(lambda: report(stub, "sc", [event("bad id!", 1)]))
    assert info_of(bad_id) == ("INVALID_FIELD", {"field": "events[0].task_id"})


def test_an_undecodable_request_is_malformed_message(channel: grpc.Channel) -> None:
    snapshot = channel.unary_unary(
        "/execstream.v1.ExecutionService/GetSnapshot",
        request_serializer=lambda raw: raw,
        response_deserializer=service_pb.Snapshot.FromString,
    )
    error = refused(lambda: snapshot(b"\xff\xff\xff", timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info_of(error) == ("MALFORMED_MESSAGE", {"message": "execstream.v1.GetSnapshotRequest"})


def test_lifecycle_refusals_say_where_the_task_stands(stub: Stub) -> None:
    report(stub, "sc", [event("t", 1, "started"), event("t", 2)])
    back = event("t", 3, "status", status=events_pb.TASK_STATUS_PENDING)
    error = refused(lambda: report(stub, "sc", [back]))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info_of(error) == (
        "ILLEGAL_TRANSITION",
        {"task_id": "t", "last_seq": "2", "from": "RUNNING", "to": "PENDING"},
    )
    report(stub, "sc", [event("t", 3, "finished")])
    late = refused(lambda: report(stub, "sc", [event("t", 4)]))
    assert info_of(late) == ("TASK_FINISHED", {"task_id": "t", "last_seq": "3"})
    gap = refused(lambda: report(stub, "sc", [event("u", 1), event("u", 3)]))
    assert info_of(gap) == ("SEQ_GAP", {"task_id": "u", "expected_seq": "2", "last_seq": "1"})
    report(stub, "owner", [event("owned", 1)])
    other = refused(lambda: report(stub, "intruder", [event("owned", 2)]))
    assert info_of(other) == ("TASK_OWNED_BY_OTHER_SIDECAR", {"task_id": "owned"})
    assert "owner" not in other.details(), "the owner is not disclosed"


def test_a_bug_is_internal_error_and_the_server_keeps_serving(server: ServerThread) -> None:
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 1))
    engine = server.engine
    working = engine.snapshot

    def broken(**_: Any) -> Any:
        raise RuntimeError("injected")

    server.call(lambda: setattr(engine, "snapshot", broken))
    error = refused(lambda: stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=10))
    server.call(lambda: setattr(engine, "snapshot", working))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert info_of(error) == ("INTERNAL_ERROR", {})
    assert "injected" not in error.details()
    assert stub.GetSnapshot(service_pb.GetSnapshotRequest()).revision == 3


def _ids(count: int) -> list[str]:
    return [f"id{i}" for i in range(count)]


def _report_call(*events: events_pb.ExecutionEvent) -> Callable[[Stub], Any]:
    return lambda stub: report(stub, "sc", list(events))


def _started(labels: dict[str, str]) -> events_pb.ExecutionEvent:
    return event("lbl", 1, "started", labels=labels)


def _usage(**counts: int) -> events_pb.Usage:
    usage = events_pb.Usage()
    for name, count in counts.items():
        setattr(usage, name, count)
    return usage


# (case, call, the first bad field, the limit it names or None)
INVALID_CASES: list[tuple[str, Callable[[Stub], Any], str, int | None]] = [
    (
        "page_size",
        lambda stub: stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=10_001)),
        "page_size",
        10_000,
    ),
    (
        "snapshot task_ids count",
        lambda stub: stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=_ids(1001))),
        "task_ids",
        1000,
    ),
    (
        "watch sidecar_ids count",
        lambda stub: next(
            stub.WatchExecution(service_pb.WatchExecutionRequest(sidecar_ids=_ids(1001)))
        ),
        "sidecar_ids",
        1000,
    ),
    (
        "watch task id too long",
        lambda stub: next(
            stub.WatchExecution(service_pb.WatchExecutionRequest(task_ids=["ok", "x" * 129]))
        ),
        "task_ids[1]",
        128,
    ),
    (
        "snapshot task id charset",
        lambda stub: stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=["not ok"])),
        "task_ids[0]",
        None,
    ),
    (
        "snapshot status",
        lambda stub: stub.GetSnapshot(
            service_pb.GetSnapshotRequest(statuses=[events_pb.TaskStatus.ValueType(99)])
        ),
        "statuses[0]",
        None,
    ),
    (
        "watch kind",
        lambda stub: next(
            stub.WatchExecution(
                service_pb.WatchExecutionRequest(kinds=[events_pb.EventKind.ValueType(99)])
            )
        ),
        "kinds[0]",
        None,
    ),
    (
        "page_token",
        lambda stub: stub.GetSnapshot(service_pb.GetSnapshotRequest(page_token="!!")),
        "page_token",
        None,
    ),
    (
        "label count",
        _report_call(_started({f"k{i}": "v" for i in range(33)})),
        "events[0].started.labels",
        32,
    ),
    (
        "label key too long",
        _report_call(_started({"k" * 65: "v"})),
        f"events[0].started.labels[{'k' * 65}]",
        64,
    ),
    (
        "empty label key",
        _report_call(_started({"": "v"})),
        "events[0].started.labels[]",
        64,
    ),
    (
        "label value too long",
        _report_call(_started({"team": "v" * 257})),
        "events[0].started.labels[team]",
        256,
    ),
    (
        "token count",
        _report_call(event("tok", 1, "finished", usage=_usage(input_tokens=2**40 + 1))),
        "events[0].finished.usage.input_tokens",
        2**40,
    ),
    (
        "task token sum",
        _report_call(
            event("sum", 1, "error", usage=_usage(output_tokens=2**40)),
            event("sum", 2, "finished", usage=_usage(input_tokens=1)),
        ),
        "events[1].finished.usage",
        2**40,
    ),
]


@pytest.mark.parametrize(
    ("call", "field", "limit"), [c[1:] for c in INVALID_CASES], ids=[c[0] for c in INVALID_CASES]
)
def test_every_invalid_argument_carries_error_info_naming_the_field_and_limit(
    stub: Stub, call: Callable[[Stub], Any], field: str, limit: int | None
) -> None:
    error = refused(lambda: call(stub))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    reason, metadata = info_of(error)
    violation = error_details(error)["BadRequest"].field_violations[0]
    assert reason == "INVALID_FIELD"
    assert metadata.get("field") == violation.field == field
    if limit is None:
        assert "limit" not in metadata
    else:
        assert metadata.get("limit") == str(limit)
        assert str(limit) in violation.description, violation.description
