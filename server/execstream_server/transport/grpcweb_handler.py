"""Serve gRPC-Web calls over HTTP: WatchExecution and GetSnapshot, as native gRPC serves them.

Each call is resolved from its headers alone and run by ``inprocess`` through the server's
own interceptors and servicer, so tokens, roles, stream caps, validation and limits are
the native ones, and a call they refuse is answered before its body is read. The body is
read lazily (``grpcweb_body``), only if the handler asks for its request.

The response is prepared lazily too: a call that ends before its first message (any
refusal) is answered trailers-only, its status in the HTTP headers, as gRPC-Web requires;
otherwise every message is written (and so flushed) as the servicer produces it, and the
trailers frame ends the body. A ``grpc-timeout`` header sets the call's deadline, as on
native calls. Browsers cannot stream a request body, so ReportProgress is answered
UNIMPLEMENTED with the reason (through the interceptors, so it is counted like any call);
sidecars report over native gRPC.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web

from execstream_server.domain.errors import FieldViolation, InvalidArgumentError
from execstream_server.transport import grpcweb
from execstream_server.transport.access import rebuild
from execstream_server.transport.auth import REPORT, SNAPSHOT, WATCH
from execstream_server.transport.grpcweb_body import request_messages
from execstream_server.transport.inprocess import (
    CallContext,
    CallDetails,
    Metadata,
    MethodRouter,
    Substitute,
    invoke,
)
from execstream_server.transport.status_map import to_rpc_status

log = logging.getLogger(__name__)

SERVED = frozenset({WATCH, SNAPSHOT})
# Headers a browser must be allowed to read from a cross-origin gRPC-Web response.
EXPOSED_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin"


@dataclass(frozen=True)
class Refusal:
    """A call refused before it reached a handler: its status, and the HTTP status to use."""

    code: grpc.StatusCode
    message: str
    trailing_metadata: Metadata = ()
    http_status: int = 200


def _invalid(message: str) -> Refusal:
    status = to_rpc_status(InvalidArgumentError([FieldViolation("request", message)]))
    return Refusal(status.code, status.details, tuple(status.trailing_metadata))


def not_served_message(method: str, grpc_port: int) -> str:
    """Why ``method`` is not served over gRPC-Web."""
    if method == REPORT:
        return (
            "ReportProgress is not served over gRPC-Web: browsers cannot stream a request; "
            f"report over native gRPC (port {grpc_port})"
        )
    return f"{method} is not served over gRPC-Web (only WatchExecution and GetSnapshot are)"


def _refusing(message: str) -> Substitute:
    """Replace a method's handler by one of the same kind that answers UNIMPLEMENTED."""

    async def refuse(_request: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

    return lambda handler: rebuild(handler, refuse)


def peer_of(request: web.Request) -> str:
    """The client's address in grpc's peer notation (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``)."""
    peername = request.transport.get_extra_info("peername") if request.transport else None
    if not peername:
        return "unix:"
    host, port = peername[0], peername[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


class GrpcWebHandler:
    """The aiohttp handler of ``POST /{service}/{method}``."""

    def __init__(
        self,
        router: MethodRouter,
        *,
        grpc_port: int,
        max_message_bytes: int,
        final_write_timeout_s: float,
    ) -> None:
        self._router = router
        self._grpc_port = grpc_port
        self._max_message_bytes = max_message_bytes
        self._final_write_timeout_s = final_write_timeout_s

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fmt = grpcweb.wire_format(request.headers.get("Content-Type", ""))
        if fmt is None:
            wrong_type = _invalid(
                "content type must be application/grpc-web+proto or application/grpc-web-text"
            )
            return _trailers_only(request, grpcweb.WireFormat(text=False), wrong_type, 415)
        method = "/" + request.match_info["service"] + "/" + request.match_info["method"]
        details = CallDetails(method, grpcweb.call_metadata(request.headers.items()))
        refusal = None if method in SERVED else not_served_message(method, self._grpc_port)
        handler = await self._router.resolve(details, _refusing(refusal) if refusal else None)
        if handler is None:
            unknown = Refusal(grpc.StatusCode.UNIMPLEMENTED, refusal or method)
            return _trailers_only(request, fmt, unknown)
        call = _Call(request, fmt, self._final_write_timeout_s)
        timeout = grpcweb.parse_timeout(request.headers.get("grpc-timeout"))
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        context = CallContext(
            peer=peer_of(request),
            metadata=details.invocation_metadata,
            serializer=handler.response_serializer,
            write_bytes=call.write_message,
            max_message_bytes=self._max_message_bytes,
            deadline=deadline,
        )
        requests = request_messages(
            request.content, text=fmt.text, max_message_bytes=self._max_message_bytes
        )
        try:
            async with asyncio.timeout_at(deadline):
                await invoke(handler, requests, context)
            status = context.status()
        except TimeoutError:
            status = (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", ())
        return await call.finish(*status)


class _Call:
    """One call's HTTP response, prepared at its first message (never, for a refusal)."""

    def __init__(self, request: web.Request, fmt: grpcweb.WireFormat, write_timeout: float):
        self._request = request
        self._fmt = fmt
        self._write_timeout = write_timeout
        self.response: web.StreamResponse | None = None

    async def write_message(self, data: bytes) -> None:
        if self.response is None:
            self.response = _response(self._fmt)
            await self.response.prepare(self._request)
        try:
            await self.response.write(self._fmt.encode(grpcweb.message_frame(data)))
        except ConnectionError as exc:  # the client went away: the call is cancelled
            raise asyncio.CancelledError("the client closed the connection") from exc

    def _abandon(self) -> None:
        """Close the connection of a client that does not read the end of its call."""
        if self._request.transport is not None:
            log.info("closed the connection of %s: it read nothing", peer_of(self._request))
            self._request.transport.abort()

    async def finish(
        self, code: grpc.StatusCode, message: str, trailing: Metadata
    ) -> web.StreamResponse:
        """End the call: trailers-only before any message, else the trailers frame.

        A client that does not read the end within the write timeout (a watcher shed for
        reading nothing) has its connection closed: nothing more would reach it.
        """
        if self.response is None:
            return _trailers_only(self._request, self._fmt, Refusal(code, message, trailing))
        trailers = grpcweb.status_trailers(code.value[0], message, trailing)
        give_up = asyncio.get_running_loop().call_later(self._write_timeout, self._abandon)
        try:
            await self.response.write(self._fmt.encode(grpcweb.trailers_frame(trailers)))
            await self.response.write_eof()
        except ConnectionError:
            pass  # the client went away, or was given up on
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the call itself is cancelled
            # Not a cancellation of this call: aiohttp's wait for the client to read was
            # cancelled by a write that timed out before (the watcher was shed for that).
            self._abandon()
        finally:
            give_up.cancel()
        return self.response


def _response(fmt: grpcweb.WireFormat) -> web.StreamResponse:
    response = web.StreamResponse(status=200)
    response.content_type = fmt.content_type
    # Reverse proxies (nginx) must pass each frame on at once, not buffer the stream.
    response.headers["X-Accel-Buffering"] = "no"
    response.headers["Cache-Control"] = "no-store"
    return response


def _trailers_only(
    request: web.Request,
    fmt: grpcweb.WireFormat,
    refusal: Refusal,
    http_status: int | None = None,
) -> web.Response:
    """A call that ends before any message: its status in the headers, and an empty body.

    A body the call left unread is not drained: the connection closes after the answer.
    """
    trailers = grpcweb.status_trailers(
        refusal.code.value[0], refusal.message, refusal.trailing_metadata
    )
    response = web.Response(status=http_status or refusal.http_status)
    response.content_type = fmt.content_type
    response.headers["Cache-Control"] = "no-store"
    for key, value in trailers:
        response.headers[key] = value
    if not request.content.is_eof():
        response.force_close()
    return response
