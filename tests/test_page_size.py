"""GetSnapshot's default page size never exceeds --max-page-size."""

from __future__ import annotations

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import report, stub_for, task_events
from .support.server_thread import ServerFactory

pytestmark = pytest.mark.server


def test_the_default_page_is_clamped_to_a_max_page_size_below_it(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(limits={"max_page_size": 3})
    _, stub = stub_for(server.address)
    report(stub, "sc", *[task_events(f"t{i}", 1) for i in range(4)])
    default = stub.GetSnapshot(service_pb.GetSnapshotRequest())  # page_size 0
    assert [t.task_id for t in default.tasks] == ["t0", "t1", "t2"] and default.next_page_token
    rest = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_token=default.next_page_token))
    assert [t.task_id for t in rest.tasks] == ["t3"] and not rest.next_page_token
    assert len(stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=3)).tasks) == 3
    with pytest.raises(grpc.RpcError) as past:
        stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=4))
    assert past.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_size" in str(past.value.details()) and "3" in str(past.value.details())
