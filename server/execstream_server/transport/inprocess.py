"""Run a gRPC method in-process, through the server's own handlers and interceptors.

The gRPC-Web endpoint must apply exactly the policy native gRPC applies: the same access
interceptor (tokens, roles, stream caps), the same metrics interceptor, the same servicer
with its validation and limits. Rather than re-state any of it, ``MethodRouter`` resolves a
method the way grpc.aio does (the generic handlers, wrapped by the interceptors in order,
the first outermost), and ``invoke`` calls the resulting handler with ``CallContext``: the
part of ``grpc.aio.ServicerContext`` those handlers use, backed by an HTTP response. The
request is a lazy stream of message bytes: a handler that never reads it (a refusal) never
makes the caller read the body.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from execstream_server.domain.errors import DomainError
from execstream_server.transport.status_map import internal_status, to_rpc_status

log = logging.getLogger(__name__)

Metadata = tuple[tuple[str, str | bytes], ...]
WriteBytes = Callable[[bytes], Awaitable[None]]
# Request messages as the body yields them (bytes-like; the deserializers read any buffer).
Requests = AsyncIterator[bytes | bytearray]


@dataclass(frozen=True)
class CallDetails(grpc.HandlerCallDetails):
    """What an interceptor sees of a call: the full method name and the request metadata."""

    method: str
    invocation_metadata: Metadata


class CallContext:
    """A servicer context for one in-process call; messages go to ``write_bytes``.

    ``abort`` records the status and raises ``grpc.aio.AbortError`` as grpc.aio does, so
    handlers that re-raise it (the servicer's error mapping) behave identically.
    """

    def __init__(
        self,
        *,
        peer: str,
        metadata: Metadata,
        serializer: Callable[[Any], bytes] | None,
        write_bytes: WriteBytes,
        max_message_bytes: int,
        deadline: float | None = None,
    ) -> None:
        self._peer = peer
        self._deadline = deadline  # on the event loop's clock
        self._metadata = metadata
        self._serialize = serializer or (lambda message: message)
        self._write_bytes = write_bytes
        self._max_message_bytes = max_message_bytes
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing: Metadata = ()
        self._done = False

    async def write(self, message: Any) -> None:
        data = self._serialize(message)
        if len(data) > self._max_message_bytes:
            await self.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"a response message of {len(data)} bytes exceeds the limit of "
                f"{self._max_message_bytes} (--max-message-bytes)",
            )
        await self._write_bytes(data)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()
    ) -> None:
        if self._done:
            raise grpc.aio.AbortError("the call has already ended")
        self._code, self._details, self._trailing = code, details, tuple(trailing_metadata)
        self._done = True
        raise grpc.aio.AbortError(details)

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._trailing = tuple(trailing_metadata)

    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        """Accepted and dropped: execstream's responses carry no initial metadata."""

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return self._done

    def time_remaining(self) -> float | None:
        """Seconds left before the call's deadline (its ``grpc-timeout``), None without one."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def status(self) -> tuple[grpc.StatusCode, str, Metadata]:
        """The call's final status (OK unless a handler aborted or set a code)."""
        return self._code or grpc.StatusCode.OK, self._details, self._trailing


GenericHandlers = Sequence[grpc.GenericRpcHandler]
Substitute = Callable[[grpc.RpcMethodHandler], grpc.RpcMethodHandler]


class MethodRouter:
    """Finds a method's handler as grpc.aio does: generic handlers, wrapped by interceptors."""

    def __init__(
        self, handlers: GenericHandlers, interceptors: Sequence[grpc.aio.ServerInterceptor]
    ) -> None:
        self._handlers = tuple(handlers)
        self._interceptors = tuple(interceptors)

    async def resolve(
        self, details: CallDetails, substitute: Substitute | None = None
    ) -> grpc.RpcMethodHandler | None:
        """The method's handler as the interceptors wrap it; None for an unknown method.

        ``substitute`` replaces the method's own handler inside the interceptors (the
        HTTP port answers a method it does not serve through them, so it is counted).
        """

        async def lookup(call: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
            for generic in self._handlers:
                handler = generic.service(call)
                if handler is not None:
                    return substitute(handler) if substitute else handler
            return None

        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]] = lookup
        for interceptor in reversed(self._interceptors):
            continuation = _bind(interceptor, continuation)
        return await continuation(details)


def _bind(
    interceptor: grpc.aio.ServerInterceptor,
    continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
) -> Callable[[grpc.HandlerCallDetails], Awaitable[Any]]:
    async def intercepted(details: grpc.HandlerCallDetails) -> Any:
        return await interceptor.intercept_service(continuation, details)

    return intercepted


async def _decoded(
    requests: Requests, deserialize: Callable[[Any], Any] | None
) -> AsyncIterator[Any]:
    async for data in requests:
        yield deserialize(data) if deserialize else data


async def invoke(handler: grpc.RpcMethodHandler, requests: Requests, context: CallContext) -> None:
    """Run a handler to its end; the outcome is in ``context.status()``.

    A request-streaming handler (the server serves its one-request methods with those)
    gets the messages as it reads them; a unary-request one gets the first, read here.
    Errors the request stream raises (a malformed or oversized body) take the same path
    as the handler's own: the servicer maps them, or ``_fail`` here.
    """
    try:
        messages = _decoded(requests, handler.request_deserializer)
        if handler.request_streaming:
            argument: Any = messages
        else:
            argument = await anext(messages)
        if handler.response_streaming:
            behavior = handler.stream_stream if handler.request_streaming else handler.unary_stream
            if inspect.isasyncgenfunction(behavior):
                async for response in behavior(argument, context):
                    await context.write(response)
            else:
                await behavior(argument, context)
        else:
            behavior = handler.stream_unary if handler.request_streaming else handler.unary_unary
            response = await behavior(argument, context)
            await context.write(response)
    except grpc.aio.AbortError:
        pass  # the status is in the context
    except (asyncio.CancelledError, ConnectionError):
        raise  # the client went away (or the deadline passed): the caller decides
    except DomainError as exc:
        _fail(context, to_rpc_status(exc))
    except Exception:
        log.exception("internal error in an in-process call")
        _fail(context, internal_status("internal error; see the server log"))


def _fail(context: CallContext, status: grpc.Status) -> None:
    context.set_code(status.code)
    context.set_details(status.details)
    context.set_trailing_metadata(tuple(status.trailing_metadata))
