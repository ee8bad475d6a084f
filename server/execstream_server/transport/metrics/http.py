"""The /metrics endpoint: prometheus_client's HTTP server on its own port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server


class MetricsHttpServer:
    """/metrics on its own port, stopped with the server."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        self.port = int(self._httpd.server_port)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
