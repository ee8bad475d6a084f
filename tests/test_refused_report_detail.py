"""A refused report's own tasks are in the committed detail of the error it ends with.

The sidecar resends from each task's committed ``last_seq + 1`` without another call; the
tasks of the very report that was refused are the ones it needs most. A report refused by
validation (before it is admitted) counts too, except its ids that are themselves invalid.
"""

from __future__ import annotations

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import Stub, error_details, event, report


def committed_tasks(error: grpc.RpcError) -> list[tuple[str, int]]:
    committed: service_pb.ReportProgressResponse = error_details(error)["ReportProgressResponse"]
    return [(ack.task_id, ack.last_seq) for ack in committed.tasks]


def test_an_invalid_report_lists_its_tasks_with_their_committed_seqs(stub: Stub) -> None:
    report(stub, "sc", [event("b", 1), event("b", 2), event("b", 3)])
    too_long = event("b", 5, text="x" * 70_000)  # over the 64 KiB text limit
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", [event("a", 1)], [event("b", 4), too_long, event("c", 1)])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert committed_tasks(info.value) == [("a", 1), ("b", 3), ("c", 0)]


def test_the_invalid_ids_of_a_refused_report_are_left_out(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "sc", [event("good", 1), event("bad id!", 1)])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert committed_tasks(info.value) == [("good", 0)]


def test_a_report_with_an_invalid_sidecar_id_lists_nothing(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        report(stub, "not a sidecar!", [event("t", 1)])
    assert committed_tasks(info.value) == []
