"""The retry table every execstream client shares: ``service_config.json`` beside the protos.

The file is a standard gRPC service config (``methodConfig`` with a ``retryPolicy`` per
method). ``scripts/gen_protos`` copies it into this package, so the installed client needs
nothing outside itself and CI fails when the copy is stale. Python hands it to grpc as the
channel's service config (for each method's deadline) with gRPC's retries off, and reads the
retry table for its own loops: a snapshot page, the resumable watch and the reporter.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources

import grpc

SERVICE = "execstream.v1.ExecutionService"
# gRPC's connection-backoff spec spreads reconnects by +-20 %; a service config cannot say so.
JITTER = 0.2


@dataclasses.dataclass(frozen=True, slots=True)
class MethodRetryPolicy:
    """One method's ``retryPolicy``: which codes to retry and how long to wait between tries."""

    max_attempts: int
    initial: float
    maximum: float
    multiplier: float
    retryable: frozenset[grpc.StatusCode]


def _seconds(duration: str) -> float:
    if not duration.endswith("s"):
        raise ValueError(f"service config: a duration ends with 's', not {duration!r}")
    return float(duration[:-1])


def _policy(raw: dict[str, object]) -> MethodRetryPolicy:
    codes = raw["retryableStatusCodes"]
    assert isinstance(codes, list)
    return MethodRetryPolicy(
        max_attempts=int(str(raw["maxAttempts"])),
        initial=_seconds(str(raw["initialBackoff"])),
        maximum=_seconds(str(raw["maxBackoff"])),
        multiplier=float(str(raw["backoffMultiplier"])),
        retryable=frozenset(grpc.StatusCode[str(code)] for code in codes),
    )


@functools.cache
def service_config_json() -> str:
    """The file's text, as grpc's ``grpc.service_config`` channel option takes it."""
    return resources.files(__package__).joinpath("service_config.json").read_text()


@functools.cache
def retry_policies() -> dict[str, MethodRetryPolicy]:
    """Each ExecutionService method's retry policy, by method name (``"WatchExecution"``)."""
    config = json.loads(service_config_json())
    policies: dict[str, MethodRetryPolicy] = {}
    for method_config in config["methodConfig"]:
        policy = _policy(method_config["retryPolicy"])
        for name in method_config["name"]:
            if name.get("service") == SERVICE:
                policies[name["method"]] = policy
    return policies


def retry_policy(method: str) -> MethodRetryPolicy:
    """The policy of one method; a method the table does not name is a packaging bug."""
    return retry_policies()[method]
