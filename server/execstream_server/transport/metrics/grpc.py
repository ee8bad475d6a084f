"""go-grpc-prometheus's collectors: the names and labels community Grafana panels expect."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

from execstream_server.transport.methods import GO_CODE_NAMES


class GrpcMetrics:
    """go-grpc-prometheus names and labels, so community Grafana panels work unchanged."""

    def __init__(
        self, registry: CollectorRegistry, *, methods: Iterable[tuple[str, str, str]] = ()
    ) -> None:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.received = Counter(
            "grpc_server_msg_received", "Stream messages received.", labels, registry=registry
        )
        self.sent = Counter(
            "grpc_server_msg_sent", "Stream messages sent.", labels, registry=registry
        )
        self.seconds = Histogram(
            "grpc_server_handling_seconds",
            "Response latency of RPCs handled by the server.",
            labels,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
            registry=registry,
        )
        # Every method's counters, and every code of it, at 0 (as go-grpc-prometheus's
        # InitializeMetrics does), so the first call or error of each shows in increase().
        for method in methods:
            for counter in (self.started, self.received, self.sent):
                counter.labels(*method)
            for code in GO_CODE_NAMES.values():
                self.handled.labels(*method, code)
