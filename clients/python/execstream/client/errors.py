"""The client's exceptions: what a caller can act on, with the server's words kept."""

from __future__ import annotations

import grpc


class ExecstreamError(Exception):
    """Base of every error the client raises."""


class Unreachable(ExecstreamError):
    """The server could not be reached (within the reconnect budget, where there is one)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"cannot reach execstream at {target}: {reason}")
        self.target = target
        self.reason = reason


class ServerRefused(ExecstreamError):
    """The server answered with a status that retrying will not change."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        name = code.name if code is not None else "UNKNOWN"
        super().__init__(f"{name}: {details}")
        self.code = code
        self.details = details


class ResyncRequired(ExecstreamError):
    """The revision to resume from was compacted away (OUT_OF_RANGE): re-list, then watch.

    Take a snapshot and watch from its revision, or pass ``on_relist`` to ``watch`` to have
    the client do it.
    """

    def __init__(self, after_revision: int, details: str) -> None:
        super().__init__(f"revision {after_revision} is no longer retained: {details}")
        self.after_revision = after_revision


class ReportRefused(ServerRefused):
    """The server refused reported events (bad seq, ownership, a finished task, bad input).

    Events before the refused batch stay accepted; the reporter stops, since sending later
    events of the same task would only be refused as a gap.
    """


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
    return Unreachable(target, _reason(details_of(error)))


def details_of(error: grpc.RpcError) -> str:
    details = error.details() if hasattr(error, "details") else None
    return str(details or error)


def code_of(error: grpc.RpcError) -> grpc.StatusCode:
    code = error.code() if hasattr(error, "code") else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def refused(error: grpc.RpcError) -> ServerRefused:
    return ServerRefused(code_of(error), details_of(error))


def translate(target: str, error: grpc.RpcError) -> ExecstreamError:
    """UNAVAILABLE is ``Unreachable``; any other status is ``ServerRefused``."""
    if code_of(error) == grpc.StatusCode.UNAVAILABLE:
        return unreachable(target, error)
    return refused(error)
