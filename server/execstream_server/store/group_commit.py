"""The queue in front of a store's single writer: reports wait here and commit in groups.

Both stores commit whatever reports queued up while the previous commit ran, in one
transaction (SQLite) or one script call (Redis), so a burst of sidecars costs one fsync,
not one each. The queue is bounded: when the writer falls behind, ``submit`` waits, which
pushes back on the sidecars' streams instead of growing memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from execstream.v1 import events_pb2 as events_pb

from execstream_server.domain.errors import ShuttingDownError
from execstream_server.store.base import AppendResult


@dataclass(slots=True)
class Submission:
    """One report waiting for a group commit; ``future`` gets its answer."""

    sidecar_id: str
    events: Sequence[events_pb.ExecutionEvent]
    future: asyncio.Future[AppendResult]


class SubmissionQueue:
    def __init__(self, max_queued: int) -> None:
        self._queue: asyncio.Queue[Submission | None] = asyncio.Queue(max_queued)

    async def submit(
        self, sidecar_id: str, events: Sequence[events_pb.ExecutionEvent]
    ) -> AppendResult:
        """Queue a report and wait for the answer of the commit that took it."""
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(Submission(sidecar_id, events, future))
        return await future

    async def groups(self, max_events: int) -> AsyncIterator[list[Submission]]:
        """Each group: the next report and those queued behind it, up to ``max_events``.

        Ends after the group in which ``close`` was seen.
        """
        queue = self._queue
        while True:
            first = await queue.get()
            if first is None:
                return
            group, count = [first], len(first.events)
            closing = False
            while count < max_events and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    closing = True
                    break
                group.append(more)
                count += len(more.events)
            yield group
            if closing:
                return

    def fail_queued(self, error: Exception) -> None:
        """Answer every queued report with ``error`` (the writer stopped for good)."""
        while not self._queue.empty():
            leftover = self._queue.get_nowait()
            if leftover is not None and not leftover.future.done():
                leftover.future.set_exception(error)

    async def close(self, writer: asyncio.Task[None]) -> None:
        """Let the writer finish what was queued before this, then fail anything after."""
        if writer.done():  # it stopped after a failure: nobody would take the marker
            self.fail_queued(ShuttingDownError())
            return
        await self._queue.put(None)
        await writer
        self.fail_queued(ShuttingDownError())
