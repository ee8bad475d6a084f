"""Every input limit answers INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) naming the field and limit."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import error_details, event, report, stub_for
from .support.server_thread import ServerThread

LIMITS = {"max_text_bytes": 100, "max_events_per_report": 5, "max_message_bytes": 64 * 1024}

CASES: list[tuple[str, str, list[events_pb.ExecutionEvent], str]] = [
    ("task id too long", "sc", [event("t" * 129, 1)], "events[0].task_id"),
    ("task id bad charset", "sc", [event("bad id!", 1)], "events[0].task_id"),
    ("task id empty", "sc", [event("", 1)], "events[0].task_id"),
    ("sidecar id bad", "side car", [event("t", 1)], "sidecar_id"),
    ("seq zero", "sc", [event("t", 0)], "events[0].seq"),
    ("empty body", "sc", [event("t", 1, "none")], "events[0].body"),
    ("text too long", "sc", [event("t", 1, "stdout", text="x" * 101)], "events[0].stdout.text"),
    (
        "multibyte text too long",
        "sc",
        [event("t", 1, "token", text="€" * 34)],
        "events[0].token.text",
    ),
    ("too many events", "sc", [event("t", i) for i in range(1, 7)], "events"),
    ("no events", "sc", [], "events"),
    (
        "terminal status event",
        "sc",
        [event("t", 1, "status", status=events_pb.TASK_STATUS_SUCCEEDED)],
        "events[0].status.status",
    ),
    (
        "finished without outcome",
        "sc",
        [event("t", 1, "finished", outcome=events_pb.OUTCOME_UNSPECIFIED)],
        "events[0].finished.outcome",
    ),
    (
        "reasoning above output",
        "sc",
        [event("t", 1, "finished", usage=events_pb.Usage(output_tokens=1, reasoning_tokens=2))],
        "events[0].finished.usage.reasoning_tokens",
    ),
    (
        "bad backend",
        "sc",
        [event("t", 1, "started", backend="Ollama Cloud")],
        "events[0].started.backend",
    ),
    (
        "too many labels",
        "sc",
        [event("t", 1, "started", labels={str(i): "v" for i in range(33)})],
        "events[0].started.labels",
    ),
]


@pytest.fixture
def limited(server_factory: Callable[..., ServerThread]) -> ServerThread:
    return server_factory(limits=LIMITS)


@pytest.mark.parametrize(
    ("sidecar", "events", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_report_is_invalid_argument_naming_the_field(
    limited: ServerThread, sidecar: str, events: list[events_pb.ExecutionEvent], field: str
) -> None:
    channel, stub = stub_for(limited.address)
    with pytest.raises(grpc.RpcError) as info:
        report(stub, sidecar, events)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field + ":")
    violations = error_details(info.value)["BadRequest"].field_violations
    assert violations[0].field == field
    assert limited.call(lambda: limited.engine.revision) == 0, "nothing may be stored"
    channel.close()


def test_limit_messages_name_the_limit(limited: ServerThread) -> None:
    channel, stub = stub_for(limited.address)
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", [event("t", 1, "stdout", text="x" * 101)])
    assert "101 bytes; the limit is 100" in info.value.details()
    channel.close()


def test_oversized_message_is_resource_exhausted_and_server_stays_healthy(
    limited: ServerThread,
) -> None:
    channel, stub = stub_for(limited.address)
    huge = service_pb.ProgressReport(
        sidecar_id="sc", events=[event("t", 1, "stdout", text="x" * 70_000)]
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.ReportProgress(iter([huge]), timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert report(stub, "sc", [event("t", 1)]).events_accepted == 1
    channel.close()


def test_watch_filter_ids_are_validated(limited: ServerThread) -> None:
    channel, stub = stub_for(limited.address)
    with pytest.raises(grpc.RpcError) as info:
        next(iter(stub.WatchExecution(service_pb.WatchExecutionRequest(task_ids=["ok", "not ok"]))))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "task_ids[1]" in info.value.details()
    channel.close()
