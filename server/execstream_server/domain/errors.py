"""Domain errors: what callers did wrong or what the server cannot do right now.

The servicer maps each class to one gRPC status in one table (``status_map``); nothing here
knows gRPC. Expected errors derive from ``ExecstreamError``; anything else is a bug and is
reported as INTERNAL.

    ExecstreamError
    ├── InvalidArgumentError     malformed input (field violations)    INVALID_ARGUMENT
    │   └── MalformedMessageError  bytes that are no such message       INVALID_ARGUMENT
    ├── SeqGapError              seq > last_seq + 1                    FAILED_PRECONDITION
    ├── TaskFinishedError        event after the terminal event        FAILED_PRECONDITION
    ├── IllegalTransitionError   status change the lifecycle forbids   FAILED_PRECONDITION
    ├── OwnershipError           another sidecar's task                PERMISSION_DENIED
    ├── SidecarMismatchError     token bound to another sidecar id     PERMISSION_DENIED
    ├── RevisionCompactedError   after_revision older than retention   OUT_OF_RANGE
    ├── WatcherTooSlowError      watcher stopped reading               RESOURCE_EXHAUSTED
    ├── LimitExceededError       a configured limit (rate, count)      RESOURCE_EXHAUSTED
    │   └── RateLimitedError     events per second                     RESOURCE_EXHAUSTED
    ├── StoreUnavailableError    storage down; retry later             UNAVAILABLE
    ├── ShuttingDownError        server is stopping                    UNAVAILABLE
    ├── ReplicaFailedError       this replica failed and is exiting    UNAVAILABLE
    └── InternalError            a bug confined to one request         INTERNAL
"""

from __future__ import annotations

from dataclasses import dataclass


class ExecstreamError(Exception):
    """Base of expected errors; ``reason`` is a stable machine-readable code."""

    reason: str = "EXECSTREAM_ERROR"

    def metadata(self) -> dict[str, str]:
        """Return the key/value details a client can act on (ErrorInfo metadata)."""
        return {}


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: ``field`` is a path such as ``events[3].task_id``.

    ``limit`` is the bound it passed, when a bound was passed (ErrorInfo metadata).
    """

    field: str
    description: str
    limit: int | None = None


class InvalidArgumentError(ExecstreamError):
    reason = "INVALID_FIELD"

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = violations
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"{first.field}: {first.description}{more}")

    def metadata(self) -> dict[str, str]:
        first = self.violations[0]
        found = {"field": first.field}
        if first.limit is not None:
            found["limit"] = str(first.limit)
        return found


class MalformedMessageError(InvalidArgumentError):
    """The request bytes are not the expected protobuf message, or no message arrived."""

    reason = "MALFORMED_MESSAGE"

    def __init__(self, message_name: str, problem: str) -> None:
        self.message_name = message_name
        super().__init__([FieldViolation("request", problem)])

    def metadata(self) -> dict[str, str]:
        return {"message": self.message_name}


class SeqGapError(ExecstreamError):
    reason = "SEQ_GAP"

    def __init__(self, task_id: str, expected_seq: int, got_seq: int) -> None:
        self.task_id = task_id
        self.expected_seq = expected_seq
        self.got_seq = got_seq
        super().__init__(
            f"task {task_id!r}: seq {got_seq} leaves a gap; expected seq {expected_seq} "
            f"(resend from last_seq + 1)"
        )

    def metadata(self) -> dict[str, str]:
        return {"task_id": self.task_id, "expected_seq": str(self.expected_seq)}


class TaskFinishedError(ExecstreamError):
    reason = "TASK_FINISHED"

    def __init__(self, task_id: str, seq: int) -> None:
        self.task_id = task_id
        super().__init__(f"task {task_id!r} has finished; event seq {seq} refused")

    def metadata(self) -> dict[str, str]:
        return {"task_id": self.task_id}


class IllegalTransitionError(ExecstreamError):
    reason = "ILLEGAL_TRANSITION"

    def __init__(self, task_id: str, current: str, requested: str) -> None:
        self.task_id = task_id
        super().__init__(f"task {task_id!r}: status {requested} not allowed after {current}")

    def metadata(self) -> dict[str, str]:
        return {"task_id": self.task_id}


class OwnershipError(ExecstreamError):
    reason = "TASK_OWNED_BY_OTHER_SIDECAR"

    def __init__(self, task_id: str, sidecar_id: str) -> None:
        self.task_id = task_id
        super().__init__(
            f"task {task_id!r} belongs to another sidecar; sidecar {sidecar_id!r} may not write it"
        )

    def metadata(self) -> dict[str, str]:
        return {"task_id": self.task_id}


class SidecarMismatchError(ExecstreamError):
    reason = "SIDECAR_MISMATCH"

    def __init__(self, bound_to: str, claimed: str) -> None:
        super().__init__(
            f"this token is bound to sidecar {bound_to!r}; it may not report as {claimed!r}"
        )


class RevisionCompactedError(ExecstreamError):
    reason = "REVISION_COMPACTED"

    def __init__(self, after_revision: int, oldest_revision: int) -> None:
        self.after_revision = after_revision
        self.oldest_revision = oldest_revision
        super().__init__(
            f"after_revision {after_revision} is no longer retained; oldest retained revision "
            f"is {oldest_revision}: re-list with GetSnapshot and watch from its revision"
        )

    def metadata(self) -> dict[str, str]:
        return {"oldest_revision": str(self.oldest_revision)}


class WatcherTooSlowError(ExecstreamError):
    reason = "WATCHER_TOO_SLOW"

    def __init__(self, resume_revision: int, timeout_s: float) -> None:
        self.resume_revision = resume_revision
        super().__init__(
            f"watcher did not read for {timeout_s:g}s; resume with after_revision={resume_revision}"
        )

    def metadata(self) -> dict[str, str]:
        return {"resume_revision": str(self.resume_revision)}


class LimitExceededError(ExecstreamError):
    reason = "LIMIT_EXCEEDED"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class RateLimitedError(LimitExceededError):
    """A sidecar's or a token's events-per-second bucket is empty; retry after the wait."""

    reason = "RATE_LIMITED"

    def __init__(self, message: str, *, flag: str, value: float, retry_after_s: float) -> None:
        self.flag = flag
        self.value = value
        super().__init__(message, retry_after_s=retry_after_s)

    def metadata(self) -> dict[str, str]:
        return {"limit": self.flag, "value": f"{self.value:g}"}


class StoreUnavailableError(ExecstreamError):
    reason = "STORE_UNAVAILABLE"


class ShuttingDownError(ExecstreamError):
    reason = "SHUTTING_DOWN"

    def __init__(self, resume_revision: int) -> None:
        self.resume_revision = resume_revision
        super().__init__(f"server is shutting down; resume with after_revision={resume_revision}")

    def metadata(self) -> dict[str, str]:
        return {"resume_revision": str(self.resume_revision)}


class ReplicaFailedError(ExecstreamError):
    """This replica could not commit, fold or fan out a batch: it stopped taking work.

    Raised for every call after the failure (the replica is NOT_SERVING and exiting, so a
    supervisor restarts it from the log, which is intact). ``revision`` is the last
    revision the replica applied.
    """

    reason = "REPLICA_FAILED"

    def __init__(self, revision: int) -> None:
        self.revision = revision
        super().__init__(
            f"this replica failed after revision {revision} and is restarting; retry on "
            f"another replica or after the restart"
        )

    def metadata(self) -> dict[str, str]:
        return {"revision": str(self.revision)}


class InternalError(ExecstreamError):
    """A bug that affected one request only (the server log has the traceback)."""

    reason = "INTERNAL_ERROR"
