"""The gRPC-Web wire format: content types, length-prefixed frames, the trailers frame.

gRPC-Web (the protocol Envoy's grpc_web filter and the browser clients speak) carries gRPC
over plain HTTP/1.1 or HTTP/2 responses: the body is a sequence of frames, each a flag byte,
a 4-byte big-endian length and the payload. Flag 0x00 is a message; flag 0x80 is the
trailers (``grpc-status``, ``grpc-message``, ``grpc-status-details-bin``) written as an
HTTP/1 header block, since browsers cannot read HTTP trailers. ``application/grpc-web-text``
is the same stream in base64, for clients that can only read text; every frame is encoded
on its own so it can be flushed at once.

Pure functions only: the HTTP server (``http.py``) does the I/O.
"""

from __future__ import annotations

import base64
import binascii
import struct
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

MESSAGE_FLAG = 0x00
COMPRESSED_FLAG = 0x01
TRAILERS_FLAG = 0x80
RESERVED_FLAGS = 0x7E
_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size

PROTO = "application/grpc-web+proto"
TEXT = "application/grpc-web-text+proto"
# What a request may say: bare grpc-web means +proto; -text is base64 of the same frames.
_BINARY_TYPES = frozenset({"application/grpc-web", "application/grpc-web+proto"})
_TEXT_TYPES = frozenset({"application/grpc-web-text", "application/grpc-web-text+proto"})
# Headers of the HTTP request that are transport, not call metadata.
_NOT_METADATA = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "connection",
        "content-length",
        "content-type",
        "cookie",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "te",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-grpc-web",
        "x-user-agent",
    }
)


class FramingError(ValueError):
    """The request body is not a well-formed gRPC-Web message stream."""


class MessageTooLargeError(FramingError):
    """A request message is larger than --max-message-bytes."""


@dataclass(frozen=True)
class WireFormat:
    """How one call is encoded: binary frames, or the same frames in base64 text."""

    text: bool

    @property
    def content_type(self) -> str:
        return TEXT if self.text else PROTO

    def encode(self, frame: bytes) -> bytes:
        return base64.b64encode(frame) if self.text else frame


def wire_format(content_type: str) -> WireFormat | None:
    """The format a request's content type asks for, or None when it is not gRPC-Web."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _BINARY_TYPES:
        return WireFormat(text=False)
    if media in _TEXT_TYPES:
        return WireFormat(text=True)
    return None


def message_frame(payload: bytes) -> bytes:
    return _HEADER.pack(MESSAGE_FLAG, len(payload)) + payload


def trailers_frame(trailers: Iterable[tuple[str, str]]) -> bytes:
    block = "".join(f"{key}: {value}\r\n" for key, value in trailers).encode("ascii")
    return _HEADER.pack(TRAILERS_FLAG, len(block)) + block


def frame_header(header: bytes) -> tuple[int, int]:
    """(flag, length) of the 5-byte header that starts every frame."""
    flag, length = _HEADER.unpack(header)
    return int(flag), int(length)


def check_request_frame(flag: int, length: int, *, max_message_bytes: int) -> None:
    """Refuse a request frame by its header alone, before its payload is read.

    The flag's reserved bits (0x02-0x7f) must be zero; compression (0x01) is not served.
    """
    if flag & RESERVED_FLAGS:
        raise FramingError(
            f"frame flag 0x{flag:02x} sets reserved bits; only 0x00 (message) and 0x80 "
            "(trailers) are valid"
        )
    if flag & COMPRESSED_FLAG:
        raise FramingError("compressed messages are not supported; send them uncompressed")
    if length > max_message_bytes:
        raise MessageTooLargeError(
            f"a request message of {length} bytes exceeds the limit of "
            f"{max_message_bytes} bytes (--max-message-bytes)"
        )


def status_trailers(
    code: int, message: str, trailing_metadata: Iterable[tuple[str, str | bytes]] = ()
) -> list[tuple[str, str]]:
    """The trailers of a finished call: status, percent-encoded message, binary details."""
    trailers = [("grpc-status", str(code))]
    if message:
        trailers.append(("grpc-message", percent_encode(message)))
    trailers.extend(header_pairs(trailing_metadata))
    return trailers


def header_pairs(metadata: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, str]]:
    """gRPC metadata as HTTP header pairs: ``-bin`` values in base64, as gRPC sends them."""
    pairs: list[tuple[str, str]] = []
    for key, value in metadata:
        if key.endswith("-bin"):
            raw = value if isinstance(value, bytes) else value.encode()
            pairs.append((key, base64.b64encode(raw).decode("ascii")))
        else:
            pairs.append((key, value.decode() if isinstance(value, bytes) else value))
    return pairs


def percent_encode(message: str) -> str:
    """grpc-message encoding: UTF-8, with bytes outside printable ASCII (and %) escaped."""
    return urllib.parse.quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")


_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_timeout(value: str | None) -> float | None:
    """Seconds from a ``grpc-timeout`` header (``10S``, ``250m``); None when absent or bad.

    A malformed value is ignored (no deadline), as native gRPC servers ignore it.
    """
    if not value:
        return None
    digits, unit = value[:-1], value[-1:]
    if not (1 <= len(digits) <= 8 and digits.isascii() and digits.isdigit()):
        return None
    scale = _TIMEOUT_UNITS.get(unit)
    return None if scale is None else int(digits) * scale


def call_metadata(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str | bytes], ...]:
    """The call metadata of a request: its headers, less HTTP's own; ``-bin`` decoded."""
    metadata: list[tuple[str, str | bytes]] = []
    for raw_key, value in headers:
        key = raw_key.lower()
        if key in _NOT_METADATA or key.startswith(("access-control-", "sec-", "grpc-")):
            continue
        if key.endswith("-bin"):
            try:
                metadata.append((key, base64.b64decode(value + "=" * (-len(value) % 4))))
            except (binascii.Error, ValueError):
                continue
        else:
            metadata.append((key, value))
    return tuple(metadata)
