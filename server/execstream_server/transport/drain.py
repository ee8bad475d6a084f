"""Graceful shutdown of the streams: each ends with UNAVAILABLE + SHUTTING_DOWN, none cancelled.

Left to itself, ``server.stop(grace)`` cancels whatever is still open when the grace ends,
and a client sees CANCELLED with no resume point. So the server drains first: watches end
through the hub (a last Progress, then SHUTTING_DOWN with the resume revision); a
ReportProgress waiting for its next message is woken (its read is cancelled), settles
what it submitted and ends with SHUTTING_DOWN and what it committed; a stream that
arrives while draining is refused the same way. Only then does the gRPC server stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

from execstream_server.domain.errors import ShuttingDownError

T = TypeVar("T")


class EndOfStream(Exception):
    """The client closed its side of the stream."""


class Drain:
    """Counts the open streams and ends them when the server drains."""

    def __init__(self) -> None:
        self.draining = False
        self._open = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._reading: set[asyncio.Task[object]] = set()
        self._woken: set[asyncio.Task[object]] = set()

    @property
    def open_streams(self) -> int:
        return self._open

    @contextlib.contextmanager
    def stream(self) -> Iterator[None]:
        """Count a stream while its handler runs."""
        self._open += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._open -= 1
            if not self._open:
                self._idle.set()

    async def next_request(self, requests: AsyncIterator[T]) -> T:
        """The stream's next message; EndOfStream at its end, ShuttingDownError when draining."""
        if self.draining:
            raise ShuttingDownError()
        task = asyncio.current_task()
        assert task is not None
        self._reading.add(task)
        try:
            return await anext(requests)
        except StopAsyncIteration:
            raise EndOfStream from None
        except asyncio.CancelledError:
            if task not in self._woken:
                raise
            self._woken.discard(task)
            task.uncancel()
            raise ShuttingDownError() from None
        finally:
            self._reading.discard(task)

    async def start(self, grace_s: float) -> bool:
        """Drain: wake the streams waiting for a message, wait for all to end (True if so)."""
        self.draining = True
        for task in list(self._reading):
            self._woken.add(task)
            task.cancel()
        if not self._open:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            return False
        return True
