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

from execstream.v1 import events_pb2 as pb

from .backoff import Backoff
from .errors import ExecstreamError
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
        self.sidecar_id = sidecar_id

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
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
        """Send what is queued (unless ``flush=False``), then stop the loop thread."""
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
        handle = self._tasks.get(task_id)
        if handle is None:
            handle = TaskReporter(task_id, self.sidecar_id, self._enqueue, next_seq)
            self._tasks[task_id] = handle
        return handle

    def resume_task(self, task_id: str) -> TaskReporter:
        """A handle that continues after the task's last committed seq (a restarted sidecar)."""
        last = self._call(self._inner.last_seqs([task_id]))
        self._tasks.pop(task_id, None)
        return self.task(task_id, next_seq=last.get(task_id, 0) + 1)

    def _enqueue(self, event: pb.ExecutionEvent) -> None:
        failure = self._inner.failure
        if failure is not None:
            raise failure
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
    def pending(self) -> int:
        return self._inner.pending
