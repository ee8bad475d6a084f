"""A server interceptor recording go-grpc-prometheus style metrics for every RPC.

Wraps each handler once per RPC: counts started/handled (with the final status code),
messages in both directions, and handling time. Handlers that write with ``context.write``
(WatchExecution, health Watch) get a context proxy whose ``write`` counts.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc

from execstream_server.transport.methods import GO_CODE_NAMES, declared_type
from execstream_server.transport.metrics import GrpcMetrics


class _CountingContext:
    """Delegates to the real context; counts ``write`` calls."""

    def __init__(self, context: Any, on_write: Callable[[], None]) -> None:
        self._context = context
        self._on_write = on_write

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._on_write()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _final_code(context: Any, exc: BaseException | None) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if code is None or isinstance(code, int):
        return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN
    return cast(grpc.StatusCode, code)


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """See the module docstring."""

    def __init__(self, metrics: GrpcMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method  # "/package.Service/Method"
        service, _, name = method.lstrip("/").rpartition("/")
        rpc_type = declared_type(
            method,
            request_streaming=handler.request_streaming,
            response_streaming=handler.response_streaming,
        )
        labels = (rpc_type, service, name)
        return _wrap(handler, self._metrics, labels)


def _wrap(handler: grpc.RpcMethodHandler, m: GrpcMetrics, labels: tuple[str, str, str]) -> Any:
    sent = m.sent.labels(*labels)
    received = m.received.labels(*labels)

    async def observe(run: Callable[[Any], Awaitable[Any]], context: Any) -> Any:
        m.started.labels(*labels).inc()
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            return await run(_CountingContext(context, sent.inc))
        except BaseException as exc:
            error = exc
            raise
        finally:
            code = _final_code(context, error)
            m.handled.labels(*labels, GO_CODE_NAMES.get(code, "Unknown")).inc()
            m.seconds.labels(*labels).observe(time.perf_counter() - start)

    async def count_requests(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            received.inc()
            yield request

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if not handler.request_streaming and not handler.response_streaming:
        behavior = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            received.inc()

            async def run(ctx: Any) -> Any:
                response = await behavior(request, ctx)
                sent.inc()
                return response

            return await observe(run, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.request_streaming and not handler.response_streaming:
        client_stream = handler.stream_unary

        async def stream_unary(requests: AsyncIterator[Any], context: Any) -> Any:
            async def run(ctx: Any) -> Any:
                response = await client_stream(count_requests(requests), ctx)
                sent.inc()
                return response

            return await observe(run, context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    streaming = handler.unary_stream if not handler.request_streaming else handler.stream_stream

    async def stream_out(request: Any, context: Any) -> None:
        if handler.request_streaming:
            request = count_requests(request)
        else:
            received.inc()

        async def run(ctx: Any) -> None:
            if inspect.isasyncgenfunction(streaming):
                async for response in streaming(request, ctx):
                    await ctx.write(response)
            else:
                await streaming(request, ctx)

        await observe(run, context)

    if handler.request_streaming:
        return grpc.stream_stream_rpc_method_handler(stream_out, **kwargs)
    return grpc.unary_stream_rpc_method_handler(stream_out, **kwargs)
