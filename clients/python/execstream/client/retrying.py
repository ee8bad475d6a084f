"""What to do after a failed call: the retry rules every execstream client implements alike.

The codes and backoff come from the shared table (``service_config.json``); the rules that
a gRPC service config cannot express, because they depend on the ``ErrorInfo`` reason, are
here (docs/api.md, "Retrying", says why each one holds):

- a code the table lists for the method (UNAVAILABLE): try again after a backoff;
- RESOURCE_EXHAUSTED with reason RATE_LIMITED or LIMIT_EXCEEDED: try again after a backoff,
  waiting at least the ``RetryInfo`` delay;
- RESOURCE_EXHAUSTED with reason WATCHER_TOO_SLOW: resume the watch at once from its
  ``resume_revision``;
- RESOURCE_EXHAUSTED without a reason (gRPC's own "message too large"): never again;
- OUT_OF_RANGE on a watch: re-list (a snapshot), never a blind retry;
- CANCELLED: the client never decides about a call it cancelled itself, so this is a stream
  reset under it (RST_STREAM CANCEL from a server going away or a proxy): as UNAVAILABLE;
- anything else: stop and raise.
"""

from __future__ import annotations

import dataclasses
import enum

import grpc

from .errors import StatusDetails
from .service_config import retry_policy

_RETRY_REASONS = frozenset({"RATE_LIMITED", "LIMIT_EXCEEDED"})


class Action(enum.Enum):
    RETRY = "retry"  # after a backoff of at least ``Decision.wait``
    RESUME = "resume"  # a watch: reconnect now, from ``Decision.resume_revision``
    RELIST = "relist"  # a watch: the resume point is gone, take a snapshot
    STOP = "stop"  # raise: trying again cannot help


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    wait: float = 0.0
    resume_revision: int | None = None


def decide(method: str, status: StatusDetails) -> Decision:
    """The rule for ``status`` from a call of ``method`` (e.g. ``"WatchExecution"``)."""
    if status.code in retry_policy(method).retryable or status.code == grpc.StatusCode.CANCELLED:
        return Decision(Action.RETRY)
    if status.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if status.reason in _RETRY_REASONS:
            return Decision(Action.RETRY, wait=status.retry_delay or 0.0)
        resume = status.metadata.get("resume_revision", "")
        if status.reason == "WATCHER_TOO_SLOW" and resume.isdigit():
            return Decision(Action.RESUME, resume_revision=int(resume))
        return Decision(Action.STOP)
    if status.code == grpc.StatusCode.OUT_OF_RANGE and method == "WatchExecution":
        return Decision(Action.RELIST)
    return Decision(Action.STOP)
