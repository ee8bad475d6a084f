"""Bearer tokens and roles on every RPC; health stays open; tokens never stored in clear."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.transport.auth import Role, create_token
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .support.helpers import Metadata, Stub, event, stub_for
from .support.server_thread import ServerFactory, ServerThread


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    path = str(tmp_path / "tokens.json")
    return {
        "file": path,
        "sidecar": create_token(path, Role.SIDECAR, sidecar_id="sc1"),
        "viewer": create_token(path, Role.VIEWER),
        "admin": create_token(path, Role.ADMIN),
    }


@pytest.fixture
def secured(server_factory: Callable[..., ServerThread], tokens: dict[str, str]) -> ServerThread:
    return server_factory(auth_file=tokens["file"])


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def call_rpc(stub: Stub, rpc: str, metadata: Metadata, sidecar: str = "sc1") -> object:
    if rpc == "ReportProgress":
        report = service_pb.ProgressReport(sidecar_id=sidecar, events=[event("t", 1)])
        return stub.ReportProgress(iter([report]), metadata=metadata, timeout=10)
    if rpc == "WatchExecution":
        call = stub.WatchExecution(
            service_pb.WatchExecutionRequest(after_revision=0), metadata=metadata, timeout=10
        )
        return next(iter(call), None)
    return stub.GetSnapshot(service_pb.GetSnapshotRequest(), metadata=metadata, timeout=10)


RPCS = ["ReportProgress", "WatchExecution", "GetSnapshot"]


def code_of(stub: Stub, rpc: str, metadata: Metadata, sidecar: str = "sc1") -> grpc.StatusCode:
    try:
        call_rpc(stub, rpc, metadata, sidecar)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("authorization", "Bearer es_nope_nope")],
        [("authorization", "Basic dXNlcjpwYXNz")],
        [("authorization", "Bearer")],
        [("authorization-bin", b"\x00\x01")],
    ],
    ids=["none", "unknown", "basic", "empty", "binary"],
)
def test_missing_or_bad_token_is_unauthenticated(
    secured: ServerThread, rpc: str, metadata: Metadata
) -> None:
    _, stub = stub_for(secured.address)
    assert code_of(stub, rpc, metadata) == grpc.StatusCode.UNAUTHENTICATED


def test_a_tampered_secret_is_unauthenticated(
    secured: ServerThread, tokens: dict[str, str]
) -> None:
    _, stub = stub_for(secured.address)
    tampered = tokens["admin"][:-2] + ("AA" if not tokens["admin"].endswith("AA") else "BB")
    assert code_of(stub, "GetSnapshot", bearer(tampered)) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("sidecar", {"ReportProgress"}),
        ("viewer", {"WatchExecution", "GetSnapshot"}),
        ("admin", set(RPCS)),
    ],
)
def test_roles_allow_only_their_rpcs(
    secured: ServerThread, tokens: dict[str, str], role: str, allowed: set[str]
) -> None:
    _, stub = stub_for(secured.address)
    for rpc in RPCS:
        expected = grpc.StatusCode.OK if rpc in allowed else grpc.StatusCode.PERMISSION_DENIED
        assert code_of(stub, rpc, bearer(tokens[role])) == expected, (role, rpc)


def test_sidecar_token_cannot_report_as_another_sidecar(
    secured: ServerThread, tokens: dict[str, str]
) -> None:
    _, stub = stub_for(secured.address)
    code = code_of(stub, "ReportProgress", bearer(tokens["sidecar"]), sidecar="sc2")
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert secured.call(lambda: secured.engine.revision) == 0


def test_health_is_open_without_a_token(secured: ServerThread) -> None:
    channel, _ = stub_for(secured.address)
    health = health_pb2_grpc.HealthStub(channel)
    response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_token_file_holds_no_token_in_clear(tokens: dict[str, str]) -> None:
    text = Path(tokens["file"]).read_text()
    for role in ("sidecar", "viewer", "admin"):
        secret = tokens[role].split("_", 2)[2]
        assert secret not in text
    assert oct(Path(tokens["file"]).stat().st_mode & 0o777) == "0o600"


def test_token_create_cli_prints_a_working_token(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    import subprocess
    import sys

    path = tmp_path / "cli-tokens.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "execstream",
            "token",
            "create",
            "--auth-file",
            str(path),
            "--role",
            "viewer",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = result.stdout.strip()
    server = server_factory(auth_file=str(path))
    _, stub = stub_for(server.address)
    assert code_of(stub, "GetSnapshot", bearer(token)) == grpc.StatusCode.OK
