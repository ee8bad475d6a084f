"""Abuse table: each malformed input gets the right status; the server stays healthy and sane."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc
from execstream_server.transport.auth import Role, create_token
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .support.helpers import error_details, event, task_events
from .support.server_thread import ServerThread

pytestmark = pytest.mark.server

REPORT = "/execstream.v1.ExecutionService/ReportProgress"
WATCH = "/execstream.v1.ExecutionService/WatchExecution"
SNAPSHOT = "/execstream.v1.ExecutionService/GetSnapshot"
Code: TypeAlias = grpc.StatusCode


def report_msg(*events: events_pb.ExecutionEvent, sidecar: str = "sc") -> service_pb.ProgressReport:
    return service_pb.ProgressReport(sidecar_id=sidecar, events=list(events))


def send_report(channel: grpc.Channel, md: Any, *messages: Any, raw: bool = False) -> None:
    if raw:
        call = channel.stream_unary(REPORT)
        call(iter(messages), metadata=md, timeout=10)
        return
    service_pb2_grpc.ExecutionServiceStub(channel).ReportProgress(
        iter(messages), metadata=md, timeout=10
    )


def first_watch_message(channel: grpc.Channel, md: Any, request: Any, raw: bool = False) -> None:
    if raw:
        call = channel.unary_stream(WATCH)(request, metadata=md, timeout=10)
    else:
        call = service_pb2_grpc.ExecutionServiceStub(channel).WatchExecution(
            request, metadata=md, timeout=10
        )
    next(iter(call))


TEXT = "x" * 70_000
UNKNOWN_KIND_FILTER = service_pb.WatchExecutionRequest(kinds=[events_pb.EventKind.ValueType(77)])
CASES: list[tuple[str, Callable[[grpc.Channel, Any], None], Code]] = [
    (
        "oversize text",
        lambda ch, md: send_report(ch, md, report_msg(event("a", 1, "stdout", text=TEXT))),
        Code.INVALID_ARGUMENT,
    ),
    (
        "too many events",
        lambda ch, md: send_report(ch, md, report_msg(*[event("a", i) for i in range(1, 5000)])),
        Code.INVALID_ARGUMENT,
    ),
    (
        "empty body",
        lambda ch, md: send_report(ch, md, report_msg(event("a", 1, "none"))),
        Code.INVALID_ARGUMENT,
    ),
    (
        "bad task id",
        lambda ch, md: send_report(ch, md, report_msg(event("a b", 1))),
        Code.INVALID_ARGUMENT,
    ),
    (
        "task id too long",
        lambda ch, md: send_report(ch, md, report_msg(event("a" * 500, 1))),
        Code.INVALID_ARGUMENT,
    ),
    (
        "empty sidecar id",
        lambda ch, md: send_report(ch, md, report_msg(event("a", 1), sidecar="")),
        Code.INVALID_ARGUMENT,
    ),
    (
        "seq zero",
        lambda ch, md: send_report(ch, md, report_msg(event("a", 0))),
        Code.INVALID_ARGUMENT,
    ),
    (
        "seq gap",
        lambda ch, md: send_report(ch, md, report_msg(event("done", 9))),
        Code.FAILED_PRECONDITION,
    ),
    (
        "event after finish",
        lambda ch, md: send_report(ch, md, report_msg(event("done", 4))),
        Code.FAILED_PRECONDITION,
    ),
    (
        "another sidecar's task",
        lambda ch, md: send_report(ch, md, report_msg(event("done", 4), sidecar="evil")),
        Code.PERMISSION_DENIED,
    ),
    (
        "garbage bytes on the wire",
        lambda ch, md: send_report(ch, md, b"\x0a\xff\xff\xff\xff\x0f", raw=True),
        Code.INVALID_ARGUMENT,
    ),
    (
        "garbage watch request",
        lambda ch, md: first_watch_message(ch, md, b"\x12\x80", raw=True),
        Code.INVALID_ARGUMENT,
    ),
    (
        "garbage snapshot request",
        lambda ch, md: ch.unary_unary(SNAPSHOT)(b"\xff\xff", metadata=md, timeout=10),
        Code.INVALID_ARGUMENT,
    ),
    (
        "unknown status value",
        lambda ch, md: send_report(ch, md, report_msg(event("a", 1, "status", status=42))),
        Code.INVALID_ARGUMENT,
    ),
    (
        "unknown kind filter",
        lambda ch, md: first_watch_message(ch, md, UNKNOWN_KIND_FILTER),
        Code.INVALID_ARGUMENT,
    ),
    (
        "bad page token",
        lambda ch, md: service_pb2_grpc.ExecutionServiceStub(ch).GetSnapshot(
            service_pb.GetSnapshotRequest(page_token="!!"), metadata=md, timeout=10
        ),
        Code.INVALID_ARGUMENT,
    ),
    (
        "message over the size limit",
        lambda ch, md: send_report(
            ch, md, report_msg(*[event("a", i, "stdout", text="y" * 60_000) for i in range(1, 200)])
        ),
        Code.RESOURCE_EXHAUSTED,
    ),
    (
        "no token",
        lambda ch, md: send_report(ch, [], report_msg(event("a", 1))),
        Code.UNAUTHENTICATED,
    ),
    (
        "wrong scheme in metadata",
        lambda ch, md: send_report(
            ch, [("authorization", "Token 12345")], report_msg(event("a", 1))
        ),
        Code.UNAUTHENTICATED,
    ),
    (
        "binary authorization metadata",
        lambda ch, md: send_report(
            ch, [("authorization-bin", b"\x00\xff")], report_msg(event("a", 1))
        ),
        Code.UNAUTHENTICATED,
    ),
    (
        "huge metadata",
        lambda ch, md: send_report(
            ch, [*md, ("x-padding", "p" * 64_000)], report_msg(event("a", 1))
        ),
        Code.RESOURCE_EXHAUSTED,
    ),
]


@pytest.fixture(scope="module")
def abused(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from .support.server_thread import make_config

    tmp: Path = tmp_path_factory.mktemp("abuse")
    tokens = str(tmp / "tokens.json")
    admin = create_token(tokens, Role.ADMIN)
    server = ServerThread(make_config(tmp, auth_file=tokens)).start()
    metadata = [("authorization", f"Bearer {admin}")]
    channel = grpc.insecure_channel(server.address)
    send_report(channel, metadata, report_msg(*task_events("done", 1)))
    yield server, channel, metadata
    channel.close()
    server.stop()


@pytest.mark.parametrize(("action", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_gets_the_right_status(
    abused: Any, action: Callable[..., None], code: Code
) -> None:
    _, channel, metadata = abused
    with pytest.raises(grpc.RpcError) as info:
        action(channel, metadata)
    assert info.value.code() == code, info.value.details()
    if code == Code.INVALID_ARGUMENT:  # on the wire: ErrorInfo beside BadRequest
        details = error_details(info.value)
        reason = details["ErrorInfo"].reason
        assert details["ErrorInfo"].domain == "execstream.v1"
        assert reason in ("INVALID_FIELD", "MALFORMED_MESSAGE")
        first = details["BadRequest"].field_violations[0].field
        if reason == "INVALID_FIELD":
            assert details["ErrorInfo"].metadata["field"] == first
        else:
            assert "message" in details["ErrorInfo"].metadata


def test_server_is_healthy_and_consistent_after_the_abuse(abused: Any) -> None:
    server, channel, metadata = abused
    for _, action, _ in CASES:
        with contextlib.suppress(grpc.RpcError):
            action(channel, metadata)
    health = health_pb2_grpc.HealthStub(channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    send_report(channel, metadata, report_msg(*task_events("after", 2)))
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(), metadata=metadata, timeout=10)
    assert [(t.task_id, t.last_seq) for t in snap.tasks] == [("after", 4), ("done", 3)]
    assert snap.revision == 7
    assert server.call(lambda: server.engine.revision) == 7
