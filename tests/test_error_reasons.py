"""Every error the server can raise names an ErrorReason, with the documented code and keys.

errors.proto is the contract: each ErrorReason value's comment starts with its gRPC code and
lists its metadata keys ("Metadata: `a`, `b`" or "Metadata: none"). These tests hold the
domain error classes and the status table to it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import execstream_server
import grpc
from execstream.v1 import errors_pb2
from execstream_server.domain import errors
from execstream_server.transport import status_map
from google.rpc import error_details_pb2, status_pb2

PROTO = Path(__file__).resolve().parents[1] / "protos" / "execstream" / "v1" / "errors.proto"

# One instance of every error class, with every optional metadata key present.
SAMPLES: dict[type[errors.DomainError], errors.DomainError] = {
    errors.InvalidArgumentError: errors.InvalidArgumentError(
        [errors.FieldViolation("events[0].stdout.text", "too long", limit=65536)]
    ),
    errors.MalformedMessageError: errors.MalformedMessageError(
        "execstream.v1.ProgressReport", "is not a valid execstream.v1.ProgressReport"
    ),
    errors.SeqGapError: errors.SeqGapError("t", 4, 9),
    errors.SeqConflictError: errors.SeqConflictError("t", 2, 5),
    errors.TaskFinishedError: errors.TaskFinishedError("t", 4, 3),
    errors.IllegalTransitionError: errors.IllegalTransitionError("t", "RUNNING", "PENDING", 2),
    errors.OwnershipError: errors.OwnershipError("t", "sc2"),
    errors.SidecarMismatchError: errors.SidecarMismatchError("sc1", "sc2"),
    errors.RoleForbiddenError: errors.RoleForbiddenError(
        "viewer", "/execstream.v1.ExecutionService/ReportProgress"
    ),
    errors.TokenInvalidError: errors.TokenInvalidError("unknown token"),
    errors.TokenExpiredError: errors.TokenExpiredError("2020-01-01T00:00:00Z"),
    errors.RevisionCompactedError: errors.RevisionCompactedError(3, 10),
    errors.RevisionInFutureError: errors.RevisionInFutureError(99, 5, "log-1"),
    errors.WatcherTooSlowError: errors.WatcherTooSlowError(7, 5.0),
    errors.RateLimitedError: errors.RateLimitedError(
        "slow down", flag="--sidecar-events-per-second", value=100, retry_after_s=0.25
    ),
    errors.LimitExceededError: errors.LimitExceededError(
        "too many", limit="--max-watchers", value=10
    ),
    errors.StoreUnavailableError: errors.StoreUnavailableError("disk full"),
    errors.ShuttingDownError: errors.ShuttingDownError(12),
    errors.ReplicaFailedError: errors.ReplicaFailedError(41),
    errors.RecoveryFailedError: errors.RecoveryFailedError(41),
    errors.InternalError: errors.InternalError("bug"),
}


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    """ErrorReason name -> (gRPC code name, metadata keys), read from the proto comments."""
    text = PROTO.read_text()
    body = text[text.index("enum ErrorReason") :]
    found: dict[str, tuple[str, frozenset[str]]] = {}
    comment: list[str] = []
    for line in body.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("//"):
            comment.append(stripped.removeprefix("//").strip())
            continue
        match = re.match(r"([A-Z_]+) = \d+;", stripped)
        if match and comment:
            words = " ".join(comment)
            code = words.split(":", 1)[0]
            keys = re.search(r"Metadata: (.*)$", words)
            names = frozenset(re.findall(r"`([a-z_]+)`", keys.group(1))) if keys else frozenset()
            found[match.group(1)] = (code, names)
        comment = []
    return found


def error_classes() -> set[type[errors.DomainError]]:
    for module in pkgutil.walk_packages(execstream_server.__path__, "execstream_server."):
        importlib.import_module(module.name)
    found: set[type[errors.DomainError]] = set()
    pending: list[type[errors.DomainError]] = [errors.DomainError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found.add(sub)
            pending.append(sub)
    return found


def test_every_error_class_names_an_error_reason() -> None:
    names = set(errors_pb2.ErrorReason.keys())
    for cls in error_classes():
        assert cls.reason in names, f"{cls.__name__}.reason {cls.reason!r} is not an ErrorReason"


def test_every_error_class_maps_to_its_documented_code() -> None:
    docs = documented()
    for cls in error_classes():
        sample = SAMPLES.get(cls)
        assert sample is not None, f"add a sample of {cls.__name__} to SAMPLES"
        code = status_map.status_code_for(sample)
        assert code.name == docs[cls.reason][0], f"{cls.__name__}: {code.name}"


def test_metadata_keys_are_exactly_the_documented_ones() -> None:
    docs = documented()
    for cls, sample in SAMPLES.items():
        keys = set(sample.metadata())
        assert keys == docs[cls.reason][1], f"{cls.__name__}: {sorted(keys)}"


def test_the_proto_documents_every_reason_value() -> None:
    names = set(errors_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
    assert set(documented()) - {"ERROR_REASON_UNSPECIFIED"} == names


def decoded(sample: errors.DomainError) -> tuple[grpc.Status, status_pb2.Status]:
    status = status_map.to_rpc_status(sample)
    details = dict(status.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(details, bytes)
    return status, status_pb2.Status.FromString(details)


def test_every_status_carries_error_info_in_the_execstream_domain() -> None:
    for sample in SAMPLES.values():
        status, proto = decoded(sample)
        assert proto.message == status.details and proto.code == status.code.value[0]
        info = error_details_pb2.ErrorInfo()
        assert proto.details[0].Unpack(info)
        assert (info.domain, info.reason) == ("execstream.v1", sample.reason)
        assert dict(info.metadata) == sample.metadata()


def test_rate_limits_carry_retry_info_and_the_grpc_pushback_trailer() -> None:
    status, proto = decoded(SAMPLES[errors.RateLimitedError])
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in proto.details)
    assert retry.retry_delay.ToMilliseconds() == 250
    assert dict(status.trailing_metadata)["grpc-retry-pushback-ms"] == "250"
    count_limit, _ = decoded(SAMPLES[errors.LimitExceededError])
    assert "grpc-retry-pushback-ms" not in dict(count_limit.trailing_metadata)
