"""ReportProgress end to end on a real server and SQLite file."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import Stub, error_details, event, report, task_events
from .support.server_thread import ServerThread

ALL_KINDS = [
    event("t", 1, "started", backend="ollama", model="llama3.2:3b", labels={"k": "v"}),
    event("t", 2, "token", text="Hel"),
    event("t", 3, "stdout", text="out\n"),
    event("t", 4, "stderr", text="warn\n"),
    event("t", 5, "status", status=events_pb.TASK_STATUS_RETRYING, message="429"),
    event("t", 6, "error", message="rate limited", code="http_429", retryable=True),
    event("t", 7, "tool_call", tool_name="grep", arguments_summary="-r x", ok=True, iteration=1),
    event(
        "t",
        8,
        "finished",
        usage=events_pb.Usage(model="llama3.2:3b", input_tokens=3, output_tokens=2),
    ),
]


def snapshot(stub: Stub, **kwargs: Any) -> service_pb.Snapshot:
    snapshot: service_pb.Snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest(**kwargs))
    return snapshot


def test_every_event_kind_round_trips(stub: Stub, server: ServerThread) -> None:
    response = report(stub, "sc", ALL_KINDS[:4], ALL_KINDS[4:])
    assert (response.events_accepted, response.duplicates, response.last_revision) == (8, 0, 8)
    assert [(t.task_id, t.last_seq) for t in response.tasks] == [("t", 8)]
    replay = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0))
    got: list[events_pb.ExecutionEvent] = []
    for message in replay:
        got.extend(message.events)
        if len(got) == 8:
            replay.cancel()
            break
    for sent, stored in zip(ALL_KINDS, got, strict=True):
        assert stored.WhichOneof("body") == sent.WhichOneof("body")
        body = sent.WhichOneof("body")
        assert body is not None
        if body != "finished":
            assert getattr(stored, body) == getattr(sent, body)
        assert stored.sidecar_id == "sc" and stored.attempt == 1 and stored.HasField("time")
    assert [e.revision for e in got] == list(range(1, 9))
    state = snapshot(stub).tasks[0]
    assert state.status == events_pb.TASK_STATUS_SUCCEEDED
    assert (state.backend, state.model, state.error) == ("ollama", "llama3.2:3b", "rate limited")
    assert state.output_tail == "Helout\nwarn\n"


def test_resend_after_broken_stream_stores_each_event_once(stub: Stub) -> None:
    events = task_events("t", 10)
    first = report(stub, "sc", events[:6])
    assert first.events_accepted == 6
    again = report(stub, "sc", events[:6], events[6:])
    assert (again.events_accepted, again.duplicates) == (len(events) - 6, 6)
    state = snapshot(stub).tasks[0]
    assert state.last_seq == len(events) == state.event_count
    assert snapshot(stub).revision == len(events)


def test_gap_is_refused_with_the_expected_seq(stub: Stub) -> None:
    report(stub, "sc", task_events("t", 2, finish=False))
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", [event("t", 9)])
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expected seq 4" in info.value.details()
    detail = error_details(info.value)["ErrorInfo"]
    assert detail.reason == "SEQ_GAP" and detail.metadata["expected_seq"] == "4"


def test_events_after_finish_are_refused(stub: Stub) -> None:
    report(stub, "sc", task_events("t", 1))
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", [event("t", 4)])
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(info.value)["ErrorInfo"].reason == "TASK_FINISHED"
    assert snapshot(stub).tasks[0].last_seq == 3


def test_refused_message_stores_nothing_but_earlier_messages_stay(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", [event("a", 1), event("a", 2)], [event("b", 1), event("a", 9)])
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    snap = snapshot(stub)
    assert [(t.task_id, t.last_seq) for t in snap.tasks] == [("a", 2)]
    assert snap.revision == 2


def test_another_sidecar_cannot_write_a_task(stub: Stub) -> None:
    report(stub, "owner", [event("t", 1)])
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "intruder", [event("t", 2, text="injected")])
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    state = snapshot(stub).tasks[0]
    assert (state.last_seq, state.sidecar_id) == (1, "owner")
    assert "injected" not in state.output_tail


def test_revisions_are_global_and_gap_free_across_tasks(stub: Stub) -> None:
    for i in range(5):
        report(stub, f"sc{i % 2}", task_events(f"t{i}", 3))
    replay = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0))
    revisions: list[int] = []
    for message in replay:
        revisions.extend(e.revision for e in message.events)
        if len(revisions) >= 25:
            replay.cancel()
            break
    assert revisions == list(range(1, 26))


def test_empty_stream_returns_the_current_revision(stub: Stub) -> None:
    report(stub, "sc", task_events("t", 1))
    response = stub.ReportProgress(iter([]))
    assert (response.events_accepted, response.last_revision) == (0, 3)


def test_a_resent_seq_with_other_content_is_already_exists_and_stores_nothing(
    stub: Stub,
) -> None:
    report(stub, "sc", [event("t", 1, "started"), event("t", 2, text="first run\n")])
    second_run = [event("t", 1, "started"), event("t", 2, text="second run\n"), event("t", 3)]
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", second_run)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    detail = error_details(info.value)["ErrorInfo"]
    assert (detail.reason, dict(detail.metadata)) == (
        "SEQ_CONFLICT",
        {"task_id": "t", "seq": "2", "last_seq": "2"},
    )
    state = snapshot(stub).tasks[0]
    assert (state.last_seq, state.output_tail) == (2, "first run\n")


def committed_of(error: grpc.RpcError) -> service_pb.ReportProgressResponse:
    committed: service_pb.ReportProgressResponse = error_details(error)["ReportProgressResponse"]
    return committed


def test_a_refused_stream_tells_what_is_committed_for_every_task_it_touched(stub: Stub) -> None:
    report(stub, "other", [event("theirs", 1)])
    report(stub, "sc", [event("old", 1), event("old", 2)])
    with pytest.raises(grpc.RpcError) as info:
        report(
            stub,
            "sc",
            [event("a", 1), event("a", 2), event("old", 2), event("old", 3)],
            [event("b", 1), event("a", 9)],
        )
    committed = committed_of(info.value)
    assert (committed.events_accepted, committed.duplicates, committed.last_revision) == (3, 1, 6)
    assert [(t.task_id, t.last_seq) for t in committed.tasks] == [("a", 2), ("b", 0), ("old", 3)]
    with pytest.raises(grpc.RpcError) as denied:
        report(stub, "sc", [event("mine", 1), event("theirs", 2)])
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    tasks = [(t.task_id, t.last_seq) for t in committed_of(denied.value).tasks]
    assert tasks == [("mine", 0)], "nothing about another sidecar's task"


def test_an_undecodable_report_is_malformed_message_with_what_is_committed(
    channel: grpc.Channel,
) -> None:
    ingest = channel.stream_unary(
        "/execstream.v1.ExecutionService/ReportProgress",
        request_serializer=lambda raw: raw,
        response_deserializer=service_pb.ReportProgressResponse.FromString,
    )
    first = service_pb.ProgressReport(sidecar_id="sc", events=[event("t", 1)])
    with pytest.raises(grpc.RpcError) as info:
        ingest(iter([first.SerializeToString(), b"\xff\xff\xff"]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = error_details(info.value)["ErrorInfo"]
    assert (detail.reason, dict(detail.metadata)) == (
        "MALFORMED_MESSAGE",
        {"message": "execstream.v1.ProgressReport"},
    )
    committed = committed_of(info.value)
    assert [(t.task_id, t.last_seq) for t in committed.tasks] == [("t", 1)]
