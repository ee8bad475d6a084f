"""Series exist at 0 before their first increment, so increase() and rate() count it.

Prometheus takes a series' first sample as its starting point: a counter born at 1 shows an
increase of 0, which hid the first refusal of each reason and the first error of each gRPC
code. Every label with a fixed set of values is exported at 0 from the start, and a model's
series from the moment a task names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from execstream.v1 import errors_pb2 as errors_pb
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.transport.methods import GO_CODE_NAMES, served_methods
from execstream_server.transport.metrics import ServerMetrics

from .support.batches import committed
from .support.helpers import event, free_port, report, stub_for, wait_for
from .support.prometheus_server import PrometheusServer, require_prometheus
from .support.server_thread import ServerThread, make_config

REASONS = [
    value.name.lower()
    for value in errors_pb.ErrorReason.DESCRIPTOR.values
    if value.number != errors_pb.ERROR_REASON_UNSPECIFIED
]


def sample(metrics: ServerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.mark.parametrize("reason", REASONS)
def test_every_refusal_reason_starts_at_zero(reason: str) -> None:
    assert sample(ServerMetrics(), "execstream_events_rejected_total", reason=reason) == 0


def test_every_event_kind_and_status_starts_at_zero() -> None:
    metrics = ServerMetrics()
    for kind in events_pb.EventKind.DESCRIPTOR.values[1:]:
        name = kind.name.removeprefix("EVENT_KIND_")
        assert sample(metrics, "execstream_events_ingested_total", kind=name) == 0, name
    for status in events_pb.TaskStatus.DESCRIPTOR.values[1:]:
        name = status.name.removeprefix("TASK_STATUS_")
        assert sample(metrics, "execstream_tasks", status=name) == 0, name


def test_every_grpc_method_and_code_starts_at_zero() -> None:
    metrics = ServerMetrics()
    methods = served_methods()
    assert ("client_stream", "execstream.v1.ExecutionService", "ReportProgress") in methods
    assert ("unary", "grpc.health.v1.Health", "Check") in methods
    for rpc_type, service, method in methods:
        labels = {"grpc_type": rpc_type, "grpc_service": service, "grpc_method": method}
        assert sample(metrics, "grpc_server_started_total", **labels) == 0
        for code in GO_CODE_NAMES.values():
            handled = sample(metrics, "grpc_server_handled_total", **labels, grpc_code=code)
            assert handled == 0, (method, code)


def test_a_model_gets_its_series_when_a_task_names_it() -> None:
    metrics = ServerMetrics()
    labels = {"backend": "openai", "model": "gpt-unknown"}
    assert sample(metrics, "execstream_cost_usd_total", **labels) is None
    ev = event("t", 1, "started", backend="openai", model="gpt-unknown")
    started = state_pb.TaskState(task_id="t", backend="openai", model="gpt-unknown")
    metrics.on_batch(committed([ev], sidecar_id="side-a", local=False), [(None, started)])
    for name in ("execstream_cost_usd_total", "execstream_unpriced_tokens_total"):
        assert sample(metrics, name, **labels) == 0, name
    assert sample(metrics, "execstream_tasks_finished_total", **labels, outcome="FAILED") == 0


Scraped = tuple[ServerThread, PrometheusServer]


@pytest.fixture
def scraped_server(tmp_path: Path) -> Iterator[Scraped]:
    require_prometheus()
    server = ServerThread(make_config(tmp_path, metrics_port=free_port())).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{server.app.metrics_port}")
    try:
        prometheus.start()
        wait_for(lambda: prometheus.value('up{job="execstream"}') == 1, timeout=20)
        yield server, prometheus
    finally:
        prometheus.stop()
        server.stop()


@pytest.mark.prometheus
def test_the_first_refusal_shows_in_increase(scraped_server: Scraped) -> None:
    server, prometheus = scraped_server
    channel, stub = stub_for(server.address)
    with channel, pytest.raises(grpc.RpcError):
        report(stub, "sidecar-a", [event("gap", 2)])
    refused = 'execstream_events_rejected_total{reason="seq_gap"}'
    failed = (
        'grpc_server_handled_total{grpc_method="ReportProgress", grpc_code="FailedPrecondition"}'
    )
    wait_for(lambda: prometheus.value(f"sum({refused})") == 1, timeout=20)
    wait_for(lambda: prometheus.value(f"sum({failed})") == 1, timeout=20)
    assert prometheus.value(f"sum(increase({refused}[1m]))") >= 1  # type: ignore[operator]
    assert prometheus.value(f"sum(increase({failed}[1m]))") >= 1  # type: ignore[operator]
