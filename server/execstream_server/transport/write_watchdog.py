"""Ends watch writes that a peer leaves unread too long, with one sweep instead of a timer each.

A timer per write (``asyncio.timeout``) schedules and cancels a loop timer for every response
to every watcher: with thousands of watchers that was an eighth of the event loop's time. The
watchdog instead notes when each write started and, a few times per timeout, cancels the
writes older than the timeout. ``write`` turns that cancellation into ``TimeoutError`` (any
other cancellation passes through), so a slow watcher ends after at least the timeout and at
most a quarter more.

The sweep only ever sees a task suspended in its write: ``write`` registers the task right
before awaiting and removes it right after, with no suspension point in between.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable


class WriteWatchdog:
    """See the module docstring; one per server, shared by every watch stream."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._period_s = timeout_s / 4
        self._started: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def write(self, write: Awaitable[object]) -> None:
        """Await ``write``; raise TimeoutError when it is still pending past the timeout."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        self._started[task] = loop.time()
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep(), name="watch-write-watchdog")
        try:
            await write
        except asyncio.CancelledError:
            if task in self._expired:
                self._expired.discard(task)
                task.uncancel()
                raise TimeoutError from None
            raise
        finally:
            del self._started[task]
            if task in self._expired:  # the write swallowed the cancellation and finished
                self._expired.discard(task)
                task.uncancel()

    async def close(self) -> None:
        """Stop the sweep (the server stopped; its writes were cancelled with their streams)."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    @property
    def pending(self) -> int:
        """Writes in progress (for tests and metrics)."""
        return len(self._started)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._started:
                await asyncio.sleep(self._period_s)
                deadline = loop.time() - self.timeout_s
                for task, started in list(self._started.items()):
                    if started <= deadline and task not in self._expired:
                        self._expired.add(task)
                        task.cancel()
        finally:
            if self._sweeper is asyncio.current_task():
                self._sweeper = None
