"""The gRPC-Web codec and the HTTP port's configuration, as pure functions."""

from __future__ import annotations

import base64

import pytest
from execstream_server.app import check_exposure
from execstream_server.config import ConfigError, ServerConfig, parse_origin
from execstream_server.transport import grpcweb


def test_frames_round_trip_and_trailers_are_a_header_block() -> None:
    body = grpcweb.message_frame(b"abc") + grpcweb.message_frame(b"")
    assert grpcweb.parse_messages(body, max_message_bytes=3) == [b"abc", b""]
    trailers = grpcweb.trailers_frame([("grpc-status", "0"), ("grpc-message", "ok")])
    assert trailers == b"\x80\x00\x00\x00\x22grpc-status: 0\r\ngrpc-message: ok\r\n"


def test_a_message_at_the_limit_parses_and_one_past_it_is_refused() -> None:
    assert grpcweb.parse_messages(grpcweb.message_frame(b"x" * 8), max_message_bytes=8)
    with pytest.raises(grpcweb.FramingError, match="exceeds the limit of 8"):
        grpcweb.parse_messages(grpcweb.message_frame(b"x" * 9), max_message_bytes=8)


def test_text_bodies_may_be_several_padded_base64_chunks() -> None:
    fmt = grpcweb.wire_format("application/grpc-web-text; charset=utf-8")
    assert fmt is not None and fmt.text
    one, two = grpcweb.message_frame(b"a"), grpcweb.message_frame(b"bc")
    body = base64.b64encode(one) + base64.b64encode(two)
    assert fmt.decode_body(body) == one + two
    with pytest.raises(grpcweb.FramingError):
        fmt.decode_body(b"not base64!")


def test_content_types() -> None:
    assert grpcweb.wire_format("application/grpc-web") == grpcweb.WireFormat(text=False)
    assert grpcweb.wire_format("application/grpc-web+proto") == grpcweb.WireFormat(text=False)
    assert grpcweb.wire_format("application/grpc-web+json") is None
    assert grpcweb.wire_format("application/grpc") is None


def test_status_trailers_percent_encode_the_message_and_base64_binary_details() -> None:
    trailers = grpcweb.status_trailers(
        3, "bad: 100% ünïcode\n", [("grpc-status-details-bin", b"\x01")]
    )
    assert trailers == [
        ("grpc-status", "3"),
        ("grpc-message", "bad: 100%25 %C3%BCn%C3%AFcode%0A"),
        ("grpc-status-details-bin", "AQ=="),
    ]


def test_call_metadata_keeps_the_callers_headers_only() -> None:
    headers = [
        ("Authorization", "Bearer es_x_y"),
        ("Content-Type", "application/grpc-web+proto"),
        ("X-Grpc-Web", "1"),
        ("Cookie", "session=1"),
        ("trace-bin", base64.b64encode(b"\x00\x01").decode().rstrip("=")),
        ("x-request-id", "42"),
    ]
    assert grpcweb.call_metadata(headers) == (
        ("authorization", "Bearer es_x_y"),
        ("trace-bin", b"\x00\x01"),
        ("x-request-id", "42"),
    )


def test_the_http_port_follows_the_grpc_ports_exposure_rules() -> None:
    with pytest.raises(ConfigError, match=r"--http-host 0\.0\.0\.0: refusing"):
        check_exposure(ServerConfig(http_host="0.0.0.0"))
    check_exposure(ServerConfig(http_host="0.0.0.0", http_port=0))  # off: nothing exposed
    check_exposure(ServerConfig(http_host="0.0.0.0", auth_file="t.json", tls_cert="c.pem"))
    check_exposure(ServerConfig(http_host="0.0.0.0", insecure=True))


@pytest.mark.parametrize("origin", ["https://dash.example.com", "http://127.0.0.1:3000", ""])
def test_an_allowed_origin_is_one_origin(origin: str) -> None:
    assert parse_origin(origin + "/") == origin if origin else parse_origin("") == ""


@pytest.mark.parametrize(
    "origin", ["*", "https://a.com/path", "dash.example.com", "https://a.com, https://b.com"]
)
def test_anything_else_is_not_an_origin(origin: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        parse_origin(origin)
