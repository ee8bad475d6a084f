"""gRPC-Web on the HTTP port, without a browser: framing, trailers, errors, auth, limits.

The client in tests/support/grpcweb_client.py is written from the protocol, not from the
server's codec, so these tests check the wire format itself.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.transport.auth import Role, create_token
from google.protobuf.message import Message

from .support.certs import write_certs
from .support.grpcweb_client import GrpcWebClient, frame
from .support.helpers import Stub, event, free_port, report, stub_for, task_events, wait_for
from .support.server_thread import ServerFactory, ServerThread

pytestmark = pytest.mark.server
OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED = 0, 3, 8, 12
PERMISSION_DENIED, UNAVAILABLE, UNAUTHENTICATED = 7, 14, 16


@pytest.fixture
def web_server(server_factory: ServerFactory) -> ServerThread:
    return server_factory(http_port=free_port())


@pytest.fixture
def web(web_server: ServerThread) -> Iterator[GrpcWebClient]:
    client = GrpcWebClient(f"http://127.0.0.1:{web_server.app.http_port}")
    yield client
    client.close()


@pytest.mark.parametrize("text", [False, True], ids=["proto", "text"])
def test_get_snapshot_over_grpc_web_equals_native(web_server: ServerThread, text: bool) -> None:
    _, stub = stub_for(web_server.address)
    report(stub, "sc", task_events("a", 2), task_events("b", 1))
    web = GrpcWebClient(f"http://127.0.0.1:{web_server.app.http_port}", text=text)
    reply = web.call("GetSnapshot", service_pb.GetSnapshotRequest())
    assert reply.http_status == 200
    assert reply.headers["content-type"].startswith(
        "application/grpc-web-text" if text else "application/grpc-web+proto"
    )
    assert (reply.code, len(reply.messages)) == (OK, 1)
    native = stub.GetSnapshot(service_pb.GetSnapshotRequest())
    assert service_pb.Snapshot.FromString(reply.messages[0]) == native


@pytest.mark.parametrize("text", [False, True], ids=["proto", "text"])
def test_a_watch_streams_each_message_as_it_comes(web_server: ServerThread, text: bool) -> None:
    _, stub = stub_for(web_server.address)
    head = report(stub, "sc", [event("t", 1, "started")]).last_revision
    web = GrpcWebClient(f"http://127.0.0.1:{web_server.app.http_port}", text=text)
    seen: list[int] = []
    request = service_pb.WatchExecutionRequest(after_revision=head)
    stream = web.stream("WatchExecution", request)
    reporter = threading.Timer(0.2, lambda: report(stub, "sc", [event("t", 2, "stdout")]))
    reporter.start()
    for reply in stream:  # the stream is live: this frame arrives while the call is open
        response = service_pb.WatchExecutionResponse.FromString(reply.messages[-1])
        seen.extend(e.seq for e in response.events)
        if seen:
            break
    reporter.join()
    assert seen == [2] and not reply.trailers
    web.close()


def test_a_watch_ends_with_a_trailers_frame_carrying_status_details(
    web_server: ServerThread, web: GrpcWebClient
) -> None:
    _, stub = stub_for(web_server.address)
    report(stub, "sc", task_events("t", 1))
    replies = web.stream("WatchExecution", service_pb.WatchExecutionRequest(after_revision=0))
    first = next(replies)  # the watch may open with a Progress: read until the events came
    while not any(service_pb.WatchExecutionResponse.FromString(m).events for m in first.messages):
        first = next(replies)
    stopper = threading.Thread(target=web_server.stop)
    stopper.start()
    last = [first, *replies][-1]
    stopper.join()
    assert last.code == UNAVAILABLE and "shutting down" in last.message
    info = last.details()["ErrorInfo"]
    assert info.reason == "SHUTTING_DOWN"  # type: ignore[attr-defined]
    assert info.metadata["resume_revision"] == "3"  # type: ignore[attr-defined]


def test_an_invalid_request_gets_bad_request_details(web: GrpcWebClient) -> None:
    reply = web.call("GetSnapshot", service_pb.GetSnapshotRequest(page_size=10001))
    assert (reply.code, reply.messages) == (INVALID_ARGUMENT, [])
    violation = reply.details()["BadRequest"].field_violations[0]  # type: ignore[attr-defined]
    assert violation.field == "page_size" and "10000" in violation.description


def test_bytes_that_are_not_the_request_message_are_invalid_argument(web: GrpcWebClient) -> None:
    reply = web.call("GetSnapshot", b"\xff\xff\xff")
    assert reply.code == INVALID_ARGUMENT and "GetSnapshotRequest" in reply.message


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\x00\x00\x00", "ends inside a frame header"),
        (b"\x00\x00\x00\x00\x09abc", "ends inside a frame"),
        (frame(b"", flag=1), "compressed"),
        (frame(b"", flag=0x02), "reserved bits"),
        (frame(b"", flag=0x7F), "reserved bits"),
        (frame(b"") + frame(b""), "exactly one message, not 2"),
        (b"", "exactly one message, not 0"),
    ],
)
def test_malformed_framing_is_invalid_argument(web: GrpcWebClient, body: bytes, why: str) -> None:
    reply = web.call("GetSnapshot", b"", raw_body=body)
    assert reply.code == INVALID_ARGUMENT and why in reply.message
    assert reply.details()["BadRequest"].field_violations[0].field == "request"  # type: ignore[attr-defined]


def test_a_content_type_that_is_not_grpc_web_is_refused(web: GrpcWebClient) -> None:
    reply = web.call("GetSnapshot", b"", headers={"content-type": "application/json"})
    assert reply.http_status == 415 and reply.code == INVALID_ARGUMENT
    assert "application/grpc-web+proto" in reply.message


def test_report_progress_is_unimplemented_over_grpc_web(web: GrpcWebClient) -> None:
    reply = web.call("ReportProgress", service_pb.ProgressReport(sidecar_id="sc"))
    assert reply.code == UNIMPLEMENTED
    assert "browsers cannot stream a request" in reply.message and "native gRPC" in reply.message


def test_other_methods_are_unimplemented(web_server: ServerThread) -> None:
    web = GrpcWebClient(f"http://127.0.0.1:{web_server.app.http_port}")
    response = web.http.post(
        f"{web.base_url}/grpc.health.v1.Health/Check", content=frame(b""), headers=web.headers()
    )
    assert response.headers["grpc-status"] == str(UNIMPLEMENTED)


def test_a_request_at_the_message_limit_passes_and_one_past_it_is_refused(
    server_factory: ServerFactory,
) -> None:
    limit = 2048
    server = server_factory(http_port=free_port(), limits={"max_message_bytes": limit})
    web = GrpcWebClient(f"http://127.0.0.1:{server.app.http_port}")
    at_limit = service_pb.GetSnapshotRequest(page_token="x" * (limit - 3))
    assert at_limit.ByteSize() == limit
    assert web.call("GetSnapshot", at_limit).code == INVALID_ARGUMENT  # read, then judged
    past = service_pb.GetSnapshotRequest(page_token="x" * (limit - 2))
    reply = web.call("GetSnapshot", past)
    assert reply.code == RESOURCE_EXHAUSTED and "--max-message-bytes" in reply.message


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    path = str(tmp_path / "tokens.json")
    return {
        "file": path,
        "sidecar": create_token(path, Role.SIDECAR, sidecar_id="sc1"),
        "viewer": create_token(path, Role.VIEWER),
    }


def native_code(stub: Stub, method: str, request: Message, token: str) -> int:
    metadata = [("authorization", f"Bearer {token}")] if token else []
    try:
        call = getattr(stub, method)(request, metadata=metadata, timeout=10)
        if method == "WatchExecution":
            next(iter(call))
            call.cancel()
    except grpc.RpcError as error:
        return int(error.code().value[0])
    return OK


@pytest.mark.parametrize("who", ["none", "bogus", "sidecar", "viewer"])
def test_auth_answers_each_token_as_native_grpc_does(
    server_factory: ServerFactory, tokens: dict[str, str], who: str
) -> None:
    server = server_factory(http_port=free_port(), auth_file=tokens["file"])
    token = {"none": "", "bogus": "es_abc_def"}.get(who, tokens.get(who, ""))
    web = GrpcWebClient(f"http://127.0.0.1:{server.app.http_port}", token=token)
    _, stub = stub_for(server.address)
    for method, request in [
        ("GetSnapshot", service_pb.GetSnapshotRequest()),
        ("WatchExecution", service_pb.WatchExecutionRequest(after_revision=0)),
    ]:
        expected = native_code(stub, method, request, token)
        first = next(web.stream(method, request))
        assert (first.code if first.trailers or "grpc-status" in first.headers else OK) == expected
        if who in ("none", "bogus"):
            assert expected == UNAUTHENTICATED and first.messages == [], method


def test_auth_accepts_a_viewer_token(server_factory: ServerFactory, tokens: dict[str, str]) -> None:
    server = server_factory(http_port=free_port(), auth_file=tokens["file"])
    web = GrpcWebClient(f"http://127.0.0.1:{server.app.http_port}", token=tokens["viewer"])
    assert web.call("GetSnapshot", service_pb.GetSnapshotRequest()).code == OK


def test_streams_per_client_are_capped_across_native_and_grpc_web(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(http_port=free_port(), limits={"max_streams_per_client": 1})
    channel, stub = stub_for(server.address)
    native = stub.WatchExecution(service_pb.WatchExecutionRequest())
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 1)
    web = GrpcWebClient(f"http://127.0.0.1:{server.app.http_port}")
    reply = web.call("WatchExecution", service_pb.WatchExecutionRequest())
    assert reply.code == RESOURCE_EXHAUSTED and "--max-streams-per-client" in reply.message
    native.cancel()
    channel.close()


def test_a_browser_that_goes_away_releases_its_watch(web_server: ServerThread) -> None:
    web = GrpcWebClient(f"http://127.0.0.1:{web_server.app.http_port}")
    replies = web.stream("WatchExecution", service_pb.WatchExecutionRequest(after_revision=0))
    _, stub = stub_for(web_server.address)
    report(stub, "sc", [event("t", 1)])
    next(replies)
    assert web_server.call(lambda: web_server.engine.hub.watcher_count) == 1
    replies.close()
    web.close()
    wait_for(lambda: web_server.call(lambda: web_server.engine.hub.watcher_count) == 0)


def test_grpc_web_calls_count_in_the_grpc_metrics(web_server: ServerThread) -> None:
    web = GrpcWebClient(f"http://127.0.0.1:{web_server.app.http_port}")
    web.call("GetSnapshot", service_pb.GetSnapshotRequest())
    web.call("GetSnapshot", service_pb.GetSnapshotRequest(page_size=10001))
    assert web_server.app.metrics is not None
    registry = web_server.app.metrics.registry
    labels = {"grpc_type": "unary", "grpc_service": "execstream.v1.ExecutionService"}
    labels["grpc_method"] = "GetSnapshot"
    for code in ("OK", "InvalidArgument"):
        value = registry.get_sample_value("grpc_server_handled_total", labels | {"grpc_code": code})
        assert value == 1, code


def test_the_page_is_served_with_a_strict_content_security_policy(web_server: ServerThread) -> None:
    base = f"http://127.0.0.1:{web_server.app.http_port}"
    page = httpx.get(base + "/")
    assert page.status_code == 200 and 'src="static/app.js"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = httpx.get(base + "/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    assert httpx.get(base + "/static/nope.js").status_code == 404


def test_cross_origin_calls_are_refused_unless_one_origin_is_allowed(
    server_factory: ServerFactory,
) -> None:
    preflight = {
        "Origin": "https://dash.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization,x-grpc-web",
    }
    closed = server_factory(http_port=free_port())
    url = f"http://127.0.0.1:{closed.app.http_port}/execstream.v1.ExecutionService/GetSnapshot"
    refused = httpx.options(url, headers=preflight)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    opened = server_factory(http_port=free_port(), http_allow_origin="https://dash.example.com")
    url = f"http://127.0.0.1:{opened.app.http_port}/execstream.v1.ExecutionService/GetSnapshot"
    allowed = httpx.options(url, headers=preflight)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example.com"
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    web = GrpcWebClient(f"http://127.0.0.1:{opened.app.http_port}")
    reply = web.call("GetSnapshot", service_pb.GetSnapshotRequest(), headers=preflight)
    assert reply.headers["access-control-allow-origin"] == "https://dash.example.com"
    assert "grpc-status-details-bin" in reply.headers["access-control-expose-headers"]
    other = web.call(
        "GetSnapshot", service_pb.GetSnapshotRequest(), headers={"Origin": "https://evil.test"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_the_http_port_serves_tls_from_the_grpc_port_pem_files(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    certs = write_certs(tmp_path)
    server = server_factory(
        http_port=free_port(), tls_cert=str(certs.server_cert), tls_key=str(certs.server_key)
    )
    base = f"https://127.0.0.1:{server.app.http_port}"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(certs.ca))) as client:
        assert client.get(base + "/").status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{server.app.http_port}/", timeout=5)


def test_a_busy_http_port_is_one_clear_error_naming_the_flag(
    server_factory: ServerFactory,
) -> None:
    from execstream_server.config import ConfigError

    first = server_factory(http_port=free_port())
    with pytest.raises(ConfigError, match=f"--http-port {first.app.http_port}"):
        server_factory(http_port=first.app.http_port)


def test_native_grpc_is_unchanged_beside_the_http_port(web_server: ServerThread) -> None:
    _, stub = stub_for(web_server.address)
    assert stub.GetSnapshot(service_pb.GetSnapshotRequest()).revision == 0
    with pytest.raises(grpc.RpcError):
        stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=10001))
