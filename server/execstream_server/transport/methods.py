"""Each served method's declared RPC type, from the proto descriptors, and the status codes.

The servicer serves the unary-request methods (GetSnapshot, WatchExecution) with
request-streaming handlers (see ``servicer.rpc_handlers`` for why), so a handler's
streaming flags no longer tell the method's type. Metrics labels (``grpc_type``) and the
per-client stream cap go by the declared type instead.
"""

from __future__ import annotations

import grpc
from execstream.v1 import service_pb2 as service_pb
from grpc_health.v1 import health_pb2

# grpc.StatusCode -> the Go name go-grpc-prometheus puts in grpc_code.
GO_CODE_NAMES = {
    grpc.StatusCode.OK: "OK",
    grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}


def _rpc_type(client_streaming: bool, server_streaming: bool) -> str:
    """go-grpc-prometheus's names for the four kinds of RPC."""
    if client_streaming and server_streaming:
        return "bidi_stream"
    if client_streaming:
        return "client_stream"
    return "server_stream" if server_streaming else "unary"


DECLARED_TYPES: dict[str, str] = {
    f"/{service.full_name}/{method.name}": _rpc_type(
        method.client_streaming, method.server_streaming
    )
    for service in service_pb.DESCRIPTOR.services_by_name.values()
    for method in service.methods
}


def declared_type(method: str, *, request_streaming: bool, response_streaming: bool) -> str:
    """The method's declared type, or the handler's when the method is not ours."""
    return DECLARED_TYPES.get(method) or _rpc_type(request_streaming, response_streaming)


def served_methods() -> list[tuple[str, str, str]]:
    """(grpc_type, service, method) of execstream's and health's methods, for the metrics."""
    services = [
        *service_pb.DESCRIPTOR.services_by_name.values(),
        *health_pb2.DESCRIPTOR.services_by_name.values(),
    ]
    return [
        (_rpc_type(m.client_streaming, m.server_streaming), service.full_name, m.name)
        for service in services
        for m in service.methods
    ]
