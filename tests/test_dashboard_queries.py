"""Every query of the Grafana dashboard, run by a real Prometheus that scraped a real server.

The workload runs in two rounds with a scrape between them, so each series the dashboard
reads exists before it grows: every rate() has something to measure, and every panel must
show a number, not just a series.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .support import grafana_dashboard as dashboard
from .support.helpers import event, free_port, report, stub_for, wait_for
from .support.prometheus_server import PrometheusServer, require_prometheus
from .support.server_thread import ServerThread, make_config

pytestmark = pytest.mark.prometheus

# (task id prefix, backend, model, outcome, usage): a priced Claude model (cheaper than the
# reference), a dearer one that fails, a local model, and a model with no price.
TASKS = (
    (
        "haiku",
        "anthropic",
        "claude-haiku-5-5",
        events_pb.OUTCOME_SUCCEEDED,
        events_pb.Usage(
            input_tokens=1200,
            cache_read_tokens=5000,
            cache_write_tokens=800,
            output_tokens=300,
            reasoning_tokens=100,
        ),
    ),
    (
        "opus",
        "anthropic",
        "claude-opus-5-5",
        events_pb.OUTCOME_FAILED,
        events_pb.Usage(input_tokens=2000, output_tokens=50),
    ),
    (
        "llama",
        "ollama",
        "llama3.2:3b",
        events_pb.OUTCOME_SUCCEEDED,
        events_pb.Usage(input_tokens=900, output_tokens=250, estimated=True),
    ),
    (
        "mystery",
        "openai",
        "gpt-mystery-1",
        events_pb.OUTCOME_SUCCEEDED,
        events_pb.Usage(input_tokens=300, output_tokens=40),
    ),
)
NANOS_PER_USD = 1e9


def timed(ev: events_pb.ExecutionEvent, at_ns: int) -> events_pb.ExecutionEvent:
    ev.time.FromNanoseconds(at_ns)
    return ev


def run_round(stub: service_pb2_grpc.ExecutionServiceStub, round_no: int) -> None:
    """One task per model with sidecar times, a duplicate, a refused gap and a snapshot."""
    start = time.time_ns() - 3_000_000_000
    batches = []
    for prefix, backend, model, outcome, usage in TASKS:
        task = f"{prefix}-{round_no}"
        batches.append(
            [
                timed(event(task, 1, "started", backend=backend, model=model), start),
                timed(event(task, 2, "token", text="Hel"), start + 250_000_000),
                timed(event(task, 3, "token", text="lo"), start + 500_000_000),
                timed(event(task, 4, "finished", outcome=outcome, usage=usage), start + 2 * 10**9),
            ]
        )
    report(stub, "sidecar-a", *batches)
    report(stub, "sidecar-a", batches[0][-1:])  # a resend: acknowledged as a duplicate
    with pytest.raises(grpc.RpcError) as refused:
        report(stub, "sidecar-a", [event(f"gap-{round_no}", 3)])
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stub.GetSnapshot(service_pb.GetSnapshotRequest())


@pytest.fixture(scope="module")
def scraped(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PrometheusServer, service_pb.Snapshot]]:
    """A server that ran the workload, and a Prometheus that has scraped all of it."""
    require_prometheus()
    tmp_path = tmp_path_factory.mktemp("dashboard")
    server = ServerThread(make_config(tmp_path, metrics_port=free_port())).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{server.app.metrics_port}")
    try:
        prometheus.start()
        channel, stub = stub_for(server.address)
        with channel:
            wait_for(lambda: prometheus.value('up{job="execstream"}') == 1, timeout=20)
            run_round(stub, 1)
            wait_for(lambda: prometheus.value("sum(execstream_tasks_finished_total)") == 4, 20)
            run_round(stub, 2)
            snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
        assert snapshot.totals.cost_nanos > 0 and snapshot.totals.unpriced_tasks == 2
        wait_for(lambda: prometheus.value("sum(execstream_tasks_finished_total)") == 8, 20)
        yield prometheus, snapshot
    finally:
        prometheus.stop()
        server.stop()


def test_every_dashboard_query_returns_numbers(
    scraped: tuple[PrometheusServer, service_pb.Snapshot],
) -> None:
    prometheus, _ = scraped
    empty = []
    for query in dashboard.queries(dashboard.load()):
        result = prometheus.query(dashboard.to_promql(query.expr))
        values = [float(sample["value"][1]) for sample in result]
        if not any(math.isfinite(v) for v in values):
            empty.append(f"{query.name}: {query.expr} -> {values}")
    assert not empty, "queries without a number:\n" + "\n".join(empty)


def test_prometheus_totals_equal_the_snapshot_totals(
    scraped: tuple[PrometheusServer, service_pb.Snapshot],
) -> None:
    prometheus, snapshot = scraped
    totals = snapshot.totals
    for metric, nanos in (
        ("execstream_cost_usd_total", totals.cost_nanos),
        ("execstream_reference_cost_usd_total", totals.reference_cost_nanos),
    ):
        reported = prometheus.value(f"sum(sum without (instance) ({metric}))")
        assert reported == pytest.approx(nanos / NANOS_PER_USD, rel=1e-12, abs=1e-15), metric
    for model in totals.by_model:
        labels = f'backend="{model.backend}", model="{model.model}"'
        cost = prometheus.value(f"sum(execstream_cost_usd_total{{{labels}}})")
        assert cost == pytest.approx(model.cost_nanos / NANOS_PER_USD, rel=1e-12, abs=1e-15)
        tokens = prometheus.value(f"sum(execstream_tokens_total{{{labels}}})")
        usage = model.usage
        assert tokens == (
            usage.input_tokens
            + usage.cache_read_tokens
            + usage.cache_write_tokens
            + usage.cache_write_one_hour_tokens
            + usage.output_tokens
        ), model.model
    savings = prometheus.value(
        "sum(execstream_reference_cost_usd_total) - sum(execstream_cost_usd_total)"
    )
    assert savings == pytest.approx(totals.savings_nanos / NANOS_PER_USD, rel=1e-9, abs=1e-15)
    assert prometheus.value("sum(execstream_unpriced_tokens_total)") == 2 * (300 + 40)


def test_the_filter_variables_list_every_backend_and_model(
    scraped: tuple[PrometheusServer, service_pb.Snapshot],
) -> None:
    prometheus, _ = scraped
    found = {}
    for variable in dashboard.load()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        selector, label = dashboard.label_values_query(variable["definition"])
        found[variable["name"]] = set(
            prometheus.api(f"label/{label}/values", **{"match[]": dashboard.to_promql(selector)})
        )
    assert {"anthropic", "ollama", "openai"} <= found["backend"]
    assert {"claude-haiku-5-5", "llama3.2:3b", "gpt-mystery-1"} <= found["model"]
