"""Resumable watching: reconnect after a drop and continue exactly after the last revision.

The cursor is the highest revision delivered to the caller, or announced by a ``Progress``
(everything matching the watch up to it was sent). Every watch opens with a Progress naming
the revision it starts after, so even a live watch ("from now") has an exact start point
before any event: resuming with ``after_revision = cursor`` neither repeats nor skips one.
A server that does not open with a Progress (an older one) is remembered per client, and
later live watches pin "now" with a snapshot before opening instead.

The Progress also names the log (``log_id``). A watch that sees it change, or whose resume
point the server refuses (OUT_OF_RANGE: compacted, or beyond the head), cannot resume: it
raises ``ResyncRequired``, or re-lists through ``on_relist``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Sequence

import grpc
import grpc.aio

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .backoff import Backoff
from .errors import LOG_ID_CHANGED, ResyncRequired, ServerRefused, Unreachable, status_of
from .options import ConnectOptions
from .retrying import Action, decide
from .snapshot import SnapshotQuery, async_snapshot, sync_snapshot

OnRelist = Callable[[service_pb.Snapshot], None]
_NOW = service_pb.GetSnapshotRequest(page_size=1)


class ServerTraits:
    """What a client learned about its server: does a watch open with a Progress?"""

    def __init__(self) -> None:
        self.opens_with_progress: bool | None = None  # None: not known yet


class WatchCursor:
    """The request to (re)open with, and how far the caller has been served."""

    def __init__(
        self,
        *,
        task_ids: Sequence[str] = (),
        sidecar_ids: Sequence[str] = (),
        kinds: Sequence[events_pb.EventKind.ValueType] = (),
        after_revision: int | None = None,
        log_id: str = "",
        traits: ServerTraits | None = None,
    ) -> None:
        self.task_ids = list(task_ids)
        self.sidecar_ids = list(sidecar_ids)
        self.kinds = list(kinds)
        self.revision = after_revision  # None: live, until the first Progress says from where
        self.log_id = log_id  # the log this watch is on ("" until a Progress names it)
        self.caught_up = False  # the replay (if any) is complete and the stream is live
        self.traits = traits or ServerTraits()
        self.needs_relist = False
        self.started = threading.Event()  # the start point is known
        self.on_started: list[Callable[[], None]] = []
        self._fresh_stream = False
        if after_revision is not None:
            self.started.set()

    def _mark_started(self) -> None:
        if not self.started.is_set():
            self.started.set()
            for callback in self.on_started:
                callback()

    def request(self) -> service_pb.WatchExecutionRequest:
        self._fresh_stream = True
        request = service_pb.WatchExecutionRequest(
            task_ids=self.task_ids, sidecar_ids=self.sidecar_ids, kinds=self.kinds
        )
        if self.revision is not None:
            request.after_revision = self.revision
        return request

    @property
    def needs_pin(self) -> bool:
        """A live watch on a server known not to open with a Progress: pin "now" first."""
        return self.revision is None and self.traits.opens_with_progress is False

    def pinned(self, snapshot: service_pb.Snapshot) -> None:
        self.revision = snapshot.revision
        self.log_id = self.log_id or snapshot.log_id
        self._mark_started()

    def accept(self, response: service_pb.WatchExecutionResponse) -> list[events_pb.ExecutionEvent]:
        """The response's events the caller has not seen; advances the cursor."""
        has_progress = response.HasField("progress")
        if self._fresh_stream:
            self._fresh_stream = False
            self.traits.opens_with_progress = has_progress
        if has_progress:
            self._check_log(response.progress.log_id)
            self.caught_up = self.caught_up or response.progress.caught_up
        fresh = [e for e in response.events if self.revision is None or e.revision > self.revision]
        if fresh:
            self.revision = fresh[-1].revision
        if has_progress:
            self.revision = max(self.revision or 0, response.progress.revision)
        if self.revision is not None:
            self._mark_started()
        return fresh

    def _check_log(self, log_id: str) -> None:
        if not log_id:
            return
        if self.log_id and log_id != self.log_id:
            raise ResyncRequired(
                self.revision or 0,
                LOG_ID_CHANGED,
                f"the server's log is now {log_id}, not {self.log_id}",
            )
        self.log_id = log_id

    def relisted(self, snapshot: service_pb.Snapshot, on_relist: OnRelist) -> None:
        on_relist(snapshot)
        self.revision = snapshot.revision
        self.log_id = snapshot.log_id
        self.needs_relist = False
        self._mark_started()

    def failed(self, error: grpc.RpcError, on_relist: OnRelist | None) -> float | None:
        """Classify a broken stream: the least wait before reconnecting (None: reconnect at
        once, without backing off); raise to give up."""
        status = status_of(error)
        decision = decide("WatchExecution", status)
        if decision.action is Action.RETRY:
            return decision.wait
        if decision.action is Action.RESUME:
            resume = decision.resume_revision
            self.revision = resume if self.revision is None else min(self.revision, resume or 0)
            return None
        if decision.action is Action.RELIST:
            self.relist_or_raise(
                ResyncRequired(self.revision or 0, status.reason, status.message, status),
                on_relist,
            )
            return None
        raise ServerRefused(status) from None

    def relist_or_raise(self, exc: ResyncRequired, on_relist: OnRelist | None) -> None:
        if on_relist is None:
            raise exc
        self.needs_relist = True


def _give_up(target: str, error: grpc.RpcError | None) -> Unreachable:
    reason = status_of(error).message if error is not None else "it keeps ending the stream"
    return Unreachable(target, reason.strip().splitlines()[0] if reason.strip() else "unavailable")


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
                    cursor.pinned(stub.GetSnapshot(_NOW, metadata=options.metadata, timeout=30))
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
                    now = await stub.GetSnapshot(_NOW, metadata=options.metadata, timeout=30)
                    cursor.pinned(now)
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
