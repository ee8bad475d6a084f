"""Domain errors to gRPC status, in one table, with machine-readable details attached.

Every status built here carries a google.rpc.Status (via grpcio-status) whose details hold
an ErrorInfo (domain ``execstream.v1``, reason = the error's ``ErrorReason`` name, its
documented metadata); INVALID_ARGUMENT adds BadRequest field violations and rate limits add
RetryInfo plus the ``grpc-retry-pushback-ms`` trailer (gRPC's own retry pushback, honoured
by gRPC clients whose retry policy covers the code). Callers may add details of their own
(ReportProgress adds what its stream committed). The abort code and message equal the
Status proto's, as grpcio-status requires.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from execstream_server.domain import errors

DOMAIN = "execstream.v1"
PUSHBACK_KEY = "grpc-retry-pushback-ms"

STATUS_BY_ERROR: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.MalformedMessageError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.SeqGapError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.SeqConflictError: grpc.StatusCode.ALREADY_EXISTS,
    errors.TaskFinishedError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.IllegalTransitionError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.OwnershipError: grpc.StatusCode.PERMISSION_DENIED,
    errors.SidecarMismatchError: grpc.StatusCode.PERMISSION_DENIED,
    errors.RoleForbiddenError: grpc.StatusCode.PERMISSION_DENIED,
    errors.TokenInvalidError: grpc.StatusCode.UNAUTHENTICATED,
    errors.TokenExpiredError: grpc.StatusCode.UNAUTHENTICATED,
    errors.RevisionCompactedError: grpc.StatusCode.OUT_OF_RANGE,
    errors.RevisionInFutureError: grpc.StatusCode.OUT_OF_RANGE,
    errors.WatcherTooSlowError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.RateLimitedError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.LimitExceededError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.StoreUnavailableError: grpc.StatusCode.UNAVAILABLE,
    errors.ShuttingDownError: grpc.StatusCode.UNAVAILABLE,
    errors.ReplicaFailedError: grpc.StatusCode.UNAVAILABLE,
    errors.InternalError: grpc.StatusCode.INTERNAL,
}


def status_code_for(exc: errors.DomainError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def error_info(exc: errors.DomainError) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN)
    info.metadata.update(exc.metadata())
    return info


def to_rpc_status(exc: errors.DomainError, extra: Iterable[Message] = ()) -> grpc.Status:
    """Build the grpc.Status (code, message, details trailer) for a domain error."""
    code = status_code_for(exc)
    status = status_pb2.Status(code=code.value[0], message=str(exc))
    status.details.append(_pack(error_info(exc)))
    if isinstance(exc, errors.InvalidArgumentError):
        bad = error_details_pb2.BadRequest()
        for violation in exc.violations:
            bad.field_violations.add(field=violation.field, description=violation.description)
        status.details.append(_pack(bad))
    retry_after_s = getattr(exc, "retry_after_s", None)
    if isinstance(exc, errors.LimitExceededError) and retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after_s * 1e9))
        status.details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    for message in extra:
        status.details.append(_pack(message))
    result = rpc_status.to_status(status)
    if isinstance(exc, errors.RateLimitedError) and retry_after_s is not None:
        pushback = (PUSHBACK_KEY, str(max(1, round(retry_after_s * 1000))))
        # grpcio-status returns a namedtuple; keep its type, add the trailer.
        return result._replace(trailing_metadata=(*result.trailing_metadata, pushback))
    return result


def internal_status(message: str) -> grpc.Status:
    return to_rpc_status(errors.InternalError(message))
