"""How often and how long to wait before trying a failed model call again.

A local server (Ollama) fails for local reasons (model loading, out of memory) that one or
two tries settle; a hosted API sheds load with 429/5xx and deserves a few more, further
apart. The wait doubles each time, with jitter so many sidecars do not retry in step, and a
``Retry-After`` from the server wins (capped, so a bad header cannot park a task for hours).
"""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_retries: int
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_retry_after_s: float = 60.0

    def delay_s(self, retry: int, *, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry_after_s is not None:
            return float(min(retry_after_s, self.max_retry_after_s))
        ceiling: float = min(self.base_delay_s * 2.0 ** (retry - 1), self.max_delay_s)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


LOCAL_POLICY = RetryPolicy(max_retries=2, base_delay_s=0.5)
HOSTED_POLICY = RetryPolicy(max_retries=3, base_delay_s=1.0)
