"""Token buckets for events per second, per sidecar and per bearer token, sized for streaming.

Every event of every kind is charged. A report is let through when each of its buckets
holds its event count (a report larger than the burst, when the bucket is full). A report
that finishes a task may also borrow: it passes while its buckets stay above minus one
burst (the debt bound), because rate-limiting a terminal event would leave the task
hanging. The debt is repaid at the refill rate before anything
else passes, so finishing never lifts the sustained rate: over any span T a bucket lets
through at most ``burst + debt + rate * T`` events, whatever the mix of kinds.

Refusals carry the wait after which the report fits, and which bucket refused it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True, slots=True)
class RateDecision:
    """``wait`` 0 means allowed; otherwise the seconds to wait and the bucket that refused."""

    wait: float
    key: str = ""


class EventRateLimiter:
    """Token buckets keyed by any string (``sidecar:ID``, ``token:HASH``); ``rate`` 0 disables."""

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
        self.debt = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._max_buckets = max_idle_buckets

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_buckets:
                self._evict_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
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

    def _wait(self, bucket: _Bucket, events: int, terminal: bool) -> float:
        """Seconds until ``bucket`` lets ``events`` through (0: now)."""
        needed = min(float(events), self.burst)  # a report above the burst needs a full bucket
        wait = max(0.0, needed - bucket.tokens) / self.rate
        if terminal:  # or borrow, down to minus the debt bound
            wait = min(wait, max(0.0, events - self.debt - bucket.tokens) / self.rate)
        return wait

    def acquire(self, keys: Sequence[str], events: int, *, terminal: bool) -> RateDecision:
        """Charge ``events`` to every bucket in ``keys``, or to none and say how long to wait."""
        if self.rate <= 0:
            return RateDecision(0.0)
        now = self._clock()
        buckets = [self._bucket(key, now) for key in keys]
        waits = [self._wait(bucket, events, terminal) for bucket in buckets]
        longest = max(waits, default=0.0)
        if longest > 0:
            return RateDecision(longest, keys[waits.index(longest)])
        for bucket in buckets:
            bucket.tokens -= events
        return RateDecision(0.0)
