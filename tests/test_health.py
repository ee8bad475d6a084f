"""Health, reflection and graceful shutdown."""

from __future__ import annotations

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .support.helpers import report, stub_for, task_events, wait_for
from .support.server_thread import ServerThread

SERVICE = "execstream.v1.ExecutionService"


def test_health_is_serving_for_the_server_and_the_service(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE):
        status = health.Check(health_pb2.HealthCheckRequest(service=name)).status
        assert status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(iter(stub.ServerReflectionInfo(iter([request]))))
    names = {s.name for s in response.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)
    response = next(iter(stub.ServerReflectionInfo(iter([request]))))
    assert response.file_descriptor_response.file_descriptor_proto


def test_shutdown_ends_watchers_with_a_last_heartbeat_then_unavailable(
    server: ServerThread,
) -> None:
    channel, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 1))
    call = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0))
    health = health_pb2_grpc.HealthStub(channel)
    watch_health = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
    assert next(watch_health).status == health_pb2.HealthCheckResponse.SERVING
    opening = next(call)
    assert opening.progress.revision == 0 and not opening.events
    first = next(call)
    assert len(first.events) == 3
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 1)
    server.stop(grace=2)
    assert next(watch_health).status == health_pb2.HealthCheckResponse.NOT_SERVING
    messages: list[service_pb.WatchExecutionResponse] = []
    with pytest.raises(grpc.RpcError) as info:
        messages.extend(call)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "after_revision=3" in info.value.details()
    assert messages and messages[-1].progress.revision == 3
    channel.close()
