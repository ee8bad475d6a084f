"""Domain errors to gRPC status, in one table, with machine-readable details attached.

Details follow google.rpc (via grpcio-status): BadRequest field violations for
INVALID_ARGUMENT, ErrorInfo (reason + metadata) for everything else, RetryInfo when the
client should wait. The abort code and message equal the Status proto's, as required.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from execstream_server.domain import errors

DOMAIN = "execstream.v1"

STATUS_BY_ERROR: dict[type[errors.ExecstreamError], grpc.StatusCode] = {
    errors.InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.SeqGapError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.TaskFinishedError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.IllegalTransitionError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.OwnershipError: grpc.StatusCode.PERMISSION_DENIED,
    errors.SidecarMismatchError: grpc.StatusCode.PERMISSION_DENIED,
    errors.RevisionCompactedError: grpc.StatusCode.OUT_OF_RANGE,
    errors.WatcherTooSlowError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.LimitExceededError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.StoreUnavailableError: grpc.StatusCode.UNAVAILABLE,
    errors.ShuttingDownError: grpc.StatusCode.UNAVAILABLE,
    errors.ReplicaFailedError: grpc.StatusCode.UNAVAILABLE,
    errors.InternalError: grpc.StatusCode.INTERNAL,
}


def status_code_for(exc: errors.ExecstreamError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_rpc_status(exc: errors.ExecstreamError) -> grpc.Status:
    """Build the grpc.Status (code, message, details trailer) for a domain error."""
    code = status_code_for(exc)
    message = str(exc)
    status = status_pb2.Status(code=code.value[0], message=message)
    if isinstance(exc, errors.InvalidArgumentError):
        bad = error_details_pb2.BadRequest()
        for violation in exc.violations:
            bad.field_violations.add(field=violation.field, description=violation.description)
        status.details.append(_pack(bad))
    else:
        info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN)
        info.metadata.update(exc.metadata())
        status.details.append(_pack(info))
    if isinstance(exc, errors.LimitExceededError) and exc.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(exc.retry_after_s * 1e9))
        status.details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return rpc_status.to_status(status)


def internal_status(message: str) -> grpc.Status:
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message=message))
