"""Access control as a server interceptor: bearer tokens, roles, sidecar binding, stream caps.

Rejections keep the cardinality of the RPC they replace (a client-streaming RPC is refused
by a client-streaming handler), otherwise grpc-python fails the call with a confusing
INTERNAL; each carries ErrorInfo like every other status. Health is open; reflection needs
any valid token. A sidecar token may only report as its own sidecar id: the request stream
is wrapped, so the check sees every message. The verified principal is published to the
handler through ``current_principal`` (a context variable set around the call), so the
servicer can narrow what a sidecar token reads.
"""

from __future__ import annotations

import contextvars
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from execstream_server.domain.errors import (
    DomainError,
    LimitExceededError,
    RoleForbiddenError,
    SidecarMismatchError,
    TokenInvalidError,
)
from execstream_server.transport.auth import OPEN_PREFIXES, REPORT, Principal, Role, TokenBook
from execstream_server.transport.methods import declared_type
from execstream_server.transport.status_map import to_rpc_status

# The caller of the RPC being handled (None when auth is off or the method is open).
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)
_BEARER = "bearer "

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


def _metadata_value(details: grpc.HandlerCallDetails, key: str) -> Any:
    for name, value in details.invocation_metadata or ():
        if name == key:
            return value
    return None


async def abort_with_error(context: Any, exc: DomainError) -> None:
    status = to_rpc_status(exc)
    await context.abort(status.code, status.details, status.trailing_metadata)


def reject(handler: grpc.RpcMethodHandler, exc: DomainError) -> Any:
    """A handler of the same kind as ``handler`` that fails with ``exc``'s status."""

    async def deny(_request: Any, context: Any) -> None:
        await abort_with_error(context, exc)

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

    @property
    def tokens(self) -> TokenBook | None:
        return self._tokens

    @tokens.setter
    def tokens(self, book: TokenBook) -> None:
        """Swap in a reloaded token file (later calls see it; open calls keep going)."""
        self._tokens = book

    def _authenticate(self, details: grpc.HandlerCallDetails) -> Principal:
        """The caller's principal; raise TokenInvalidError (or TokenExpiredError)."""
        assert self._tokens is not None
        header = _metadata_value(details, "authorization")
        # RFC 6750 and RFC 9110: the scheme name is case-insensitive.
        if not isinstance(header, str) or header[: len(_BEARER)].lower() != _BEARER:
            raise TokenInvalidError(
                "missing bearer token: send metadata 'authorization: Bearer <token>'"
            )
        return self._tokens.verify(header[len(_BEARER) :].strip())

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        principal: Principal | None = None
        if self._tokens is not None:
            try:
                principal = self._authenticate(handler_call_details)
            except TokenInvalidError as exc:
                return reject(handler, exc)
            if not principal.may_call(method):
                return reject(handler, RoleForbiddenError(principal.role.value, method))
            if principal.role is Role.SIDECAR and method == REPORT:
                handler = _bind_sidecar(handler, principal.sidecar_id)
            handler = _with_principal(handler, principal)
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
                who = f"token {key}" if principal else f"client {key}"
                await abort_with_error(
                    context,
                    LimitExceededError(
                        f"{who} has {open_streams[key]} open streams; the limit is {limit} "
                        "(--max-streams-per-client)",
                        limit="--max-streams-per-client",
                        value=limit,
                    ),
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

            return rebuild(handler, capped_gen)

        async def capped(request: Any, context: Any) -> Any:
            key = await enter(context)
            try:
                return await inner(request, context)
            finally:
                leave(key)

        return rebuild(handler, capped)


def _behavior(handler: grpc.RpcMethodHandler) -> Callable[[Any, Any], Awaitable[Any]]:
    if handler.request_streaming and handler.response_streaming:
        return handler.stream_stream  # type: ignore[no-any-return]
    if handler.request_streaming:
        return handler.stream_unary  # type: ignore[no-any-return]
    if handler.response_streaming:
        return handler.unary_stream  # type: ignore[no-any-return]
    return handler.unary_unary  # type: ignore[no-any-return]


def rebuild(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> Any:
    """A handler of the same kind and (de)serializers as ``handler``, running ``behavior``."""
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


def _with_principal(handler: grpc.RpcMethodHandler, principal: Principal) -> Any:
    """Publish ``principal`` in ``current_principal`` while the handler runs."""
    inner = _behavior(handler)

    if inspect.isasyncgenfunction(inner):

        async def as_gen(request: Any, context: Any) -> AsyncIterator[Any]:
            current_principal.set(principal)
            async for response in inner(request, context):
                yield response

        return rebuild(handler, as_gen)

    async def as_call(request: Any, context: Any) -> Any:
        current_principal.set(principal)
        return await inner(request, context)

    return rebuild(handler, as_call)


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

    return rebuild(handler, bound)
