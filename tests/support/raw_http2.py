"""One HTTP/2 POST with any content type and body, as a non-gRPC client would send it.

gRPC clients always frame their messages; this sends whatever bytes it is given (a JSON
body, a truncated length prefix) over cleartext HTTP/2, and returns the response headers
and trailers the server sent within ``timeout`` (or None when it sent none in time).
"""

from __future__ import annotations

import socket
import time

import h2.config
import h2.connection
import h2.events


def post(
    port: int,
    path: str,
    body: bytes,
    content_type: str,
    timeout: float,
    *,
    first_headers: bool = False,
) -> dict[str, str] | None:
    """Headers and trailers of the response, merged; None if the server said nothing.

    With ``first_headers`` it returns at the response's first headers (a streaming answer
    has begun) instead of waiting for the stream to end.
    """
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        conn.initiate_connection()
        conn.send_headers(
            1,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", f"127.0.0.1:{port}"),
                (":path", path),
                ("content-type", content_type),
                ("te", "trailers"),
            ],
        )
        conn.send_data(1, body, end_stream=True)
        sock.sendall(conn.data_to_send())
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return found or None
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    found.update((k.decode(), v.decode()) for k, v in event.headers)
                    if first_headers:
                        return found
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return found
            sock.sendall(conn.data_to_send())
    return None
