"""TLS and mTLS from PEM files generated at test time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .support.certs import CertFiles, write_certs
from .support.server_thread import ServerThread


@pytest.fixture
def certs(tmp_path: Path) -> CertFiles:
    return write_certs(tmp_path)


def snapshot_code(channel: grpc.Channel) -> grpc.StatusCode:
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    try:
        stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=5)
    except grpc.RpcError as error:
        return error.code()
    finally:
        channel.close()
    return grpc.StatusCode.OK


def tls_channel(address: str, certs: CertFiles, *, client_cert: bool) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs.ca_pem,
        private_key=certs.client.key if client_cert else None,
        certificate_chain=certs.client.cert if client_cert else None,
    )
    return grpc.secure_channel(
        address, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )


def test_tls_server_accepts_tls_and_refuses_plaintext(
    server_factory: Callable[..., ServerThread], certs: CertFiles
) -> None:
    server = server_factory(tls_cert=str(certs.server_cert), tls_key=str(certs.server_key))
    assert (
        snapshot_code(tls_channel(server.address, certs, client_cert=False)) == grpc.StatusCode.OK
    )
    assert snapshot_code(grpc.insecure_channel(server.address)) == grpc.StatusCode.UNAVAILABLE


def test_mtls_requires_a_client_certificate(
    server_factory: Callable[..., ServerThread], certs: CertFiles
) -> None:
    server = server_factory(
        tls_cert=str(certs.server_cert), tls_key=str(certs.server_key), tls_client_ca=str(certs.ca)
    )
    assert snapshot_code(tls_channel(server.address, certs, client_cert=True)) == grpc.StatusCode.OK
    assert (
        snapshot_code(tls_channel(server.address, certs, client_cert=False))
        == grpc.StatusCode.UNAVAILABLE
    )
