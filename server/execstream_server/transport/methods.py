"""Each execstream method's declared RPC type, from the proto descriptors.

The servicer serves the unary-request methods (GetSnapshot, WatchExecution) with
request-streaming handlers (see ``servicer.rpc_handlers`` for why), so a handler's
streaming flags no longer tell the method's type. Metrics labels (``grpc_type``) and the
per-client stream cap go by the declared type instead.
"""

from __future__ import annotations

from execstream.v1 import service_pb2 as service_pb


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
