"""A budget of events read but not yet committed, shared by every ReportProgress stream.

A stream takes its report's events from the budget before it reads the next message and
gives them back once the commit answered. When the budget is spent the server stops
reading: the sidecars' HTTP/2 windows fill and their writes wait, so what the server holds
unacknowledged stays bounded in events (and so in time, at the commit rate) instead of
growing with transport buffers. Waiters are served in arrival order, so a busy stream
cannot starve a quiet one; a report larger than the whole budget goes alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class IntakeBudget:
    """See the module docstring; ``limit`` events in flight at most (one report may exceed it)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the intake budget must be at least 1 event")
        self.limit = limit
        self.in_flight = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _fits(self, events: int) -> bool:
        return self.in_flight == 0 or self.in_flight + events <= self.limit

    async def acquire(self, events: int) -> None:
        """Wait until ``events`` fit, behind anyone already waiting."""
        if not self._waiters and self._fits(events):
            self.in_flight += events
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (events, future)
        self._waiters.append(waiter)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release(events)  # granted just as it was cancelled: give it back
            else:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                self._wake()
            raise

    def release(self, events: int) -> None:
        """Give back what a committed (or refused) report took."""
        self.in_flight -= events
        if self.in_flight < 0:
            raise RuntimeError("intake budget released more than was acquired")
        self._wake()

    def release_after(self, future: asyncio.Future[Any], events: int) -> None:
        """Give ``events`` back when ``future`` (a report's commit) is done, whatever its end."""

        def release(_: asyncio.Future[Any]) -> None:
            self.release(events)

        future.add_done_callback(release)

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and (waiters[0][1].done() or self._fits(waiters[0][0])):
            events, future = waiters.popleft()
            if future.done():  # cancelled, its task not yet resumed: nothing to grant
                continue
            self.in_flight += events
            future.set_result(None)

    @property
    def waiting(self) -> int:
        """Streams waiting to read their next report (a gauge for operators)."""
        return len(self._waiters)
