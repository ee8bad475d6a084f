"""Check the server before doing anything that cannot be undone, and fail fast.

``run`` must not start a command, ``run-llm`` must not call a model and ``report`` must not
read a sidecar's stdin while nobody would store what they produce. Each first asks the
server's health service (open without a token), retrying a down or draining server for
``--wait`` seconds (10 by default) with one line saying so, then exits 3. A connection that
can never work (TLS on one side only, an untrusted certificate, a missing client
certificate) fails at once, exit 2, with the line saying what to change.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from typing import cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console

from ..client.backoff import Attempts, Backoff
from ..client.errors import Unreachable, unreachable
from ..client.options import ConnectOptions
from .errors import CommandError
from .exit_codes import EXIT_UNREACHABLE, EXIT_USAGE
from .tls_probe import explain

DEFAULT_WAIT_S = 10.0
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING_NAME = "the server is not serving yet (starting or shutting down)"
# Codes that mean "nobody answered yet": anything else is an answer from a server.
_NO_ANSWER = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def add_wait_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help="keep retrying an unreachable server this long, then exit 3 (default %(default)g)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more seconds")
    return value


def wait_until_ready(options: ConnectOptions, wait_s: float, err: Console) -> None:
    """Return once the server answers; raise ``Unreachable`` after ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    announced = False
    delay = 0.1
    with options.channel() as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            reason = _check(stub, options, max(0.5, min(5.0, deadline - time.monotonic())))
            if reason is None:
                return
            if not announced:
                _refuse_misconfigured(options)
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" (gave up after {wait_s:g}s)" if announced else ""
                raise Unreachable(options.target, reason + waited)
            if not announced:
                err.print(
                    f"[dim]execstream at {options.target}: {reason}; "
                    f"retrying for up to {wait_s:g}s…[/]",
                    highlight=False,
                )
                announced = True
            time.sleep(min(delay, left))
            delay = min(delay * 2, 1.0)


def _check(stub: health_pb2_grpc.HealthStub, options: ConnectOptions, timeout: float) -> str | None:
    """None when the server serves (or answers at all); else why it is not ready."""
    try:
        response = stub.Check(
            health_pb2.HealthCheckRequest(), metadata=options.metadata, timeout=timeout
        )
    except grpc.RpcError as error:
        code = error.code() if hasattr(error, "code") else None
        if code not in _NO_ANSWER:
            return None  # a proxy without health checks, say: the real call will tell
        return unreachable(options.target, error).reason
    return None if response.status == _SERVING else _NOT_SERVING_NAME


def _refuse_misconfigured(options: ConnectOptions) -> None:
    problem = explain(options)
    if problem is not None:
        raise CommandError(
            f"cannot connect to execstream at {options.target}: {problem}", EXIT_USAGE
        )


def describe_failure(options: ConnectOptions, error: grpc.RpcError) -> tuple[str, int]:
    """One line and the exit code for a failed connection, TLS problems named."""
    problem = explain(options)
    if problem is not None:
        return f"cannot connect to execstream at {options.target}: {problem}", EXIT_USAGE
    return str(unreachable(options.target, error)), EXIT_UNREACHABLE


def reconnecting(options: ConnectOptions, wait_s: float, err: Console) -> Backoff:
    """The backoff of a watch or a reporter: ``--wait`` seconds, and one line per outage.

    A connection lost midway (a server restart) is retried in the background; the line
    says so at the first failed try, so a pause in the output is never silent.
    """

    def announce() -> None:
        err.print(
            f"[dim]execstream at {options.target}: connection lost; "
            f"retrying for up to {wait_s:g}s…[/]"
        )

    return _AnnouncedBackoff(give_up_after=wait_s, announce=announce)


@dataclasses.dataclass(frozen=True, slots=True)
class _AnnouncedBackoff(Backoff):
    announce: Callable[[], None] = lambda: None

    def start(self) -> Attempts:
        return _AnnouncedAttempts(self)


class _AnnouncedAttempts(Attempts):
    def next_delay(self, at_least: float = 0.0) -> float | None:
        delay = super().next_delay(at_least)
        if delay is not None and self.failures == 1:
            cast(_AnnouncedBackoff, self.policy).announce()
        return delay
