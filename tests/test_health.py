"""Health, reflection and graceful shutdown."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from google.protobuf import descriptor_pb2
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


def test_health_list_answers_every_service(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    listed = health.List(health_pb2.HealthListRequest(), timeout=10)
    statuses = {name: answer.status for name, answer in listed.statuses.items()}
    serving = health_pb2.HealthCheckResponse.SERVING
    assert statuses == {"": serving, SERVICE: serving}


def reflect_v1(channel: grpc.Channel, request: reflection_pb2.ServerReflectionRequest) -> Any:
    """Call reflection v1 (its messages are v1alpha's, field for field)."""
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return next(iter(call(iter([request]), timeout=10)))


def test_reflection_v1_lists_and_describes_the_services(channel: grpc.Channel) -> None:
    listed = reflect_v1(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in listed.list_services_response.service}
    assert names == {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    for symbol, package in (
        (SERVICE, "execstream.v1"),
        ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1"),
    ):
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        found = reflect_v1(channel, request).file_descriptor_response.file_descriptor_proto
        assert package in {descriptor_pb2.FileDescriptorProto.FromString(f).package for f in found}


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


def test_the_serving_gauge_follows_health(server: ServerThread) -> None:
    """execstream_serving is what the NOT_SERVING alert reads (deploy/prometheus/alerts.yml)."""
    metrics = server.app.metrics
    assert metrics is not None
    assert metrics.registry.get_sample_value("execstream_serving") == 1
    server.stop(grace=0.5)
    assert metrics.registry.get_sample_value("execstream_serving") == 0
