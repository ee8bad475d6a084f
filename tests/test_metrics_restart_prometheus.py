"""After a SIGKILL and restart, a real Prometheus sees the cost counters continue, not reset.

docs/metrics.md promises that the embedded store's cost counters start from the durable
totals, so increase() neither loses money at a restart nor counts a task twice, while the
ordinary counters (ingest) reset as counters do. This checks both through Prometheus itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import event, free_port, report, stub_for, wait_for
from .support.processes import ServerProcess
from .support.prometheus_server import PrometheusServer

pytestmark = pytest.mark.prometheus

MODEL = 'backend="anthropic", model="claude-haiku-5-5"'


def run_task(address: str, task_id: str, tokens: int) -> service_pb.Snapshot:
    channel, stub = stub_for(address)
    with channel:
        events = [event(task_id, 1, "started", backend="anthropic", model="claude-haiku-5-5")]
        events += [event(task_id, 2 + i, "token", text="tok") for i in range(tokens)]
        usage = events_pb.Usage(input_tokens=1000, cache_read_tokens=4000, output_tokens=200)
        events.append(event(task_id, tokens + 2, "finished", usage=usage))
        report(stub, "sidecar-a", events)
        return stub.GetSnapshot(service_pb.GetSnapshotRequest())  # type: ignore[no-any-return]


def test_cost_counters_continue_across_a_restart_while_ingest_counters_reset(
    tmp_path: Path,
) -> None:
    metrics_port = free_port()
    server = ServerProcess(tmp_path / "x.db", "--metrics-port", str(metrics_port))
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{metrics_port}")
    cost = f"execstream_cost_usd_total{{{MODEL}}}"
    tokens_ingested = 'execstream_events_ingested_total{kind="TOKEN"}'
    try:
        server.start()
        prometheus.start()
        wait_for(lambda: prometheus.value(cost) == 0, timeout=20)  # scraped before any task
        first = run_task(server.address, "before", tokens=3).totals.cost_nanos / 1e9
        wait_for(lambda: prometheus.value(cost) == pytest.approx(first), timeout=20)
        server.kill()
        wait_for(lambda: prometheus.value('up{job="execstream"}') == 0, timeout=20)
        server.start()
        snapshot = run_task(server.address, "after", tokens=1)
        total = snapshot.totals.cost_nanos / 1e9
        assert total > first
        wait_for(lambda: prometheus.value(tokens_ingested) == 1, timeout=20)

        assert prometheus.value(f"resets({tokens_ingested}[5m])") == 1, "no restart was seen"
        assert prometheus.value(f"resets({cost}[5m])") == 0
        assert prometheus.value(cost) == pytest.approx(total, rel=1e-12)
        finished = f'execstream_tasks_finished_total{{{MODEL}, outcome="SUCCEEDED"}}'
        assert prometheus.value(f"resets({finished}[5m])") == 0
        assert prometheus.value(finished) == 2
    finally:
        prometheus.stop()
        if server.proc is not None:
            server.kill()
