"""Logging a background job that keeps failing: loud enough to be seen, never a flood.

Checkpoints and compaction run every few seconds and retry on their own. Logging each
failure would repeat one WARNING every interval for as long as the disk stays full; logging
only the first hides an outage that never ends. ``OutageLog`` logs the first failure of an
outage, one ERROR when it has lasted ``error_after`` attempts, then at most one line per
``repeat_s``, and one INFO line when the job passes again. ``failures`` (the attempts failed
in a row) is exported as a metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class OutageLog:
    """See the module docstring. ``what`` names the job in plural ("checkpoints")."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        consequence: str,
        error_after: int = 10,
        repeat_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._what = what
        self._consequence = consequence
        self._error_after = error_after
        self._repeat_s = repeat_s
        self._clock = clock
        self._last_logged = 0.0
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        """Count one failed attempt; log it if it starts, escalates or outlasts an outage."""
        self.failures += 1
        now = self._clock()
        if self.failures == 1:
            self._log.warning("%s are failing (%s): %s", self._what, self._consequence, exc)
        elif self.failures == self._error_after:
            self._log.error(
                "%s have failed %d times in a row (%s): %s",
                self._what,
                self.failures,
                self._consequence,
                exc,
            )
        elif self.failures > self._error_after and now - self._last_logged >= self._repeat_s:
            self._log.error(
                "%s still failing after %d attempts: %s", self._what, self.failures, exc
            )
        else:
            return
        self._last_logged = now

    def passed(self) -> None:
        """The job worked: end the outage (one INFO line if there was one)."""
        if self.failures:
            self._log.info("%s pass again after %d failed attempts", self._what, self.failures)
        self.failures = 0
