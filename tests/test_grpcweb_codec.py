"""The gRPC-Web codec as pure functions: frames, the lazy request decoder, trailers, metadata."""

from __future__ import annotations

import asyncio
import base64

import pytest
from execstream_server.transport import grpcweb
from execstream_server.transport.grpcweb_body import MAX_TEXT_CHUNKS, RequestDecoder
from execstream_server.transport.inprocess import CallContext


def decode(body: bytes, *, text: bool = False, limit: int = 64, pieces: int = 1) -> bytes:
    """The message of a body fed to a RequestDecoder in ``pieces`` parts."""
    decoder = RequestDecoder(text=text, max_message_bytes=limit)
    step = max(1, -(-len(body) // pieces))
    for start in range(0, len(body), step):
        decoder.feed(body[start : start + step])
    return bytes(decoder.finish())


def test_a_message_frame_decodes_in_any_pieces_and_trailers_are_a_header_block() -> None:
    body = grpcweb.message_frame(b"abc") + grpcweb.trailers_frame([("x", "1")])
    assert {decode(body, pieces=n) for n in (1, 2, 7, len(body))} == {b"abc"}
    trailers = grpcweb.trailers_frame([("grpc-status", "0"), ("grpc-message", "ok")])
    assert trailers == b"\x80\x00\x00\x00\x22grpc-status: 0\r\ngrpc-message: ok\r\n"


def test_a_message_at_the_limit_decodes_and_one_past_it_is_refused_by_its_header() -> None:
    assert decode(grpcweb.message_frame(b"x" * 8), limit=8) == b"x" * 8
    decoder = RequestDecoder(text=False, max_message_bytes=8)
    with pytest.raises(grpcweb.MessageTooLargeError, match="9 bytes exceeds the limit of 8"):
        decoder.feed(grpcweb.message_frame(b"x" * 9)[:5])  # the header alone


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\x00\x00\x00", "ends inside a frame header"),
        (b"\x00\x00\x00\x00\x09abc", "ends inside a frame"),
        (b"", "exactly one message, not 0"),
        (grpcweb.message_frame(b"") * 2, "exactly one message, not 2"),
        (b"\x01\x00\x00\x00\x00", "compressed"),
        *[(bytes([flag]) + b"\x00\x00\x00\x00", "reserved bits") for flag in (0x02, 0x40, 0x7F)],
        (b"\x82\x00\x00\x00\x00", "reserved bits"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(grpcweb.FramingError, match=why):
        decode(body)


def padded_chunks(text: bytes) -> int:
    return sum(b"=" in text[i : i + 4] for i in range(0, len(text), 4))


def test_text_bodies_may_be_split_into_padded_chunks_up_to_the_cap() -> None:
    frame = grpcweb.message_frame(b"ab") + grpcweb.trailers_frame([("a", "bc")])
    assert decode(base64.b64encode(frame), text=True, pieces=5) == b"ab"
    # Each byte in a padded chunk of its own, as many as the cap allows, then the rest.
    singles = MAX_TEXT_CHUNKS - 1
    at_cap = b"".join(base64.b64encode(frame[i : i + 1]) for i in range(singles))
    at_cap += base64.b64encode(frame[singles:])
    assert padded_chunks(at_cap) == MAX_TEXT_CHUNKS
    assert decode(at_cap, text=True, pieces=3) == b"ab"
    past = b"".join(base64.b64encode(frame[i : i + 1]) for i in range(len(frame)))
    assert padded_chunks(past) == len(frame) > MAX_TEXT_CHUNKS
    with pytest.raises(grpcweb.FramingError, match=f"more than {MAX_TEXT_CHUNKS} padded"):
        decode(past, text=True)


@pytest.mark.parametrize("body", [b"n*t base64", b"AAAA=AAA", b"AAAAAAA"])
def test_text_that_is_not_base64_is_refused(body: bytes) -> None:
    with pytest.raises(grpcweb.FramingError, match="base64"):
        decode(body, text=True)


def test_the_body_is_bounded_by_the_message_limit_whatever_follows() -> None:
    decoder = RequestDecoder(text=False, max_message_bytes=1024)
    decoder.feed(grpcweb.message_frame(b"m"))
    trailers = grpcweb.trailers_frame([("k", "v" * 700)])  # skipped, but counted
    decoder.feed(trailers + trailers)
    with pytest.raises(grpcweb.MessageTooLargeError, match="limit of 1024 bytes"):
        decoder.feed(trailers)


def test_content_types() -> None:
    assert grpcweb.wire_format("application/grpc-web") == grpcweb.WireFormat(text=False)
    assert grpcweb.wire_format("application/grpc-web+proto") == grpcweb.WireFormat(text=False)
    text = grpcweb.wire_format("application/grpc-web-text; charset=utf-8")
    assert text == grpcweb.WireFormat(text=True)
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
        ("grpc-timeout", "10S"),
        ("trace-bin", base64.b64encode(b"\x00\x01").decode().rstrip("=")),
        ("x-request-id", "42"),
    ]
    assert grpcweb.call_metadata(headers) == (
        ("authorization", "Bearer es_x_y"),
        ("trace-bin", b"\x00\x01"),
        ("x-request-id", "42"),
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("10S", 10.0), ("250m", 0.25), ("2M", 120.0), ("1H", 3600.0), ("5u", 5e-6), ("7n", 7e-9)],
)
def test_grpc_timeout_headers_are_parsed(header: str, seconds: float) -> None:
    assert grpcweb.parse_timeout(header) == pytest.approx(seconds)


@pytest.mark.parametrize("header", [None, "", "10", "S", "123456789S", "10s", "-1S", "1.5S"])
def test_a_malformed_grpc_timeout_sets_no_deadline(header: str | None) -> None:
    assert grpcweb.parse_timeout(header) is None


async def test_the_context_tells_the_time_remaining_before_the_deadline() -> None:
    loop = asyncio.get_running_loop()

    async def write(_data: bytes) -> None:
        pass

    def context(deadline: float | None) -> CallContext:
        return CallContext(
            peer="ipv4:127.0.0.1:1",
            metadata=(),
            serializer=None,
            write_bytes=write,
            max_message_bytes=1,
            deadline=deadline,
        )

    assert context(None).time_remaining() is None
    remaining = context(loop.time() + 30).time_remaining()
    assert remaining is not None and 0 < remaining <= 30
    assert context(loop.time() - 1).time_remaining() == 0
