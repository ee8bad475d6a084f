"""Access control as a server interceptor: bearer tokens, roles, sidecar binding, stream caps.

Rejections keep the cardinality of the RPC they replace (a client-streaming RPC is refused
by a client-streaming handler), otherwise grpc-python fails the call with a confusing
INTERNAL. Health is open; reflection needs any valid token. A sidecar token may only report
as its own sidecar id: the request stream is wrapped, so the check sees every message.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from execstream_server.domain.errors import SidecarMismatchError
from execstream_server.transport.auth import OPEN_PREFIXES, REPORT, Principal, Role, TokenBook
from execstream_server.transport.methods import declared_type

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


def _metadata_value(details: grpc.HandlerCallDetails, key: str) -> Any:
    for name, value in details.invocation_metadata or ():
        if name == key:
            return value
    return None


def reject(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> Any:
    """A handler of the same kind as ``handler`` that fails with ``code``."""

    async def deny(_request: Any, context: Any) -> None:
        await context.abort(code, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


def client_host(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` -> ``127.0.0.1``; ``ipv6:[::1]:5000`` -> ``[::1]``."""
    address = peer.split(":", 1)[1] if ":" in peer else peer
    return address.rsplit(":", 1)[0]


class AccessInterceptor(grpc.aio.ServerInterceptor):
    """See the module docstring. ``tokens`` None disables authentication."""

    def __init__(self, *, tokens: TokenBook | None, max_streams_per_client: int) -> None:
        self._tokens = tokens
        self._max_streams = max_streams_per_client
        self._open_streams: Counter[str] = Counter()

    def _authenticate(self, details: grpc.HandlerCallDetails) -> Principal | str:
        """The caller's principal, or the reason for UNAUTHENTICATED."""
        assert self._tokens is not None
        header = _metadata_value(details, "authorization")
        if not isinstance(header, str) or not header.startswith("Bearer "):
            return "missing bearer token: send metadata 'authorization: Bearer <token>'"
        principal = self._tokens.verify(header.removeprefix("Bearer ").strip())
        return principal if principal is not None else "invalid or unknown bearer token"

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        principal: Principal | None = None
        if self._tokens is not None:
            found = self._authenticate(handler_call_details)
            if isinstance(found, str):
                return reject(handler, grpc.StatusCode.UNAUTHENTICATED, found)
            principal = found
            if not principal.may_call(method):
                name = method.rsplit("/", 1)[-1]
                return reject(
                    handler,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"role {principal.role.value} may not call {name}",
                )
        if principal is not None and principal.role is Role.SIDECAR and method == REPORT:
            handler = _bind_sidecar(handler, principal.sidecar_id)
        streaming = handler.request_streaming or handler.response_streaming
        kind = declared_type(
            method, request_streaming=streaming, response_streaming=streaming
        )  # GetSnapshot is served by a request-streaming handler but is a unary call
        if kind != "unary":
            handler = self._cap_streams(handler, principal)
        return handler

    def _cap_streams(self, handler: grpc.RpcMethodHandler, principal: Principal | None) -> Any:
        """Limit concurrent streams per client (token id, or peer address without auth)."""
        open_streams = self._open_streams
        limit = self._max_streams
        inner = _behavior(handler)

        async def enter(context: Any) -> str:
            key = principal.token_id if principal else client_host(context.peer())
            if open_streams[key] >= limit:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"client {key} has {open_streams[key]} open streams; the limit is {limit} "
                    "(--max-streams-per-client)",
                )
            open_streams[key] += 1
            return key

        def leave(key: str) -> None:
            open_streams[key] -= 1
            if not open_streams[key]:
                del open_streams[key]

        if inspect.isasyncgenfunction(inner):

            async def capped_gen(request: Any, context: Any) -> AsyncIterator[Any]:
                key = await enter(context)
                try:
                    async for response in inner(request, context):
                        yield response
                finally:
                    leave(key)

            return _rebuild(handler, capped_gen)

        async def capped(request: Any, context: Any) -> Any:
            key = await enter(context)
            try:
                return await inner(request, context)
            finally:
                leave(key)

        return _rebuild(handler, capped)


def _behavior(handler: grpc.RpcMethodHandler) -> Callable[[Any, Any], Awaitable[Any]]:
    if handler.request_streaming and handler.response_streaming:
        return handler.stream_stream  # type: ignore[no-any-return]
    if handler.request_streaming:
        return handler.stream_unary  # type: ignore[no-any-return]
    if handler.response_streaming:
        return handler.unary_stream  # type: ignore[no-any-return]
    return handler.unary_unary  # type: ignore[no-any-return]


def _rebuild(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> Any:
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(behavior, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(behavior, **kwargs)
    return grpc.unary_unary_rpc_method_handler(behavior, **kwargs)


def _bind_sidecar(handler: grpc.RpcMethodHandler, sidecar_id: str) -> Any:
    """Refuse any ProgressReport whose sidecar_id is not the token's."""
    inner = handler.stream_unary

    async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for report in requests:
            claimed = getattr(report, "sidecar_id", sidecar_id)
            if claimed != sidecar_id:
                raise SidecarMismatchError(sidecar_id, claimed)
            yield report

    async def bound(requests: AsyncIterator[Any], context: Any) -> Any:
        return await inner(checked(requests), context)

    return _rebuild(handler, bound)
