"""A ReportProgress stream reports a bounded number of tasks, so its answer can be sent.

The answer lists every task the stream reported, after all of it is committed. A stream of
72,000 tasks once got its events stored and an answer larger than the message limit: the
sidecar could not tell what was committed. Now the report that would pass the bound is
refused before anything of it is stored, with LIMIT_EXCEEDED naming the flag.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.config import MAX_ERROR_ACK_BYTES, Limits

from .support.helpers import Stub, error_details, event, stub_for
from .support.server_thread import ServerThread

pytestmark = pytest.mark.server


def _stream(stub: Stub, task_ids: list[str], per_report: int) -> service_pb.ReportProgressResponse:
    reports = [
        service_pb.ProgressReport(
            sidecar_id="sc", events=[event(t, 1) for t in task_ids[i : i + per_report]]
        )
        for i in range(0, len(task_ids), per_report)
    ]
    response: service_pb.ReportProgressResponse = stub.ReportProgress(iter(reports), timeout=120)
    return response


def _committed(stub: Stub, task_ids: list[str]) -> int:
    request = service_pb.GetSnapshotRequest(task_ids=task_ids[-1000:])
    return len(stub.GetSnapshot(request, timeout=30).tasks)


def test_a_stream_at_the_default_bound_is_answered_to_a_default_client(
    server_factory: Callable[..., ServerThread],
) -> None:
    """20,000 tasks with ids of the longest length: the answer fits gRPC's 4 MiB default."""
    limit = Limits().stream_task_limit
    assert limit == 20_000
    # The stream bound as by default; the rate limit out of the way.
    server = server_factory(limits={"sidecar_burst_events": 10**6})
    channel, stub = stub_for(server.address)  # the default 4 MiB receive limit
    ids = [f"{i:06d}".ljust(128, "t") for i in range(limit + 1)]
    response = _stream(stub, ids[:limit], 4000)
    assert len(response.tasks) == limit and response.events_accepted == limit
    with pytest.raises(grpc.RpcError) as info:
        _stream(stub, ids, 4000)  # the last report adds the 20,001st task
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_details(info.value)["ErrorInfo"].reason == "LIMIT_EXCEEDED"
    assert _committed(stub, ids) == 999, "nothing of the refused report may be stored"
    channel.close()


@pytest.mark.parametrize(
    ("limits", "bound"),
    [
        ({"max_tasks_per_stream": 5}, 5),
        # An answer of 13 tasks with 128-character ids fits 2048 bytes; 14 do not.
        ({"max_tasks_per_stream": 100, "max_message_bytes": 2048}, 13),
    ],
    ids=["flag", "message-size"],
)
def test_the_report_past_the_bound_is_refused_naming_the_flag(
    server_factory: Callable[..., ServerThread], limits: dict[str, int], bound: int
) -> None:
    server = server_factory(limits=limits)
    channel, stub = stub_for(server.address)
    ids = [f"{i:03d}".ljust(128, "a") for i in range(bound + 1)]
    response = _stream(stub, ids[:bound] + ids[:bound], 1)  # reported twice: counted once
    assert len(response.tasks) == bound
    assert response.ByteSize() <= limits.get("max_message_bytes", Limits().max_message_bytes)
    with pytest.raises(grpc.RpcError) as info:
        _stream(stub, [f"b{t[1:]}" for t in ids[:bound]] + [ids[bound]], 1)
    error = info.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = error_details(error)
    assert details["ErrorInfo"].reason == "LIMIT_EXCEEDED"
    assert dict(details["ErrorInfo"].metadata) == {
        "limit": "--max-tasks-per-stream",
        "value": str(bound),
    }
    assert details["ReportProgressResponse"].events_accepted == bound
    snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=[ids[bound]]))
    assert not snapshot.tasks, "the refused report was stored"
    channel.close()


def test_a_refusal_after_many_tasks_still_reaches_the_client_with_what_is_committed(
    stub: Stub,
) -> None:
    """The committed seqs ride in the status trailer, which clients cap at a few KiB: the
    refused report's tasks come first, then as many others as fit."""
    ids = [f"{i:03d}".ljust(128, "m") for i in range(300)]  # 43 KB of task acks
    reports = [
        service_pb.ProgressReport(sidecar_id="sc", events=[event(t, 1) for t in ids]),
        service_pb.ProgressReport(sidecar_id="sc", events=[event(ids[7], 2), event(ids[9], 5)]),
    ]
    with pytest.raises(grpc.RpcError) as info:
        stub.ReportProgress(iter(reports), timeout=30)
    error = info.value
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    details = error_details(error)
    assert details["ErrorInfo"].reason == "SEQ_GAP"
    told = details["ReportProgressResponse"]
    seqs = {ack.task_id: ack.last_seq for ack in told.tasks}
    assert seqs[ids[7]] == 1 and seqs[ids[9]] == 1, "the refused report's tasks come first"
    assert 2 < len(seqs) < len(ids)
    assert told.ByteSize() <= MAX_ERROR_ACK_BYTES
    assert told.events_accepted == 300
