"""gRPC-Web calls as native ones run: deadlines, metrics for every refusal, shed watchers'
connections closed.
"""

from __future__ import annotations

import pytest
from execstream.v1 import service_pb2 as service_pb

from .support.grpcweb_client import GrpcWebClient, frame
from .support.helpers import event, free_port, report, stub_for, wait_for
from .support.raw_http1 import RawConnection, server_side_connections
from .support.server_thread import ServerFactory, ServerThread

pytestmark = pytest.mark.server
DEADLINE_EXCEEDED = 4


def base(server: ServerThread) -> str:
    return f"http://127.0.0.1:{server.app.http_port}"


def test_a_grpc_timeout_ends_a_watch_with_deadline_exceeded_as_native_does(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(http_port=free_port(), heartbeat_interval_s=0.05)
    web = GrpcWebClient(base(server))
    request = service_pb.WatchExecutionRequest()
    replies = web.stream("WatchExecution", request, headers={"grpc-timeout": "300m"})
    for count, reply in enumerate(replies):  # heartbeats come every 50 ms until the deadline
        assert count < 200, "the watch outlived its deadline"
        if reply.trailers:
            break
    assert reply.code == DEADLINE_EXCEEDED and reply.messages
    _, stub = stub_for(server.address)
    native = stub.WatchExecution(request, timeout=0.3)
    with pytest.raises(Exception) as refused:  # noqa: PT011 (grpc.RpcError has no public type)
        for _ in native:
            pass
    assert refused.value.code().value[0] == DEADLINE_EXCEEDED  # type: ignore[attr-defined]


def handled(server: ServerThread, method: str, code: str) -> float:
    assert server.app.metrics is not None
    labels = {
        "grpc_type": {"ReportProgress": "client_stream", "WatchExecution": "server_stream"}.get(
            method, "unary"
        ),
        "grpc_service": "execstream.v1.ExecutionService",
        "grpc_method": method,
        "grpc_code": code,
    }
    return server.app.metrics.registry.get_sample_value("grpc_server_handled_total", labels) or 0


def test_calls_refused_for_their_body_or_method_count_in_the_grpc_metrics(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(http_port=free_port())
    web = GrpcWebClient(base(server))
    assert web.call("GetSnapshot", b"", raw_body=frame(b"", flag=0x02)).code == 3
    assert web.call("GetSnapshot", b"", raw_body=frame(b"") * 2).code == 3
    assert web.call("ReportProgress", service_pb.ProgressReport()).code == 12
    assert handled(server, "GetSnapshot", "InvalidArgument") == 2
    assert handled(server, "ReportProgress", "Unimplemented") == 1


def test_a_shed_watcher_that_never_reads_has_its_connection_closed(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(
        http_port=free_port(),
        limits={"watch_write_timeout_s": 0.3, "watch_queue_bytes": 256 * 1024},
    )
    conn = RawConnection(server.app.http_port, receive_buffer=4096)
    body = frame(service_pb.WatchExecutionRequest(after_revision=0).SerializeToString())
    conn.send_head(
        "WatchExecution", {"Content-Type": "application/grpc-web+proto"}, content_length=len(body)
    )
    conn.send(body)
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 1)
    _, stub = stub_for(server.address)
    text = "w" * 50_000
    for i in range(200):  # ~20 MB the watcher never reads: it is shed after 0.3 s of that
        report(stub, "sc", [event(f"t{i}", 1, text=text), event(f"t{i}", 2, text=text)])
        if server.call(lambda: server.engine.hub.watcher_count) == 0:
            break
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 0, 30)
    # Its end (the trailers) cannot be written either: the server gives up the connection.
    wait_for(lambda: server_side_connections(server.app.http_port) == 0, 30)
    conn.close()
