"""The live cost meter end to end: snapshot, metrics and a real Prometheus agree at every step.

Tasks send usage updates, retry, finish with and without a final figure, and the server
restarts midway. After every step, a Prometheus scrape and a snapshot must agree:
the cost counters hold exactly the finished tasks' costs, the running-cost gauge exactly
what running tasks have committed (settled attempts plus their latest update), so the two
together are every committed nano-USD, each counted once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.lifecycle import is_terminal

from .support.helpers import event, free_port, report, stub_for, wait_for
from .support.prometheus_server import PrometheusServer, require_prometheus
from .support.server_thread import ServerThread, make_config

pytestmark = pytest.mark.prometheus
USD = 1e9
RETRYING = events_pb.TASK_STATUS_RETRYING
BACKEND, MODEL = "anthropic", "claude-haiku-5-5"


def usage(input_tokens: int, output_tokens: int, *, estimated: bool = False) -> events_pb.Usage:
    return events_pb.Usage(
        input_tokens=input_tokens, output_tokens=output_tokens, estimated=estimated
    )


@dataclass
class Harness:
    tmp_path: Path
    metrics_port: int
    prometheus: PrometheusServer
    server: ServerThread
    seqs: dict[str, int]

    def start_server(self) -> None:
        config = make_config(self.tmp_path, metrics_port=self.metrics_port)
        self.server = ServerThread(config).start()

    def send(self, task: str, body: str, attempt: int = 1, **fields: object) -> None:
        self.seqs[task] = self.seqs.get(task, 0) + 1
        ev = event(task, self.seqs[task], body, **fields)
        ev.attempt = attempt
        channel, stub = stub_for(self.server.address)
        with channel:
            report(stub, "meter-sidecar", [ev])

    def snapshot(self) -> service_pb.Snapshot:
        channel, stub = stub_for(self.server.address)
        with channel:
            snapshot: service_pb.Snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
        return snapshot

    def check(self) -> tuple[int, int]:
        """Scrape, then compare; return (finished, running) nano-USD."""
        self.prometheus.wait_for_scrape(after=time.time())
        snapshot = self.snapshot()
        finished = sum(t.cost.actual.total_nanos for t in snapshot.tasks if is_terminal(t.status))
        running = sum(committed_nanos(t) for t in snapshot.tasks if not is_terminal(t.status))
        interim = sum(t.interim.cost.actual.total_nanos for t in snapshot.tasks)
        totals = snapshot.totals
        assert (totals.cost_nanos, totals.running_cost_nanos) == (finished, running)
        assert totals.interim_cost_nanos == interim
        counted = self.prometheus.value("sum(execstream_cost_usd_total)")
        shown = self.prometheus.value("sum(execstream_running_cost_usd)") or 0.0
        assert counted == pytest.approx(finished / USD, rel=1e-12, abs=1e-15)
        assert shown == pytest.approx(running / USD, rel=1e-12, abs=1e-15)
        return finished, running


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    require_prometheus()
    port = free_port()
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{port}")
    config = make_config(tmp_path, metrics_port=port)
    h = Harness(tmp_path, port, prometheus, ServerThread(config).start(), {})
    try:
        prometheus.start()
        wait_for(lambda: prometheus.value('up{job="execstream"}') == 1, timeout=20)
        yield h
    finally:
        prometheus.stop()
        h.server.stop()


def test_counters_and_the_running_gauge_hold_every_committed_cost_once(harness: Harness) -> None:
    h = harness
    h.send("a", "started", backend=BACKEND, model=MODEL)
    h.send("a", "usage", usage=usage(1000, 100))
    _, running = h.check()
    assert running > 0, "an update shows before the task finishes"
    h.send("a", "usage", usage=usage(1000, 300))
    _, grown = h.check()
    assert grown > running, "a later update replaces the earlier one"
    h.send("a", "status", status=RETRYING, usage=usage(1000, 350))  # attempt 1's final
    h.send("b", "started", backend=BACKEND, model=MODEL)
    h.send("b", "usage", usage=usage(500, 50, estimated=True))
    before_restart = h.check()

    h.server.stop()
    h.start_server()
    assert h.check() == before_restart, "a restart rebuilds the gauge and the counters"

    h.send("a", "usage", attempt=2, usage=usage(1000, 20))
    h.check()
    h.send("a", "finished", attempt=2, usage=usage(1000, 40))
    finished, running = h.check()
    [a] = [t for t in h.snapshot().tasks if t.task_id == "a"]
    assert finished == a.cost.actual.total_nanos > 0
    assert a.usage.output_tokens == 350 + 40, "each attempt counted once, by its final figure"
    h.send("b", "finished", outcome=events_pb.OUTCOME_CANCELLED)  # keeps its estimate
    finished, running = h.check()
    assert running == 0
    [b] = [t for t in h.snapshot().tasks if t.task_id == "b"]
    assert b.usage.output_tokens == 50 and b.cost.estimated
    assert finished == a.cost.actual.total_nanos + b.cost.actual.total_nanos
