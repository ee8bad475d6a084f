"""Resumable watching: reconnect after a drop and continue exactly after the last revision.

The cursor is the highest revision delivered to the caller, or announced by a Progress
(everything matching the watch up to it was sent). Resuming with ``after_revision =
cursor`` therefore neither repeats nor skips an event. A live watch learns where it starts
from the stream's first message, a Progress the server sends at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import grpc
import grpc.aio

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .backoff import RETRYABLE, Backoff
from .errors import ResyncRequired, code_of, details_of, refused, unreachable
from .options import ConnectOptions
from .snapshot import SnapshotQuery, async_snapshot, sync_snapshot

OnRelist = Callable[[service_pb.Snapshot], None]


class WatchCursor:
    """The request to (re)open with, and how far the caller has been served."""

    def __init__(
        self,
        *,
        task_ids: Sequence[str] = (),
        sidecar_ids: Sequence[str] = (),
        kinds: Sequence[events_pb.EventKind.ValueType] = (),
        after_revision: int | None = None,
    ) -> None:
        self.task_ids = list(task_ids)
        self.sidecar_ids = list(sidecar_ids)
        self.kinds = list(kinds)
        self.revision = after_revision  # None: live from wherever the server is
        self.needs_relist = False  # the resume point was compacted away: snapshot first

    def request(self) -> service_pb.WatchExecutionRequest:
        request = service_pb.WatchExecutionRequest(
            task_ids=self.task_ids, sidecar_ids=self.sidecar_ids, kinds=self.kinds
        )
        if self.revision is not None:
            request.after_revision = self.revision
        return request

    def accept(self, response: service_pb.WatchExecutionResponse) -> list[events_pb.ExecutionEvent]:
        """The response's events the caller has not seen; advances the cursor."""
        fresh = [e for e in response.events if self.revision is None or e.revision > self.revision]
        if fresh:
            self.revision = fresh[-1].revision
        if response.HasField("progress"):
            self.revision = max(self.revision or 0, response.progress.revision)
        return fresh

    def relisted(self, snapshot: service_pb.Snapshot, on_relist: OnRelist) -> None:
        on_relist(snapshot)
        self.revision = snapshot.revision
        self.needs_relist = False


def _failed(
    cursor: WatchCursor, error: grpc.RpcError, target: str, on_relist: OnRelist | None
) -> bool:
    """Classify a broken watch: True to relist, False to reconnect; raise to give up."""
    code = code_of(error)
    if code == grpc.StatusCode.OUT_OF_RANGE:
        if on_relist is None:
            raise ResyncRequired(cursor.revision or 0, details_of(error)) from None
        cursor.needs_relist = True
        return True
    if code not in RETRYABLE:
        raise refused(error) from None
    return False


def sync_watch(
    options: ConnectOptions,
    cursor: WatchCursor,
    *,
    backoff: Backoff,
    on_relist: OnRelist | None = None,
) -> Iterator[events_pb.ExecutionEvent]:
    attempts = backoff.start()
    with options.channel() as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        while True:
            try:
                if cursor.needs_relist and on_relist is not None:
                    query = SnapshotQuery(task_ids=cursor.task_ids)
                    cursor.relisted(sync_snapshot(stub, options, query), on_relist)
                for response in stub.WatchExecution(cursor.request(), metadata=options.metadata):
                    attempts.reset()
                    yield from cursor.accept(response)
                error: grpc.RpcError | None = None  # the server ended the stream (draining)
            except grpc.RpcError as exc:
                if _failed(cursor, exc, options.target, on_relist):
                    continue
                error = exc
            delay = attempts.next_delay()
            if delay is None:
                raise _gave_up(options, error)
            time.sleep(delay)


async def async_watch(
    options: ConnectOptions,
    cursor: WatchCursor,
    *,
    backoff: Backoff,
    on_relist: OnRelist | None = None,
) -> AsyncIterator[events_pb.ExecutionEvent]:
    attempts = backoff.start()
    async with options.aio_channel() as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        while True:
            try:
                if cursor.needs_relist and on_relist is not None:
                    query = SnapshotQuery(task_ids=cursor.task_ids)
                    cursor.relisted(await async_snapshot(stub, options, query), on_relist)
                call = stub.WatchExecution(cursor.request(), metadata=options.metadata)
                async for response in call:
                    attempts.reset()
                    for event in cursor.accept(response):
                        yield event
                error: grpc.RpcError | None = None
            except grpc.aio.AioRpcError as exc:
                if _failed(cursor, exc, options.target, on_relist):
                    continue
                error = exc
            delay = attempts.next_delay()
            if delay is None:
                raise _gave_up(options, error)
            await asyncio.sleep(delay)


def _gave_up(options: ConnectOptions, error: grpc.RpcError | None) -> Exception:
    if error is None:
        from .errors import Unreachable

        return Unreachable(options.target, "the server keeps ending the stream")
    return unreachable(options.target, error)
