"""How often and how long to wait before trying a failed model call again.

The same vocabulary as the gRPC client's ``Backoff`` (``initial``, ``maximum``,
``multiplier``, +-``jitter``): one way to say "back off" in the whole package. A local server
(Ollama) fails for local reasons (model loading, out of memory) that one or two tries
settle; a hosted API sheds load with 429/5xx and deserves a few more, further apart. A
``Retry-After`` from the server wins (capped, so a bad header cannot park a task for hours).
"""

from __future__ import annotations

import dataclasses

from ..client.backoff import Backoff


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_retries: int
    initial: float = 0.5
    maximum: float = 20.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_retry_after: float = 60.0

    def delay_s(self, retry: int, *, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        if retry_after_s is not None:
            return float(min(retry_after_s, self.max_retry_after))
        backoff = Backoff(
            initial=self.initial,
            maximum=self.maximum,
            multiplier=self.multiplier,
            jitter=self.jitter,
        )
        return backoff.delay(retry)


LOCAL_POLICY = RetryPolicy(max_retries=2, initial=0.5)
HOSTED_POLICY = RetryPolicy(max_retries=3, initial=1.0)
