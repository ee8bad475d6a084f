"""The client's exceptions: what a caller can act on, with the server's words kept.

    ExecstreamError
    ├── Unreachable       the server could not be reached within the reconnect budget
    ├── ServerRefused     a status that retrying will not change (``status``: code, reason, ...)
    │   └── ReportRefused the server refused reported events; the reporter stops
    └── ResyncRequired    the watch cannot resume (compacted, future revision, another log)

Every refusal carries the decoded ``google.rpc.Status`` details from the
``grpc-status-details-bin`` trailer as ``StatusDetails``: the ``ErrorInfo`` reason (a name
of ``ErrorReason`` in errors.proto) and metadata, ``BadRequest`` field violations, the
``RetryInfo`` delay, and for a refused ReportProgress the ``ReportProgressResponse`` of what
is committed. ``Unreachable`` keeps the status of the last failure too (an UNAVAILABLE
``SHUTTING_DOWN`` with what a report got committed, or gRPC's own, with no reason).

Only an ``ErrorInfo`` of the domain ``execstream.v1`` gives the reason, and the first one
wins, as in every execstream client: a proxy may add its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2

from execstream.v1 import service_pb2 as service_pb

DOMAIN = "execstream.v1"
_DETAILS_KEY = "grpc-status-details-bin"


@dataclasses.dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a refused request (``google.rpc.BadRequest``)."""

    field: str
    description: str


@dataclasses.dataclass(frozen=True, slots=True)
class StatusDetails:
    """A non-OK status with its machine-readable details, decoded once."""

    code: grpc.StatusCode
    message: str
    reason: str = ""  # ErrorInfo.reason, e.g. "SEQ_GAP"; empty when gRPC itself failed
    domain: str = ""
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    field_violations: tuple[FieldViolation, ...] = ()
    retry_delay: float | None = None  # RetryInfo: seconds the server asks us to wait
    # A refused ReportProgress: what the stream got committed, and each task's last seq.
    committed: service_pb.ReportProgressResponse | None = None

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name


def _details_blob(error: grpc.RpcError) -> bytes | None:
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def _unpack(status: StatusDetails, details: Iterable[object]) -> StatusDetails:
    info = error_details_pb2.ErrorInfo()
    bad = error_details_pb2.BadRequest()
    retry = error_details_pb2.RetryInfo()
    committed = service_pb.ReportProgressResponse()
    for packed in details:
        if packed.Is(info.DESCRIPTOR):  # type: ignore[attr-defined]
            packed.Unpack(info)  # type: ignore[attr-defined]
            if info.domain != DOMAIN or status.domain:
                continue  # another service's (a proxy's), or not the first of ours
            status = dataclasses.replace(
                status, reason=info.reason, domain=info.domain, metadata=dict(info.metadata)
            )
        elif packed.Is(bad.DESCRIPTOR):  # type: ignore[attr-defined]
            packed.Unpack(bad)  # type: ignore[attr-defined]
            violations = tuple(FieldViolation(v.field, v.description) for v in bad.field_violations)
            status = dataclasses.replace(status, field_violations=violations)
        elif packed.Is(retry.DESCRIPTOR):  # type: ignore[attr-defined]
            packed.Unpack(retry)  # type: ignore[attr-defined]
            status = dataclasses.replace(
                status, retry_delay=retry.retry_delay.ToNanoseconds() / 1e9
            )
        elif packed.Is(committed.DESCRIPTOR):  # type: ignore[attr-defined]
            packed.Unpack(committed)  # type: ignore[attr-defined]
            status = dataclasses.replace(status, committed=committed)
    return status


def status_of(error: grpc.RpcError) -> StatusDetails:
    """The status of a failed call (sync or asyncio), with its details decoded."""
    status = StatusDetails(code=code_of(error), message=details_of(error))
    blob = _details_blob(error)
    if blob is None:
        return status
    decoded = status_pb2.Status()
    try:
        decoded.ParseFromString(blob)
    except Exception:  # a proxy's garbage must not hide the status itself
        return status
    return _unpack(status, decoded.details)


class ExecstreamError(Exception):
    """Base of every error the client raises."""


