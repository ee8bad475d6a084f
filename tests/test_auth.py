"""Bearer tokens and roles on every RPC; health stays open; tokens never stored in clear."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.transport.auth import Role, create_token
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .support.helpers import Metadata, Stub, error_details, event, stub_for
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
        ("sidecar", {"ReportProgress", "GetSnapshot"}),
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


def refusal(stub: Stub, rpc: str, metadata: Metadata, sidecar: str = "sc1") -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call_rpc(stub, rpc, metadata, sidecar)
    return info.value


def reflect(channel: grpc.Channel, metadata: Metadata) -> object:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    return next(iter(stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=10)))


@pytest.mark.parametrize("rpc", [*RPCS, "ServerReflectionInfo"])
def test_unauthenticated_carries_error_info_on_every_kind_of_rpc(
    secured: ServerThread, rpc: str
) -> None:
    channel, stub = stub_for(secured.address)

    def call() -> object:
        return reflect(channel, []) if rpc == "ServerReflectionInfo" else call_rpc(stub, rpc, [])

    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    detail = error_details(info.value)["ErrorInfo"]
    assert (detail.domain, detail.reason, dict(detail.metadata)) == (
        "execstream.v1",
        "TOKEN_INVALID",
        {},
    )


def test_a_forbidden_role_is_told_its_role_and_the_method(
    secured: ServerThread, tokens: dict[str, str]
) -> None:
    _, stub = stub_for(secured.address)
    error = refusal(stub, "ReportProgress", bearer(tokens["viewer"]))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    detail = error_details(error)["ErrorInfo"]
    assert detail.reason == "ROLE_FORBIDDEN"
    assert dict(detail.metadata) == {
        "role": "viewer",
        "method": "/execstream.v1.ExecutionService/ReportProgress",
    }


def test_a_sidecar_mismatch_names_the_claimed_sidecar(
    secured: ServerThread, tokens: dict[str, str]
) -> None:
    _, stub = stub_for(secured.address)
    error = refusal(stub, "ReportProgress", bearer(tokens["sidecar"]), sidecar="sc2")
    detail = error_details(error)["ErrorInfo"]
    assert (detail.reason, dict(detail.metadata)) == ("SIDECAR_MISMATCH", {"sidecar_id": "sc2"})


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_case_insensitive(
    secured: ServerThread, tokens: dict[str, str], scheme: str
) -> None:
    _, stub = stub_for(secured.address)
    metadata = [("authorization", f"{scheme} {tokens['viewer']}")]
    assert code_of(stub, "GetSnapshot", metadata) == grpc.StatusCode.OK


def test_an_expired_token_is_refused_with_its_expiry(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    path = str(tmp_path / "expiring.json")
    expired = create_token(path, Role.VIEWER, expires="2001-02-03T04:05:06Z")
    valid = create_token(path, Role.VIEWER, expires="2999-01-01T00:00:00+00:00")
    server = server_factory(auth_file=path)
    _, stub = stub_for(server.address)
    error = refusal(stub, "GetSnapshot", bearer(expired))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    detail = error_details(error)["ErrorInfo"]
    assert (detail.reason, dict(detail.metadata)) == (
        "TOKEN_EXPIRED",
        {"expired_at": "2001-02-03T04:05:06Z"},
    )
    assert code_of(stub, "GetSnapshot", bearer(valid)) == grpc.StatusCode.OK
    # A wrong secret for an expired token's id says nothing about the expiry.
    tampered = expired[:-2] + ("AA" if not expired.endswith("AA") else "BB")
    assert error_details(refusal(stub, "GetSnapshot", bearer(tampered)))["ErrorInfo"].reason == (
        "TOKEN_INVALID"
    )


@pytest.mark.server
def test_sighup_reloads_the_token_file_and_a_bad_file_keeps_the_old_tokens(
    tmp_path: Path,
) -> None:
    import json
    import signal

    from .support.helpers import wait_for
    from .support.processes import ServerProcess

    path = tmp_path / "tokens.json"
    kept = create_token(str(path), Role.VIEWER, note="kept")
    revoked = create_token(str(path), Role.VIEWER, note="revoked")
    server = ServerProcess(tmp_path / "hup.db", "--auth-file", str(path)).start()
    try:
        _, stub = stub_for(server.address)
        assert code_of(stub, "GetSnapshot", bearer(revoked)) == grpc.StatusCode.OK
        data = json.loads(path.read_text())
        data["tokens"] = [t for t in data["tokens"] if t["note"] == "kept"]
        path.write_text(json.dumps(data))
        server.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        wait_for(lambda: code_of(stub, "GetSnapshot", bearer(revoked)) != grpc.StatusCode.OK)
        assert code_of(stub, "GetSnapshot", bearer(revoked)) == grpc.StatusCode.UNAUTHENTICATED
        path.write_text("{not json")
        server.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        wait_for(lambda: "kept the previous tokens" in server.log_text())
        assert code_of(stub, "GetSnapshot", bearer(kept)) == grpc.StatusCode.OK
        server.check_alive()
        assert "Traceback" not in server.log_text()
    finally:
        server.kill()


def test_a_sidecar_token_reads_the_snapshot_of_its_own_tasks_only(
    secured: ServerThread, tokens: dict[str, str]
) -> None:
    _, stub = stub_for(secured.address)
    admin = bearer(tokens["admin"])
    for sidecar, task in (("sc1", "mine"), ("other", "theirs")):
        request = service_pb.ProgressReport(sidecar_id=sidecar, events=[event(task, 1)])
        stub.ReportProgress(iter([request]), metadata=admin, timeout=10)
    own = bearer(tokens["sidecar"])
    snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest(), metadata=own, timeout=10)
    assert [(t.task_id, t.last_seq) for t in snapshot.tasks] == [("mine", 1)]
    assert snapshot.revision == 2 and not snapshot.HasField("totals")
    named = stub.GetSnapshot(
        service_pb.GetSnapshotRequest(task_ids=["mine", "theirs"]), metadata=own, timeout=10
    )
    assert [t.task_id for t in named.tasks] == ["mine"]
    full = stub.GetSnapshot(service_pb.GetSnapshotRequest(), metadata=admin, timeout=10)
    assert len(full.tasks) == 2 and full.totals.tasks == 2


def test_stream_caps_count_per_token_not_per_address(
    tmp_path: Path, server_factory: ServerFactory
) -> None:
    path = str(tmp_path / "two.json")
    first, second = (create_token(path, Role.VIEWER) for _ in range(2))
    server = server_factory(auth_file=path, limits={"max_streams_per_client": 1})
    _, stub = stub_for(server.address)
    request = service_pb.WatchExecutionRequest()
    calls = [stub.WatchExecution(request, metadata=bearer(t)) for t in (first, second)]
    for call in calls:
        assert next(iter(call)).HasField("progress"), "both tokens get their one stream"
    with pytest.raises(grpc.RpcError) as info:
        next(iter(stub.WatchExecution(request, metadata=bearer(first), timeout=10)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    detail = error_details(info.value)["ErrorInfo"]
    assert (detail.reason, dict(detail.metadata)) == (
        "LIMIT_EXCEEDED",
        {"limit": "--max-streams-per-client", "value": "1"},
    )
    for call in calls:
        call.cancel()


def test_health_list_is_open_and_reflection_v1_needs_a_token(
    secured: ServerThread, tokens: dict[str, str]
) -> None:
    from grpc_reflection.v1alpha import reflection_pb2

    channel, _ = stub_for(secured.address)
    health = health_pb2_grpc.HealthStub(channel)
    assert health.List(health_pb2.HealthListRequest(), timeout=10).statuses
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with pytest.raises(grpc.RpcError) as info:
        next(iter(call(iter([request]), timeout=10)))
    assert error_details(info.value)["ErrorInfo"].reason == "TOKEN_INVALID"
    for role in ("sidecar", "viewer", "admin"):
        answer = next(iter(call(iter([request]), metadata=bearer(tokens[role]), timeout=10)))
        assert answer.list_services_response.service
