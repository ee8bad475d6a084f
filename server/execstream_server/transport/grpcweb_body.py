"""A gRPC-Web request body, read lazily: only when the handler asks for its message.

The call's handler is resolved (interceptors, auth, stream caps) from the headers alone;
the body is read only if the handler reads its request, so a refused call reads nothing.
Reading stops at the one message a unary request carries: a frame header announcing more
than --max-message-bytes is refused before its payload is read, a second message is an
error, and text (base64) bodies are decoded as they arrive, in one pass, with a cap on the
padded chunks a client may split them into. Memory per call is bounded by the message
limit (one copy of the message), whatever the body's length.

``RequestDecoder`` is the protocol (no I/O); ``request_messages`` feeds it from the socket
and turns its refusals into the server's errors.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator

from aiohttp import StreamReader

from execstream_server.domain.errors import FieldViolation, InvalidArgumentError, LimitExceededError
from execstream_server.transport import grpcweb

# A text body is base64 of the frames, as one padded chunk or one per frame; more padded
# chunks than this is no client's encoding of one request (and costs a decode each).
MAX_TEXT_CHUNKS = 16
# Client trailers frames (ignored) may follow the message, up to this many bytes in all.
_TRAILER_ALLOWANCE = 1024
_READ_BYTES = 64 * 1024
_WHITESPACE = b" \t\r\n"


class _Base64Stream:
    """Decodes base64 as it arrives: whole 4-character quanta, padded chunks allowed."""

    def __init__(self) -> None:
        self._pending = b""
        self.chunks = 0

    def feed(self, data: bytes) -> bytes:
        text = self._pending + data.translate(None, _WHITESPACE)
        usable = len(text) - len(text) % 4
        self._pending = text[usable:]
        out = bytearray()
        start = 0
        while start < usable:
            pad = text.find(b"=", start, usable)
            end = usable if pad < 0 else (pad // 4 + 1) * 4
            if pad >= 0:
                self.chunks += 1
                if self.chunks > MAX_TEXT_CHUNKS:
                    raise grpcweb.FramingError(
                        f"the grpc-web-text body is split into more than {MAX_TEXT_CHUNKS} "
                        "padded base64 chunks; send one chunk (or one per frame)"
                    )
            try:
                out += base64.b64decode(text[start:end], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise grpcweb.FramingError("the grpc-web-text body is not base64") from exc
            start = end
        return bytes(out)

    def finish(self) -> None:
        if self._pending:
            raise grpcweb.FramingError("the grpc-web-text body ends inside a base64 quantum")


class RequestDecoder:
    """The one message of a unary request, from body bytes fed in any pieces.

    A frame's payload is copied once, into a buffer of the size its header announced
    (the message handed on is that buffer), so a call holds at most its message.
    """

    def __init__(self, *, text: bool, max_message_bytes: int) -> None:
        self._text = _Base64Stream() if text else None
        self._max = max_message_bytes
        self._budget = max_message_bytes + 2 * grpcweb.HEADER_BYTES + _TRAILER_ALLOWANCE
        self._header = bytearray()
        self._frame: bytearray | None = None  # the payload being read
        self._filled = 0
        self._trailers = False
        self.message: bytearray | None = None

    def feed(self, data: bytes) -> None:
        """Take more of the body; raise FramingError (or MessageTooLargeError) at once."""
        if self._text is not None:
            data = self._text.feed(data)
        with memoryview(data) as view:
            pos = 0
            while True:
                if self._frame is None:
                    pos = self._read_header(view, pos)
                    if self._frame is None:
                        return
                frame = self._frame
                take = min(len(frame) - self._filled, len(view) - pos)
                frame[self._filled : self._filled + take] = view[pos : pos + take]
                self._filled += take
                pos += take
                if self._filled < len(frame):
                    return
                if not self._trailers:
                    self.message = frame
                self._frame = None

    def _read_header(self, view: memoryview, pos: int) -> int:
        """Read header bytes from ``pos``; start the frame once the header is whole."""
        take = min(grpcweb.HEADER_BYTES - len(self._header), len(view) - pos)
        self._header += view[pos : pos + take]
        if len(self._header) < grpcweb.HEADER_BYTES:
            return pos + take
        flag, length = grpcweb.frame_header(bytes(self._header))
        self._header.clear()
        grpcweb.check_request_frame(flag, length, max_message_bytes=self._max)
        self._trailers = bool(flag & grpcweb.TRAILERS_FLAG)
        if not self._trailers and self.message is not None:
            raise grpcweb.FramingError("a unary request carries exactly one message, not 2")
        self._budget -= grpcweb.HEADER_BYTES + length
        if self._budget < 0:
            raise grpcweb.MessageTooLargeError(
                f"the request body exceeds the limit of {self._max} bytes (--max-message-bytes)"
            )
        self._frame = bytearray(length)
        self._filled = 0
        return pos + take

    def finish(self) -> bytearray:
        """The body ended: its message, or FramingError."""
        if self._text is not None:
            self._text.finish()
        if self._header:
            raise grpcweb.FramingError("the body ends inside a frame header")
        if self._frame is not None:
            raise grpcweb.FramingError("the body ends inside a frame")
        if self.message is None:
            raise grpcweb.FramingError("a unary request carries exactly one message, not 0")
        return self.message


def _refusal(exc: grpcweb.FramingError, max_message_bytes: int) -> Exception:
    if isinstance(exc, grpcweb.MessageTooLargeError):
        return LimitExceededError(str(exc), limit="--max-message-bytes", value=max_message_bytes)
    return InvalidArgumentError([FieldViolation("request", str(exc))])


async def request_messages(
    content: StreamReader, *, text: bool, max_message_bytes: int
) -> AsyncIterator[bytearray]:
    """The request's one message, read when first asked for; errors are the server's own."""
    decoder = RequestDecoder(text=text, max_message_bytes=max_message_bytes)
    try:
        while data := await content.read(_READ_BYTES):
            decoder.feed(data)
        message = decoder.finish()
    except grpcweb.FramingError as exc:
        raise _refusal(exc, max_message_bytes) from None
    yield message
