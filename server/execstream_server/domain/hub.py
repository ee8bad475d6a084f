"""Fan-out of committed batches to watchers, without ever waiting on one.

``publish`` runs on the event loop right after a batch is folded and only appends to each
watcher's bounded queue. A watcher whose queue would pass its byte bound is marked
``overflowed`` and its queue dropped: its own handler then catches up from the log and
rejoins live (``watch.WatchSession``), so a slow reader costs memory up to the bound and
never delays ingest or the others. Queued batches are shared by every watcher, so live
watchers together hold at most one queue bound of batches; what each holds on its own is a
catch-up page, and ``catch_up_budget`` bounds those across all watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from execstream_server.domain.records import CommittedBatch


@dataclass(frozen=True, slots=True)
class WatchFilter:
    """Which events a watcher wants; ``None`` means any. Hashable: equal filters share frames."""

    task_ids: frozenset[str] | None = None
    sidecar_ids: frozenset[str] | None = None
    kinds: frozenset[int] | None = None

    @property
    def matches_all(self) -> bool:
        return self.task_ids is None and self.sidecar_ids is None and self.kinds is None


class Watcher:
    """One subscriber: its filter, its queue of batches and the revision it went live at."""

    __slots__ = ("closing", "filter", "live_from", "overflowed", "queue", "queued_bytes", "wake")

    def __init__(self, watch_filter: WatchFilter, live_from: int) -> None:
        self.filter = watch_filter
        self.live_from = live_from
        self.queue: deque[CommittedBatch] = deque()
        self.queued_bytes = 0
        self.overflowed = False
        self.closing = False
        self.wake = asyncio.Event()

    def take(self) -> list[CommittedBatch]:
        """Remove and return everything queued."""
        batches = list(self.queue)
        self.queue.clear()
        self.queued_bytes = 0
        self.wake.clear()
        return batches


class ByteBudget:
    """Bytes that watchers may hold at once; a reservation waits until there is room.

    A reservation larger than the whole budget is let through when nothing else is held,
    so a small budget slows catch-ups down but never stops them.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self.peak = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def waiting(self) -> int:
        """Reservations waiting for room."""
        return len(self._waiters)

    def _fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self.total

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        while not self._fits(size):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        self.used += size  # no await since the check: nobody took the room meanwhile
        self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            self.used -= size
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)


class Hub:
    """Holds the published revision and the watchers; see the module docstring."""

    def __init__(
        self,
        *,
        revision: int = 0,
        queue_bytes: int = 8 * 1024 * 1024,
        total_bytes: int = 256 * 1024 * 1024,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self.revision = revision
        self.queue_bytes = queue_bytes
        self.catch_up_budget = ByteBudget(total_bytes)
        self._watchers: set[Watcher] = set()
        self.closing = False
        self.on_overflow = on_overflow

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def subscribe(self, watch_filter: WatchFilter) -> Watcher:
        """Register a watcher; it receives every batch published after ``self.revision``."""
        watcher = Watcher(watch_filter, self.revision)
        watcher.closing = self.closing
        self._watchers.add(watcher)
        return watcher

    def rejoin(self, watcher: Watcher) -> None:
        """Re-arm an overflowed watcher: live again from the current revision."""
        watcher.take()
        watcher.overflowed = False
        watcher.live_from = self.revision

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
        watcher.take()

    def publish(self, batch: CommittedBatch) -> None:
        """Hand a folded batch to every watcher (never blocks; see the module docstring)."""
        self.revision = batch.last_revision
        size = batch.size_bytes
        for watcher in self._watchers:
            if watcher.overflowed:
                continue
            if watcher.queued_bytes + size > self.queue_bytes and watcher.queue:
                watcher.overflowed = True
                watcher.queue.clear()
                watcher.queued_bytes = 0
                if self.on_overflow is not None:
                    self.on_overflow()
            else:
                watcher.queue.append(batch)
                watcher.queued_bytes += size
            watcher.wake.set()

    def close(self) -> None:
        """Tell every watcher the server is stopping (each ends after a last heartbeat)."""
        self.closing = True
        for watcher in self._watchers:
            watcher.closing = True
            watcher.wake.set()
