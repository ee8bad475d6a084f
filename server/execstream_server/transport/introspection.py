"""The standard services beside execstream's own: health (Check, Watch and List) and
server reflection, both ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

grpcio-health-checking's aio servicer answers List with UNIMPLEMENTED, so ``Health``
adds it. grpcio-reflection ships only v1alpha; v1 is the same protocol under another
package name (the messages are field for field the same), so the v1alpha servicer also
serves v1, and v1's file descriptor is derived from v1alpha's, so clients that describe
the reflection service itself find it. Reflection answers from the default descriptor
pool: errors.proto is imported by no other contract file (ErrorInfo carries the reason as
a string), so it is loaded here, and ``ErrorReason`` can be described like the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from execstream.v1 import errors_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_V1ALPHA = reflection.SERVICE_NAME
_V1_FILE = "grpc/reflection/v1/reflection.proto"
# The contract files no service file imports; reflection describes them too.
CONTRACT_EXTRA_FILES = (errors_pb2.DESCRIPTOR.name,)


class Health(health.aio.HealthServicer):  # type: ignore[misc]
    """The library's aio health servicer, with List."""

    async def List(
        self, request: health_pb2.HealthListRequest, context: Any
    ) -> health_pb2.HealthListResponse:
        response = health_pb2.HealthListResponse()
        for service, status in sorted(self._server_status.items()):
            response.statuses[service].status = status
        return response


def _add_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    """Register grpc/reflection/v1/reflection.proto, derived from the v1alpha file."""
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    alpha = "." + file.package + "."
    file.name = _V1_FILE
    file.package = "grpc.reflection.v1"
    file.ClearField("options")
    for message in file.message_type:
        for field in message.field:
            if field.type_name:
                field.type_name = field.type_name.replace(alpha, ".grpc.reflection.v1.")
    for service in file.service:
        for method in service.method:
            method.input_type = method.input_type.replace(alpha, ".grpc.reflection.v1.")
            method.output_type = method.output_type.replace(alpha, ".grpc.reflection.v1.")
    pool.Add(file)


def add_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    """Serve reflection v1 and v1alpha for ``service_names`` (the reflection services added)."""
    pool = descriptor_pool.Default()
    _add_v1_descriptor(pool)
    names = (*service_names, REFLECTION_V1, REFLECTION_V1ALPHA)
    servicer = ReflectionServicer(names, pool=pool)
    method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        tuple(
            grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": method})
            for name in (REFLECTION_V1, REFLECTION_V1ALPHA)
        )
    )
