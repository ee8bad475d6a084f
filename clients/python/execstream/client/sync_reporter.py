"""The blocking reporter: the asyncio reporter on a private event-loop thread.

One implementation of batching, acknowledgement and resync serves both flavours; the sync
one only hops events onto the loop thread, in the order the caller produced them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import grpc.aio

from execstream.v1 import events_pb2 as events_pb

from .backoff import Backoff
from .errors import ExecstreamError, translate
from .options import ConnectOptions
from .reporter import DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_BATCH, AsyncReporter
from .task import TaskReporter

T = TypeVar("T")


class Reporter:
    """``with client.reporter("sidecar-1") as r: t = r.task("t1"); t.started(...)``."""

    def __init__(
        self,
        options: ConnectOptions,
        sidecar_id: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        backoff: Backoff | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"reporter-{sidecar_id}", daemon=True
        )
        self._inner = AsyncReporter(
            options,
            sidecar_id,
            max_batch=max_batch,
            flush_interval=flush_interval,
            backoff=backoff,
        )
        self._tasks: dict[str, TaskReporter] = {}
        self._lock = threading.Lock()  # handles, and closing versus queueing
        self._closed = False
        self.sidecar_id = sidecar_id

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the reporter is not started (use it as a context manager)")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __enter__(self) -> Reporter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(flush=exc_type is None or not issubclass(exc_type, ExecstreamError))

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()
            self._call(self._inner.start())

    def close(self, *, flush: bool = True) -> None:
        """Send what is queued (unless ``flush=False``), then stop the loop thread.

        Events queued from other threads after close began are refused, not dropped.
        """
        with self._lock:
            self._closed = True
        if not self._thread.is_alive():
            return
        try:
            self._call(self._inner.close(flush=flush))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def flush(self) -> None:
        """Block until every queued event is committed; raise what stopped the reporter."""
        self._call(self._inner.flush())

    def task(self, task_id: str, *, next_seq: int = 1) -> TaskReporter:
        with self._lock:
            handle = self._tasks.get(task_id)
            if handle is None:
                handle = TaskReporter(task_id, self.sidecar_id, self._enqueue, next_seq)
                self._tasks[task_id] = handle
            return handle

    def resume_task(self, task_id: str) -> TaskReporter:
        """A handle that continues after the task's last committed seq (a restarted sidecar)."""
        if self.has_task(task_id):
            self.flush()  # the snapshot must not miss events still in flight
        try:
            last = self._call(self._inner.last_seqs([task_id]))
        except grpc.aio.AioRpcError as error:
            raise translate(self._inner.options.target, error) from None
        with self._lock:
            resumed = TaskReporter(
                task_id, self.sidecar_id, self._enqueue, last.get(task_id, 0) + 1
            )
            self._tasks[task_id] = resumed
            return resumed

    def _enqueue(self, event: events_pb.ExecutionEvent) -> None:
        failure = self._inner.failure
        if failure is not None:
            raise failure
        with self._lock:
            if self._closed:
                raise ExecstreamError("the reporter is closed: the event was not queued")
            if not self._thread.is_alive():
                raise RuntimeError("the reporter is not started (use it as a context manager)")
            self._loop.call_soon_threadsafe(self._inner._enqueue_quiet, event)

    def has_task(self, task_id: str) -> bool:
        return task_id in self._tasks

    @property
    def last_revision(self) -> int:
        """The highest revision the server reported for this reporter's commits."""
        return self._inner.last_revision

    @property
    def committed(self) -> int:
        return self._inner.committed

    @property
    def committed_seqs(self) -> dict[str, int]:
        """Each task's last seq the server said it has committed (a copy)."""
        return dict(self._inner.committed_seqs)

    @property
    def stored(self) -> int:
        """Events the server stored for this reporter (new ones)."""
        return self._inner.stored

    @property
    def duplicates(self) -> int:
        """Events the server acknowledged as already stored, and did not store again."""
        return self._inner.duplicates

    @property
    def pending(self) -> int:
        return self._inner.pending
