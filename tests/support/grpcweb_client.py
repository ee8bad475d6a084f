"""A small gRPC-Web client for tests: frames in, frames out, trailers parsed, no browser.

Written from the protocol, independently of the server's codec, so a test of the endpoint
checks the wire format rather than the server against itself.
"""

from __future__ import annotations

import base64
import struct
import urllib.parse
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field

import httpx
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

SERVICE = "execstream.v1.ExecutionService"
PROTO = "application/grpc-web+proto"
TEXT = "application/grpc-web-text"


def frame(payload: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(payload)) + payload


@dataclass
class WebReply:
    """What one call returned: HTTP status and headers, message payloads, gRPC trailers."""

    http_status: int
    headers: Mapping[str, str]
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> int:
        """grpc-status from the trailers frame (or the headers of a trailers-only reply)."""
        value = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        assert value is not None, f"no grpc-status in {self.trailers} or {dict(self.headers)}"
        return int(value)

    @property
    def message(self) -> str:
        raw = self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))
        return urllib.parse.unquote(raw)

    def details(self) -> dict[str, Message]:
        """google.rpc details from grpc-status-details-bin, by type name."""
        raw = self.trailers.get("grpc-status-details-bin") or self.headers.get(
            "grpc-status-details-bin"
        )
        if not raw:
            return {}
        status = status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
        assert status.code == self.code and status.message == self.message
        found: dict[str, Message] = {}
        for detail in status.details:
            for cls in (
                error_details_pb2.ErrorInfo,
                error_details_pb2.BadRequest,
                error_details_pb2.RetryInfo,
            ):
                if detail.Is(cls.DESCRIPTOR):
                    message = cls()
                    detail.Unpack(message)
                    found[cls.__name__] = message
        return found


def parse_trailers(block: bytes) -> dict[str, str]:
    trailers: dict[str, str] = {}
    for line in block.decode("ascii").split("\r\n"):
        if line:
            key, _, value = line.partition(":")
            trailers[key.strip().lower()] = value.strip()
    return trailers


class FrameReader:
    """Splits a byte stream into (flag, payload) frames as bytes arrive."""

    def __init__(self, text: bool) -> None:
        self._text = text
        self._pending = b""
        self._text_pending = b""

    def feed(self, chunk: bytes) -> Iterator[tuple[int, bytes]]:
        if self._text:
            data = self._text_pending + chunk
            usable = len(data) - len(data) % 4
            self._text_pending = data[usable:]
            chunk = _b64_concatenated(data[:usable])
        self._pending += chunk
        while len(self._pending) >= 5:
            flag, length = struct.unpack(">BI", self._pending[:5])
            if len(self._pending) < 5 + length:
                return
            yield flag, self._pending[5 : 5 + length]
            self._pending = self._pending[5 + length :]


def _b64_concatenated(data: bytes) -> bytes:
    out = b""
    for i in range(0, len(data), 4):
        out += base64.b64decode(data[i : i + 4])
    return out


class GrpcWebClient:
    """Calls ``/execstream.v1.ExecutionService/METHOD`` on a base URL."""

    def __init__(self, base_url: str, *, token: str = "", text: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.text = text
        self.http = httpx.Client(timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"content-type": TEXT if self.text else PROTO, "x-grpc-web": "1"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers | dict(extra or {})

    def body(self, request: Message | bytes) -> bytes:
        payload = request if isinstance(request, bytes) else request.SerializeToString()
        framed = frame(payload)
        return base64.b64encode(framed) if self.text else framed

    def stream(
        self,
        method: str,
        request: Message | bytes,
        *,
        headers: Mapping[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> Generator[WebReply, None, None]:
        """Yield the reply after each frame: messages so far, then the trailers at the end."""
        body = raw_body if raw_body is not None else self.body(request)
        url = f"{self.base_url}/{SERVICE}/{method}"
        with self.http.stream("POST", url, content=body, headers=self.headers(headers)) as resp:
            reply = WebReply(resp.status_code, resp.headers)
            reader = FrameReader(self.text)
            for chunk in resp.iter_raw():
                for flag, payload in reader.feed(chunk):
                    if flag & 0x80:
                        reply.trailers = parse_trailers(payload)
                    else:
                        reply.messages.append(payload)
                    yield reply
            if not reply.messages and not reply.trailers:
                yield reply

    def call(
        self,
        method: str,
        request: Message | bytes,
        *,
        headers: Mapping[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> WebReply:
        """Run a call to its end."""
        replies = list(self.stream(method, request, headers=headers, raw_body=raw_body))
        assert replies, "no reply"
        return replies[-1]
