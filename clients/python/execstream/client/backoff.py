"""Reconnect timing shared by watchers and reporters: exponential, jittered, with a budget.

The numbers come from the shared retry table (``service_config.json``: 1 s initial, x1.6,
120 s cap) with +-20 % jitter, as every execstream client uses them. Long-lived loops (a
watch, a reporter) are not bounded by the table's ``maxAttempts``, which counts the tries
of one call, but by ``give_up_after``: the time spent failing in a row.
"""

from __future__ import annotations

import dataclasses
import random
import time

from .service_config import JITTER, retry_policy

_TABLE = retry_policy("WatchExecution")
# How long a watch or a reporter keeps failing in a row before it gives up: a server restart
# or a rolling upgrade fits well inside it.
DEFAULT_GIVE_UP_AFTER = 60.0


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Delays of ``initial * multiplier**n`` capped at ``maximum``, each +-``jitter``.

    ``give_up_after`` bounds the time spent failing in a row (``None``: forever); a success
    resets it. Jitter spreads the reconnects of many clients after a server restart.
    """

    initial: float = _TABLE.initial
    maximum: float = _TABLE.maximum
    multiplier: float = _TABLE.multiplier
    jitter: float = JITTER
    give_up_after: float | None = DEFAULT_GIVE_UP_AFTER

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (1 for the first)."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** max(0, failures - 1))
        return ceiling * random.uniform(1 - self.jitter, 1 + self.jitter)

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

    def next_delay(self, at_least: float = 0.0) -> float | None:
        """Seconds to wait before the next try, or None when the budget is spent.

        ``at_least`` is a wait the server asked for (``RetryInfo``); it wins when longer.
        """
        now = time.monotonic()
        if self.first_failure is None:
            self.first_failure = now
        budget = self.policy.give_up_after
        if budget is not None and now - self.first_failure >= budget:
            return None
        self.failures += 1
        delay = max(self.policy.delay(self.failures), at_least)
        if budget is not None:
            delay = min(delay, max(0.0, self.first_failure + budget - now))
        return delay