class Unreachable(ExecstreamError):
    """The server could not be reached (within the reconnect budget, where there is one).

    ``status`` is the last failure's, decoded (None when there was no call, e.g. a stream
    the server kept ending): UNAVAILABLE, with the reason ``SHUTTING_DOWN`` and, for a
    report, the ``committed`` detail when the server said so.
    """

    def __init__(self, target: str, reason: str, status: StatusDetails | None = None) -> None:
        super().__init__(f"cannot reach execstream at {target}: {reason}")
        self.target = target
        self.reason = reason
        self.status = status


class ServerRefused(ExecstreamError):
    """The server answered with a status that retrying will not change."""

    def __init__(self, status: StatusDetails) -> None:
        super().__init__(str(status))
        self.status = status

    @property
    def code(self) -> grpc.StatusCode:
        return self.status.code

    @property
    def details(self) -> str:
        """The status message, for people."""
        return self.status.message

    @property
    def reason(self) -> str:
        """The ErrorInfo reason (an ``ErrorReason`` name), or "" when there was none."""
        return self.status.reason

    @property
    def metadata(self) -> Mapping[str, str]:
        return self.status.metadata


class ReportRefused(ServerRefused):
    """The server refused reported events (bad seq, ownership, a finished task, bad input).

    Events before the refused batch stay accepted; the reporter stops, since sending later
    events of the same task would only be refused as a gap. ``metadata["last_seq"]`` is the
    task's last committed seq.
    """


# Why a watch must re-list; the first two are the server's ErrorReason names.
REVISION_COMPACTED = "REVISION_COMPACTED"
REVISION_IN_FUTURE = "REVISION_IN_FUTURE"
# Detected by the client: a Progress named another log_id than the one the watch began on.
LOG_ID_CHANGED = "LOG_ID_CHANGED"


class ResyncRequired(ExecstreamError):
    """The watch cannot resume where it stands: take a snapshot and watch from its revision.

    ``reason`` says why: ``REVISION_COMPACTED`` (the resume point left the retained log),
    ``REVISION_IN_FUTURE`` (the server's log is behind the resume point: another or a reset
    store) or ``LOG_ID_CHANGED`` (the client saw a different log identity). ``status`` is
    the server's refusal, None when the client detected it. Pass ``on_relist`` to ``watch``
    to have the client re-list and continue instead.
    """

    def __init__(
        self,
        after_revision: int,
        reason: str,
        message: str,
        status: StatusDetails | None = None,
    ) -> None:
        super().__init__(f"cannot resume after revision {after_revision} ({reason}): {message}")
        self.after_revision = after_revision
        self.reason = reason
        self.status = status

    @property
    def metadata(self) -> Mapping[str, str]:
        return self.status.metadata if self.status is not None else {}


def _reason(details: str) -> str:
    """The human part of a connection failure, e.g. "connection refused"."""
    lowered = details.lower()
    for needle in (
        "connection refused",
        "connection reset",
        "name resolution",
        "dns resolution",
        "timed out",
        "deadline exceeded",
        "certificate",
        "handshake",
        "socket closed",
    ):
        if needle in lowered:
            return needle
    return details.strip().splitlines()[0] if details.strip() else "unavailable"


def unreachable(target: str, error: grpc.RpcError) -> Unreachable:
    return Unreachable(target, _reason(details_of(error)), status_of(error))


def details_of(error: grpc.RpcError) -> str:
    """The status message; "" when the status has none (never the call's multi-line repr)."""
    if hasattr(error, "details"):
        return str(error.details() or "")
    return str(error)


def code_of(error: grpc.RpcError) -> grpc.StatusCode:
    code = error.code() if hasattr(error, "code") else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def refused(error: grpc.RpcError) -> ServerRefused:
    return ServerRefused(status_of(error))


def translate(target: str, error: grpc.RpcError) -> ExecstreamError:
    """UNAVAILABLE is ``Unreachable``; any other status is ``ServerRefused``."""
    if code_of(error) == grpc.StatusCode.UNAVAILABLE:
        return unreachable(target, error)
    return refused(error)
