"""What gRPC-Web refuses, and how cheaply: calls refused from their headers alone (the body
is never read), bodies past the message limit, refusals answered trailers-only.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.transport.auth import Role, create_token

from .support.grpcweb_client import GrpcWebClient, frame
from .support.helpers import free_port, stub_for, wait_for
from .support.raw_http1 import RawConnection
from .support.server_thread import ServerFactory, ServerThread

pytestmark = pytest.mark.server
INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAUTHENTICATED = 3, 8, 16
PROTO = {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1"}
TEXT = {"Content-Type": "application/grpc-web-text", "X-Grpc-Web": "1"}
EIGHT_MB = 8 * 1024 * 1024


def base(server: ServerThread) -> str:
    return f"http://127.0.0.1:{server.app.http_port}"


@pytest.fixture
def auth_server(server_factory: ServerFactory, tmp_path: Path) -> tuple[ServerThread, str]:
    path = str(tmp_path / "tokens.json")
    viewer = create_token(path, Role.VIEWER)
    return server_factory(http_port=free_port(), auth_file=path), viewer


@pytest.mark.parametrize("headers", [PROTO, TEXT], ids=["proto", "text"])
def test_a_call_refused_by_its_headers_is_answered_without_reading_the_body(
    auth_server: tuple[ServerThread, str], headers: dict[str, str]
) -> None:
    """Without a token, an 8 MB body is never read: the answer comes with none of it sent."""
    server, _ = auth_server
    conn = RawConnection(server.app.http_port)
    conn.send_head("GetSnapshot", headers, content_length=EIGHT_MB)
    answer = conn.read_head()  # before a byte of the body was sent
    assert answer.status == 200 and answer.headers["grpc-status"] == str(UNAUTHENTICATED)
    assert answer.headers["connection"] == "close"  # the unread body is never decoded
    conn.close()


def test_a_message_past_the_limit_is_refused_by_its_frame_header(
    auth_server: tuple[ServerThread, str],
) -> None:
    server, viewer = auth_server
    limit = server.app.config.limits.max_message_bytes
    for headers, header in [
        (PROTO, frame(b"")[:1] + (limit + 1).to_bytes(4, "big")),
        (TEXT, base64.b64encode(frame(b"")[:1] + (limit + 1).to_bytes(4, "big") + b"\x0a")),
    ]:
        conn = RawConnection(server.app.http_port)
        conn.send_head(
            "GetSnapshot", headers | {"Authorization": f"Bearer {viewer}"}, content_length=EIGHT_MB
        )
        conn.send(header)  # the 5-byte frame header, nothing of its payload
        answer = conn.read_head()
        assert answer.headers["grpc-status"] == str(RESOURCE_EXHAUSTED)
        message = answer.headers["grpc-message"]
        assert f"limit of {limit} bytes" in message and "--max-message-bytes" in message
        conn.close()


def test_reading_stops_at_a_second_message(auth_server: tuple[ServerThread, str]) -> None:
    """A body announced as 100 MB is refused at its second frame header, not read to its end."""
    server, viewer = auth_server
    conn = RawConnection(server.app.http_port)
    headers = PROTO | {"Authorization": f"Bearer {viewer}"}
    conn.send_head("GetSnapshot", headers, content_length=100 * 1024 * 1024)
    conn.send(frame(b"") + frame(b"")[:5])
    answer = conn.read_head()
    assert answer.headers["grpc-status"] == str(INVALID_ARGUMENT)
    assert "exactly one message, not 2" in answer.headers["grpc-message"]
    conn.close()


def test_many_refused_uploads_are_each_answered_at_once(
    auth_server: tuple[ServerThread, str],
) -> None:
    """Unauthenticated uploads hold nothing: each is answered before its body is sent."""
    server, _ = auth_server
    conns = [RawConnection(server.app.http_port) for _ in range(20)]
    for conn in conns:
        conn.send_head("GetSnapshot", TEXT, content_length=11 * 1024 * 1024)
        conn.send(b"AAAA" * 4096)
    for conn in conns:
        answer = conn.read_head()
        assert answer.headers["grpc-status"] == str(UNAUTHENTICATED)
        assert answer.headers["connection"] == "close"
        conn.close()


def test_a_call_refused_before_its_first_message_is_trailers_only(
    server_factory: ServerFactory,
) -> None:
    """The status is in the headers, so a client never takes the headers for acceptance."""
    server = server_factory(http_port=free_port(), limits={"max_watchers": 1})
    channel, stub = stub_for(server.address)
    native = stub.WatchExecution(service_pb.WatchExecutionRequest())
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 1)
    web = GrpcWebClient(base(server))
    refused = web.call("WatchExecution", service_pb.WatchExecutionRequest())
    assert refused.headers.get("grpc-status") == str(RESOURCE_EXHAUSTED)
    assert "--max-watchers" in refused.message and refused.trailers == {}
    assert refused.details()["ErrorInfo"].reason == "LIMIT_EXCEEDED"  # type: ignore[attr-defined]
    invalid = web.call("GetSnapshot", service_pb.GetSnapshotRequest(page_size=10**6))
    assert invalid.headers.get("grpc-status") == str(INVALID_ARGUMENT) and not invalid.trailers
    native.cancel()
    channel.close()
    # The cancel reaches the server's hub later: the one watcher slot is free only then.
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 0)
    accepted = next(web.stream("WatchExecution", service_pb.WatchExecutionRequest()))
    assert "grpc-status" not in accepted.headers and len(accepted.messages) == 1
    web.close()
