"""Resumable watching: reconnect after a drop and continue exactly after the last revision.

The loops here open a stream, feed its responses through the watch's cursor (``cursor``:
what was delivered, the log, a re-list) and, when the stream breaks, do what the shared
retry rules say: reconnect after a backoff, resume at once, re-list, or raise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator

import grpc
import grpc.aio

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2_grpc

from .backoff import Backoff
from .cursor import NOW, OnRelist, ServerTraits, WatchCursor
from .errors import ResyncRequired, Unreachable, status_of
from .options import ConnectOptions
from .snapshot import SnapshotQuery, async_page, async_snapshot, sync_page, sync_snapshot

__all__ = ["AsyncWatch", "OnRelist", "ServerTraits", "Watch", "WatchCursor"]


def _give_up(target: str, error: grpc.RpcError | None) -> Unreachable:
    status = status_of(error) if error is not None else None
    reason = status.message if status is not None else "it keeps ending the stream"
    first = reason.strip().splitlines()[0] if reason.strip() else "unavailable"
    return Unreachable(target, first, status)


def sync_events(
    options: ConnectOptions, cursor: WatchCursor, backoff: Backoff, on_relist: OnRelist | None
) -> Generator[events_pb.ExecutionEvent]:
    attempts = backoff.start()
    with options.channel() as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        while True:
            error: grpc.RpcError | None = None
            wait: float | None = 0.0
            try:
                if cursor.needs_relist and on_relist is not None:
                    query = SnapshotQuery(task_ids=cursor.task_ids)
                    cursor.relisted(sync_snapshot(stub, options, query), on_relist)
                if cursor.needs_pin:
                    cursor.pinned(sync_page(stub, options, NOW))
                for response in stub.WatchExecution(cursor.request(), metadata=options.metadata):
                    attempts.reset()
                    yield from cursor.accept(response)
            except grpc.RpcError as exc:
                error, wait = exc, cursor.failed(exc, on_relist)
            except ResyncRequired as exc:
                cursor.relist_or_raise(exc, on_relist)
                wait = None
            if wait is None:
                continue  # re-list, or resume a watcher the server cut for being slow
            delay = attempts.next_delay(at_least=wait)
            if delay is None:
                raise _give_up(options.target, error)
            time.sleep(delay)


async def async_events(
    options: ConnectOptions, cursor: WatchCursor, backoff: Backoff, on_relist: OnRelist | None
) -> AsyncGenerator[events_pb.ExecutionEvent]:
    attempts = backoff.start()
    async with options.aio_channel() as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        while True:
            error: grpc.RpcError | None = None
            wait: float | None = 0.0
            call = None
            try:
                if cursor.needs_relist and on_relist is not None:
                    query = SnapshotQuery(task_ids=cursor.task_ids)
                    cursor.relisted(await async_snapshot(stub, options, query), on_relist)
                if cursor.needs_pin:
                    cursor.pinned(await async_page(stub, options, NOW))
                call = stub.WatchExecution(cursor.request(), metadata=options.metadata)
                async for response in call:
                    attempts.reset()
                    for event in cursor.accept(response):
                        yield event
            except grpc.aio.AioRpcError as exc:
                error, wait = exc, cursor.failed(exc, on_relist)
            except ResyncRequired as exc:
                cursor.relist_or_raise(exc, on_relist)
                wait = None
            finally:
                if call is not None:
                    call.cancel()
            if wait is None:
                continue  # re-list, or resume a watcher the server cut for being slow
            delay = attempts.next_delay(at_least=wait)
            if delay is None:
                raise _give_up(options.target, error)
            await asyncio.sleep(delay)


class Watch:
    """A resumable watch: iterate it for events (once); ``revision`` is where it stands."""

    def __init__(
        self,
        options: ConnectOptions,
        cursor: WatchCursor,
        *,
        backoff: Backoff,
        on_relist: OnRelist | None = None,
    ) -> None:
        self.cursor = cursor
        self._events = sync_events(options, cursor, backoff, on_relist)

    def __iter__(self) -> Iterator[events_pb.ExecutionEvent]:
        return self._events

    def __next__(self) -> events_pb.ExecutionEvent:
        return next(self._events)

    @property
    def revision(self) -> int | None:
        """Everything up to this revision was delivered (None: a live watch not yet open)."""
        return self.cursor.revision

    @property
    def log_id(self) -> str:
        return self.cursor.log_id

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait until the watch knows its start point (another thread iterates it)."""
        return self.cursor.started.wait(timeout)

    def close(self) -> None:
        self._events.close()


class AsyncWatch:
    """As ``Watch``, for asyncio: ``async for event in watch``."""

    def __init__(
        self,
        options: ConnectOptions,
        cursor: WatchCursor,
        *,
        backoff: Backoff,
        on_relist: OnRelist | None = None,
    ) -> None:
        self.cursor = cursor
        self._events = async_events(options, cursor, backoff, on_relist)

    def __aiter__(self) -> AsyncIterator[events_pb.ExecutionEvent]:
        return self._events

    async def __anext__(self) -> events_pb.ExecutionEvent:
        return await anext(self._events)

    @property
    def revision(self) -> int | None:
        """Everything up to this revision was delivered (None: a live watch not yet open)."""
        return self.cursor.revision

    @property
    def log_id(self) -> str:
        return self.cursor.log_id

    async def wait_started(self) -> None:
        """Wait until the watch knows its start point (another task iterates it)."""
        if self.cursor.started.is_set():
            return
        started = asyncio.Event()
        self.cursor.on_started.append(started.set)  # called on this loop, by the iteration
        await started.wait()

    async def aclose(self) -> None:
        await self._events.aclose()
