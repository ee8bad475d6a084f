"""Domain errors: what callers did wrong or what the server cannot do right now.

Each class carries its ``reason``: the name of an ``ErrorReason`` value in
protos/execstream/v1/errors.proto, sent as the google.rpc.ErrorInfo reason, and
``metadata()`` holds exactly the keys documented beside that value. The servicer maps each
class to one gRPC status in one table (``transport.status_map``); nothing here knows gRPC.
Expected errors derive from ``DomainError``; anything else is a bug, sent as
INTERNAL_ERROR.

    DomainError
    ├── InvalidArgumentError       INVALID_FIELD: field violations         INVALID_ARGUMENT
    │   └── MalformedMessageError  MALFORMED_MESSAGE: undecodable bytes    INVALID_ARGUMENT
    ├── SeqGapError                seq > last_seq + 1                      FAILED_PRECONDITION
    ├── SeqConflictError           resent seq with other content           ALREADY_EXISTS
    ├── TaskFinishedError          event after the terminal event          FAILED_PRECONDITION
    ├── IllegalTransitionError     status change the lifecycle forbids     FAILED_PRECONDITION
    ├── OwnershipError             another sidecar's task                  PERMISSION_DENIED
    ├── SidecarMismatchError       token bound to another sidecar id       PERMISSION_DENIED
    ├── RoleForbiddenError         the token's role may not call this      PERMISSION_DENIED
    ├── TokenInvalidError          no, unknown or revoked token            UNAUTHENTICATED
    │   └── TokenExpiredError      the token's expiry has passed           UNAUTHENTICATED
    ├── RevisionCompactedError     after_revision older than retention     OUT_OF_RANGE
    ├── RevisionInFutureError      after_revision beyond the head          OUT_OF_RANGE
    ├── WatcherTooSlowError        watcher stopped reading                 RESOURCE_EXHAUSTED
    ├── LimitExceededError         a count limit (watchers, streams)       RESOURCE_EXHAUSTED
    │   └── RateLimitedError       events per second (retry later)         RESOURCE_EXHAUSTED
    ├── StoreUnavailableError      storage down; retry later               UNAVAILABLE
    ├── ShuttingDownError          server is stopping                      UNAVAILABLE
    ├── ReplicaFailedError         this replica failed and is exiting      UNAVAILABLE
    │   └── RecoveryFailedError    ... while rebuilding its state at start (never sent)
    └── InternalError              a bug confined to one request           INTERNAL
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of expected errors; ``reason`` names an ``ErrorReason`` value."""

    reason: str = "INTERNAL_ERROR"

    def metadata(self) -> dict[str, str]:
        """Return the key/value details a client can act on (ErrorInfo metadata)."""
        return {}


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: ``field`` is a path such as ``events[3].task_id``.

    ``limit`` is the bound that was passed, when there is one (sent as ErrorInfo metadata).
    """

    field: str
    description: str
    limit: int | None = None


class InvalidArgumentError(DomainError):
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


class SeqGapError(DomainError):
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
        return {
            "task_id": self.task_id,
            "expected_seq": str(self.expected_seq),
            "last_seq": str(self.expected_seq - 1),
        }


class SeqConflictError(DomainError):
    reason = "SEQ_CONFLICT"

    def __init__(self, task_id: str, seq: int, last_seq: int) -> None:
        self.task_id = task_id
        self.seq = seq
        self.last_seq = last_seq
        super().__init__(
            f"task {task_id!r}: seq {seq} was committed with other content; a resend must "
            f"repeat the event as first sent (last committed seq {last_seq})"
        )

    def metadata(self) -> dict[str, str]:
        return {"task_id": self.task_id, "seq": str(self.seq), "last_seq": str(self.last_seq)}


class TaskFinishedError(DomainError):
    reason = "TASK_FINISHED"

    def __init__(self, task_id: str, seq: int, last_seq: int) -> None:
        self.task_id = task_id
        self.last_seq = last_seq
        super().__init__(f"task {task_id!r} has finished; event seq {seq} refused")

    def metadata(self) -> dict[str, str]:
        return {"task_id": self.task_id, "last_seq": str(self.last_seq)}


class IllegalTransitionError(DomainError):
    reason = "ILLEGAL_TRANSITION"

    def __init__(self, task_id: str, current: str, requested: str, last_seq: int = 0) -> None:
        self.task_id = task_id
        self.current = current
        self.requested = requested
        self.last_seq = last_seq  # admission fills it in (the lifecycle does not know it)
        super().__init__(f"task {task_id!r}: status {requested} not allowed after {current}")

    def metadata(self) -> dict[str, str]:
        return {
            "task_id": self.task_id,
            "last_seq": str(self.last_seq),
            "from": self.current,
            "to": self.requested,
        }


class OwnershipError(DomainError):
    """Says only that the id is taken: never the owner, its seq or anything of the task."""

    reason = "TASK_OWNED_BY_OTHER_SIDECAR"

    def __init__(self, task_id: str, sidecar_id: str) -> None:
        self.task_id = task_id
        super().__init__(
            f"task {task_id!r} was created by another sidecar; sidecar {sidecar_id!r} may not "
            "write it (task ids are global: pick another)"
        )

    def metadata(self) -> dict[str, str]:
        return {"task_id": self.task_id}


class SidecarMismatchError(DomainError):
    reason = "SIDECAR_MISMATCH"

    def __init__(self, bound_to: str, claimed: str) -> None:
        self.claimed = claimed
        super().__init__(
            f"this token is bound to sidecar {bound_to!r}; it may not act as {claimed!r}"
        )

    def metadata(self) -> dict[str, str]:
        return {"sidecar_id": self.claimed}


class RoleForbiddenError(DomainError):
    reason = "ROLE_FORBIDDEN"

    def __init__(self, role: str, method: str) -> None:
        self.role = role
        self.method = method
        super().__init__(f"role {role} may not call {method.rsplit('/', 1)[-1]}")

    def metadata(self) -> dict[str, str]:
        return {"role": self.role, "method": self.method}


class TokenInvalidError(DomainError):
    reason = "TOKEN_INVALID"


class TokenExpiredError(TokenInvalidError):
    reason = "TOKEN_EXPIRED"

    def __init__(self, expired_at: str) -> None:
        self.expired_at = expired_at
        super().__init__(f"bearer token expired at {expired_at}")

    def metadata(self) -> dict[str, str]:
        return {"expired_at": self.expired_at}


class RevisionCompactedError(DomainError):
    reason = "REVISION_COMPACTED"

    def __init__(self, after_revision: int, oldest_revision: int) -> None:
        self.after_revision = after_revision
        self.oldest_revision = oldest_revision
        super().__init__(
            f"after_revision {after_revision} is no longer retained; oldest retained revision "
            f"is {oldest_revision}: re-list with GetSnapshot and watch from its revision"
        )

    def metadata(self) -> dict[str, str]:
        return {
            "after_revision": str(self.after_revision),
            "oldest_revision": str(self.oldest_revision),
        }


class RevisionInFutureError(DomainError):
    reason = "REVISION_IN_FUTURE"

    def __init__(self, after_revision: int, head_revision: int, log_id: str) -> None:
        self.after_revision = after_revision
        self.head_revision = head_revision
        self.log_id = log_id
        super().__init__(
            f"after_revision {after_revision} is beyond the log's head {head_revision} "
            f"(log {log_id}): a different or reset log; re-list with GetSnapshot"
        )

    def metadata(self) -> dict[str, str]:
        return {
            "after_revision": str(self.after_revision),
            "head_revision": str(self.head_revision),
            "log_id": self.log_id,
        }


class WatcherTooSlowError(DomainError):
    reason = "WATCHER_TOO_SLOW"

    def __init__(self, resume_revision: int, timeout_s: float) -> None:
        self.resume_revision = resume_revision
        super().__init__(
            f"watcher did not read for {timeout_s:g}s; resume with after_revision={resume_revision}"
        )

    def metadata(self) -> dict[str, str]:
        return {"resume_revision": str(self.resume_revision)}


class LimitExceededError(DomainError):
    """A count limit of the server; ``limit`` names its flag and ``value`` its setting."""

    reason = "LIMIT_EXCEEDED"

    def __init__(
        self, message: str, *, limit: str, value: float, retry_after_s: float | None = None
    ) -> None:
        self.limit = limit
        self.value = value
        self.retry_after_s = retry_after_s
        super().__init__(message)

    def metadata(self) -> dict[str, str]:
        whole = float(self.value).is_integer()
        return {"limit": self.limit, "value": str(int(self.value)) if whole else f"{self.value:g}"}


class RateLimitedError(LimitExceededError):
    """A sidecar's or a token's events-per-second bucket is empty; retry after the wait."""

    reason = "RATE_LIMITED"

    def __init__(self, message: str, *, flag: str, value: float, retry_after_s: float) -> None:
        super().__init__(message, limit=flag, value=value, retry_after_s=retry_after_s)


class StoreUnavailableError(DomainError):
    reason = "STORE_UNAVAILABLE"


class ShuttingDownError(DomainError):
    reason = "SHUTTING_DOWN"

    def __init__(self, resume_revision: int | None = None) -> None:
        self.resume_revision = resume_revision
        if resume_revision is None:
            super().__init__("server is shutting down; retry on another replica or after restart")
        else:
            super().__init__(
                f"server is shutting down; resume with after_revision={resume_revision}"
            )

    def metadata(self) -> dict[str, str]:
        if self.resume_revision is None:
            return {}
        return {"resume_revision": str(self.resume_revision)}


class ReplicaFailedError(DomainError):
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


class RecoveryFailedError(ReplicaFailedError):
    """Rebuilding the state at start raised (a bug): the replica never served.

    The engine has logged the one ERROR line; ``execstream serve`` exits 1 without
    another, for its supervisor (as after a failure while serving).
    """


class InternalError(DomainError):
    """A bug that affected one request only (the server log has the traceback)."""

    reason = "INTERNAL_ERROR"
