"""Reconnect timing shared by watchers and reporters: exponential, jittered, with a budget."""

from __future__ import annotations

import dataclasses
import random
import time

import grpc

# Codes after which trying again can succeed without the caller changing anything: the server
# restarted or is draining (UNAVAILABLE), or cut a slow watcher / rate-limited a burst
# (RESOURCE_EXHAUSTED). Everything else is the caller's to fix.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        # A slow commit, or a proxy resetting the stream ("RST_STREAM", "stream removed").
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
# Answers about the request itself or the caller's rights: trying again cannot help.
PERMANENT = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.ALREADY_EXISTS,
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Delays of ``initial * multiplier**n`` capped at ``maximum``, with full jitter.

    ``give_up_after`` bounds the time spent failing in a row (``None``: forever); a success
    resets it. Jitter spreads the reconnects of many clients after a server restart.
    """

    initial: float = 0.05
    maximum: float = 2.0
    multiplier: float = 2.0
    give_up_after: float | None = 60.0

    def start(self) -> Attempts:
        return Attempts(self)


class Attempts:
    """One run of consecutive failures."""

    def __init__(self, policy: Backoff) -> None:
        self.policy = policy
        self.failures = 0
        self.first_failure: float | None = None

    def reset(self) -> None:
        self.failures = 0
        self.first_failure = None

    def next_delay(self) -> float | None:
        """Seconds to wait before the next try, or None when the budget is spent."""
        now = time.monotonic()
        if self.first_failure is None:
            self.first_failure = now
        budget = self.policy.give_up_after
        if budget is not None and now - self.first_failure >= budget:
            return None
        cap = min(self.policy.maximum, self.policy.initial * self.policy.multiplier**self.failures)
        self.failures += 1
        delay = random.uniform(cap / 2, cap)
        if budget is not None:
            delay = min(delay, max(0.0, self.first_failure + budget - now))
        return delay
