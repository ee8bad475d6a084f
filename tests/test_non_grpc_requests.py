"""Requests that are not gRPC-framed protobuf get a prompt, clear answer, never silence.

gRPC core neither checks a request's content-type nor shows it to the application, so the
server cannot refuse by content type (docs/operations.md). It answers by content: a call
whose request never arrives as a complete length-prefixed message gets INVALID_ARGUMENT at
once, where grpc-python's unary path used to answer nothing until the client gave up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc
import pytest

from .support.helpers import error_details
from .support.server_thread import ServerThread

h2_post = pytest.importorskip("tests.support.raw_http2").post
pytestmark = pytest.mark.server
SNAPSHOT = "/execstream.v1.ExecutionService/GetSnapshot"
WATCH = "/execstream.v1.ExecutionService/WatchExecution"
REPORT = "/execstream.v1.ExecutionService/ReportProgress"
PROMPT_S = 5.0  # far below any client's deadline; the point is an answer, not a speed


@pytest.fixture
def quick_server(server_factory: Callable[..., ServerThread]) -> ServerThread:
    return server_factory(heartbeat_interval_s=0.5)


def _no_messages() -> Iterator[bytes]:
    return iter(())


@pytest.mark.parametrize("method", [SNAPSHOT, WATCH])
def test_a_unary_request_that_never_arrives_is_invalid_at_once(
    quick_server: ServerThread, method: str
) -> None:
    with grpc.insecure_channel(quick_server.address) as channel:
        call: Callable[..., object]
        if method == WATCH:
            stream = channel.stream_stream(method)(_no_messages(), timeout=PROMPT_S)
            call = lambda: next(iter(stream))  # noqa: E731
        else:
            call = lambda: channel.stream_unary(method)(_no_messages(), timeout=PROMPT_S)  # noqa: E731
        with pytest.raises(grpc.RpcError) as info:
            call()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert "no complete request message arrived" in info.value.details()
    assert error_details(info.value)["BadRequest"].field_violations[0].field == "request"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        ("text/plain", b""),
        ("application/grpc", b"\x00\x00\x00\x00\x09abc"),  # announces 9 bytes, sends 3
    ],
    ids=["json-short", "empty", "truncated-frame"],
)
@pytest.mark.parametrize("method", [SNAPSHOT, WATCH])
def test_bodies_without_a_complete_message_get_invalid_argument_at_once(
    quick_server: ServerThread, method: str, content_type: str, body: bytes
) -> None:
    started = time.monotonic()
    answer = h2_post(quick_server.app.port, method, body, content_type, PROMPT_S)
    assert answer is not None, f"no answer within {PROMPT_S}s"
    assert answer["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert "no complete request message" in answer["grpc-message"]
    assert time.monotonic() - started < PROMPT_S


@pytest.mark.parametrize("method", [SNAPSHOT, WATCH, REPORT])
def test_a_json_body_gets_a_grpc_status_never_silence(
    quick_server: ServerThread, method: str
) -> None:
    """JSON bytes are read as a gRPC frame; whatever they make, the client hears back.

    (Here they parse as a request: a watch answers with its first progress message.)
    """
    body = b'{"task_ids": ["a"]}'
    answer = h2_post(
        quick_server.app.port, method, body, "application/json", PROMPT_S, first_headers=True
    )
    assert answer is not None, f"no answer within {PROMPT_S}s"
    assert answer[":status"] == "200"
    assert answer["content-type"] == "application/grpc"
