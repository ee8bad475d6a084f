"""Serve gRPC-Web calls over HTTP: WatchExecution and GetSnapshot, as native gRPC serves them.

Each call is resolved and run by ``inprocess`` through the server's own interceptors and
servicer, so tokens, roles, validation and limits are the native ones. Responses stream:
every message is written (and so flushed) as the servicer produces it, and the trailers
frame ends the body. Browsers cannot stream a request body, so ReportProgress is answered
UNIMPLEMENTED with the reason; sidecars report over native gRPC.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import grpc
from aiohttp import web

from execstream_server.domain.errors import FieldViolation, InvalidArgumentError
from execstream_server.transport import grpcweb
from execstream_server.transport.auth import REPORT, SNAPSHOT, WATCH
from execstream_server.transport.inprocess import CallContext, CallDetails, MethodRouter, invoke
from execstream_server.transport.status_map import to_rpc_status

SERVED = frozenset({WATCH, SNAPSHOT})
# Headers a browser must be allowed to read from a cross-origin gRPC-Web response.
EXPOSED_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin"


@dataclass(frozen=True)
class Refusal:
    """A call refused before it reached a handler: its status, and the HTTP status to use."""

    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()
    http_status: int = 200


def _invalid(message: str) -> Refusal:
    status = to_rpc_status(InvalidArgumentError([FieldViolation("request", message)]))
    return Refusal(status.code, status.details, tuple(status.trailing_metadata))


def method_refusal(method: str, grpc_port: int) -> Refusal | None:
    """Why ``method`` is not served over gRPC-Web, or None when it is."""
    if method in SERVED:
        return None
    if method == REPORT:
        return Refusal(
            grpc.StatusCode.UNIMPLEMENTED,
            "ReportProgress is not served over gRPC-Web: browsers cannot stream a request; "
            f"report over native gRPC (port {grpc_port})",
        )
    return Refusal(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method} is not served over gRPC-Web (only WatchExecution and GetSnapshot are)",
    )


def peer_of(request: web.Request) -> str:
    """The client's address in grpc's peer notation (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``)."""
    peername = request.transport.get_extra_info("peername") if request.transport else None
    if not peername:
        return "unix:"
    host, port = peername[0], peername[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


class GrpcWebHandler:
    """The aiohttp handler of ``POST /execstream.v1.ExecutionService/{method}``."""

    def __init__(self, router: MethodRouter, *, grpc_port: int, max_message_bytes: int) -> None:
        self._router = router
        self._grpc_port = grpc_port
        self._max_message_bytes = max_message_bytes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fmt = grpcweb.wire_format(request.headers.get("Content-Type", ""))
        if fmt is None:
            refusal = _invalid(
                "content type must be application/grpc-web+proto or application/grpc-web-text"
            )
            return _trailers_only(grpcweb.WireFormat(text=False), refusal, http_status=415)
        method = "/" + request.match_info["service"] + "/" + request.match_info["method"]
        unserved = method_refusal(method, self._grpc_port)
        if unserved is not None:
            return _trailers_only(fmt, unserved)
        body = await _read_body(request, fmt, self._max_message_bytes)
        if isinstance(body, Refusal):
            return _trailers_only(fmt, body)
        details = CallDetails(method, grpcweb.call_metadata(request.headers.items()))
        handler = await self._router.resolve(details)
        if handler is None:  # cannot happen for SERVED methods; kept for safety
            return _trailers_only(fmt, Refusal(grpc.StatusCode.UNIMPLEMENTED, method))
        return await self._run(request, fmt, handler, details, body)

    async def _run(
        self,
        request: web.Request,
        fmt: grpcweb.WireFormat,
        handler: grpc.RpcMethodHandler,
        details: CallDetails,
        body: bytes,
    ) -> web.StreamResponse:
        response = _response(fmt)
        await response.prepare(request)

        async def write_message(data: bytes) -> None:
            await response.write(fmt.encode(grpcweb.message_frame(data)))

        context = CallContext(
            peer=peer_of(request),
            metadata=details.invocation_metadata,
            serializer=handler.response_serializer,
            write_bytes=write_message,
            max_message_bytes=self._max_message_bytes,
        )
        with contextlib.suppress(ConnectionError):
            await invoke(handler, body, context)
            code, message, trailing = context.status()
            trailers = grpcweb.status_trailers(code.value[0], message, trailing)
            await response.write(fmt.encode(grpcweb.trailers_frame(trailers)))
            await response.write_eof()
        return response


async def _read_body(
    request: web.Request, fmt: grpcweb.WireFormat, max_message_bytes: int
) -> bytes | Refusal:
    """The one request message of a unary-request call, or why it cannot be read."""
    try:
        frames = fmt.decode_body(await request.read())
        messages = grpcweb.parse_messages(frames, max_message_bytes=max_message_bytes)
    except web.HTTPRequestEntityTooLarge:
        return Refusal(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the request body exceeds the limit of {max_message_bytes} bytes "
            "(--max-message-bytes)",
        )
    except grpcweb.MessageTooLargeError as exc:
        return Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    except grpcweb.FramingError as exc:
        return _invalid(str(exc))
    if len(messages) != 1:
        return _invalid(f"a unary request carries exactly one message, not {len(messages)}")
    return messages[0]


def _response(fmt: grpcweb.WireFormat) -> web.StreamResponse:
    response = web.StreamResponse(status=200)
    response.content_type = fmt.content_type
    # Reverse proxies (nginx) must pass each frame on at once, not buffer the stream.
    response.headers["X-Accel-Buffering"] = "no"
    response.headers["Cache-Control"] = "no-store"
    return response


def _trailers_only(
    fmt: grpcweb.WireFormat, refusal: Refusal, *, http_status: int | None = None
) -> web.Response:
    """A call that ends before any message: its status in the headers, and an empty body."""
    trailers = grpcweb.status_trailers(
        refusal.code.value[0], refusal.message, refusal.trailing_metadata
    )
    response = web.Response(status=http_status or refusal.http_status)
    response.content_type = fmt.content_type
    for key, value in trailers:
        response.headers[key] = value
    return response
