"""Per-sidecar token buckets for events per second, sized for streaming.

A report is charged its event count. A report holding a ``finished`` event is always let
through, its charge taken as debt: rate-limiting a terminal event would leave the task
hanging forever. Refusals carry the wait after which the report fits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class EventRateLimiter:
    """Token bucket per sidecar id; ``rate`` 0 disables limiting."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_idle_buckets: int = 100_000,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._max_buckets = max_idle_buckets

    def _bucket(self, sidecar_id: str, now: float) -> _Bucket:
        bucket = self._buckets.get(sidecar_id)
        if bucket is None:
            if len(self._buckets) >= self._max_buckets:
                self._evict_full(now)
            bucket = self._buckets[sidecar_id] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def _evict_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: forgetting them changes nothing."""
        for key in [
            k
            for k, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
        ]:
            del self._buckets[key]

    def acquire(self, sidecar_id: str, events: int, *, terminal: bool) -> float:
        """Charge ``events``; return 0 when allowed, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        bucket = self._bucket(sidecar_id, now)
        if (
            terminal
            or bucket.tokens >= events
            or (events > self.burst and bucket.tokens >= self.burst)
        ):
            bucket.tokens -= events
            return 0.0
        return (min(events, self.burst) - bucket.tokens) / self.rate
