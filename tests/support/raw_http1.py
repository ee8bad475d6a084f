"""HTTP/1.1 over a bare socket, for what an HTTP client library will not do: announce a body
and withhold it, stop reading a response, or look at the connection after the answer.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

SERVICE = "/execstream.v1.ExecutionService/"


@dataclass
class RawAnswer:
    """An HTTP/1.1 response head (and whatever body bytes came with it)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class RawConnection:
    """One TCP connection to the HTTP port; ``send_head`` writes a request head only."""

    def __init__(self, port: int, *, receive_buffer: int | None = None) -> None:
        self.port = port
        self.sock = socket.socket()
        if receive_buffer is not None:  # before connect, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(10)

    def send_head(
        self, method: str, headers: dict[str, str], *, content_length: int, path: str = "/"
    ) -> None:
        lines = [f"POST {SERVICE}{method} HTTP/1.1" if path == "/" else f"POST {path} HTTP/1.1"]
        merged = {"Host": f"127.0.0.1:{self.port}", "Content-Length": str(content_length)}
        lines += [f"{k}: {v}" for k, v in (merged | headers).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_head(self) -> RawAnswer:
        """Read until the end of the response head (fails on timeout)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return RawAnswer(int(lines[0].split()[1]), headers, body)

    def close(self) -> None:
        self.sock.close()


def server_side_connections(port: int) -> int:
    """Established TCP connections accepted on the loopback ``port`` (from /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if int(local.split(":")[1], 16) == port and state == "01":  # 01: ESTABLISHED
            count += 1
    return count
