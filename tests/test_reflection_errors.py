"""Reflection describes the whole contract, ErrorReason included.

errors.proto is imported by no other execstream file (ErrorInfo carries the reason as a
string), so a server that never loads it cannot describe ErrorReason; a client that
builds its types from reflection (grpcurl, Postman) would not find the reasons. A child
server is used: in the test process another test may have loaded the file already.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .support.processes import ServerProcess

pytestmark = pytest.mark.server


def test_reflection_finds_error_reason(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "x.db").start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="execstream.v1.ErrorReason"
            )
            response = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=30)))
    finally:
        server.kill()
    assert not response.HasField("error_response"), response.error_response.error_message
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in response.file_descriptor_response.file_descriptor_proto
    ]
    found = {file.name: [enum.name for enum in file.enum_type] for file in files}
    assert "ErrorReason" in found.get("execstream/v1/errors.proto", [])
