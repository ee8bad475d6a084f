"""Taking the listening ports: a port that cannot be had is one line naming it.

gRPC reports a failed bind as "Failed to bind to address ...; set GRPC_VERBOSITY=debug",
without the reason; the metrics and dashboard HTTP servers as a bare ``OSError``. Either becomes a
``PortUnavailableError`` (a ``ConfigError``: ``execstream serve`` exits 2) naming the flag,
the address and why, which a plain socket bound to the same address tells us.

gRPC sets SO_REUSEPORT on its listening sockets by default, so a second server on a busy
port would start and silently take half the connections. ``SERVER_SOCKET_OPTIONS`` turns
that off: the second server fails here instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket

import grpc

from execstream_server.config import ConfigError

SERVER_SOCKET_OPTIONS: tuple[tuple[str, int], ...] = (("grpc.so_reuseport", 0),)


# What 0 means for each port flag, for the hint at the end of the error.
_ZERO = {
    "--port": "0 for a free one",
    "--metrics-port": "0 to turn metrics off",
    "--http-port": "0 to turn the dashboard off",
}


class PortUnavailableError(ConfigError):
    """A port to listen on is taken, not ours to take, or on an address we do not have."""

    def __init__(self, flag: str, host: str, port: int, reason: str) -> None:
        super().__init__(
            f"{flag} {port}: cannot listen on {_address(host, port)}: {reason} (pick another "
            f"{flag}, or {_ZERO.get(flag, '0 for a free one')})"
        )


def listen_grpc(
    server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None
) -> int:
    """Add the gRPC port to ``server``; return the port bound (``port`` 0: a free one)."""
    address = _address(host, port)
    try:
        if credentials is None:
            return int(server.add_insecure_port(address))
        return int(server.add_secure_port(address, credentials))
    except RuntimeError:
        raise PortUnavailableError("--port", host, port, why_unbindable(host, port)) from None


def port_error(flag: str, host: str, port: int, exc: OSError) -> PortUnavailableError:
    """The error for an HTTP port (metrics, dashboard) whose bind raised ``exc``.

    asyncio words its bind errors at length ("error while attempting to bind on address
    ...: address already in use"); the errno's own name is the one line needed.
    """
    reason = os.strerror(exc.errno) if exc.errno else exc.strerror or str(exc)
    return PortUnavailableError(flag, host, port, reason)


def why_unbindable(host: str, port: int) -> str:
    """Why a socket cannot listen on host:port, asked of the OS (a guess if it now can)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    family, kind, proto, _, sockaddr = infos[0]
    with contextlib.closing(socket.socket(family, kind, proto)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    return "address in use or not available"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
