"""Budgets in a running server: events in the task's stream, snapshot, log, metrics, alerts.

A monthly budget for the ``team=research`` label and a per-task budget; tasks on
claude-opus-5-5 (4 USD per million input tokens, 20 per million output: 1,000 output tokens
cost $0.02) take them over 80 % and 100 %.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import error_details, event, free_port, report, stub_for, wait_for
from .support.prometheus_server import PrometheusServer, require_prometheus
from .support.redis_server import RedisServer
from .support.server_thread import ServerThread, make_config

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[1]
BUDGETS = """
[budgets.research-monthly]
amount_usd = "0.10"
period = "month"
labels = { team = "research" }

[budgets.each-task]
amount_usd = "0.15"
per_task = true
"""
OPUS = {"backend": "anthropic", "model": "claude-opus-5-5"}
NANOS = 1_000_000_000


def out(tokens: int) -> events_pb.Usage:
    return events_pb.Usage(output_tokens=tokens)


def started(task: str, team: str) -> events_pb.ExecutionEvent:
    return event(task, 1, "started", labels={"team": team}, **OPUS)


def budget_server(tmp_path: Path, **overrides: Any) -> ServerThread:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "budgets.toml"
    path.write_text(BUDGETS)
    return ServerThread(make_config(tmp_path, budgets=str(path), **overrides)).start()


def run_workload(stub: Any) -> None:
    """research: $0.05 then $0.052 (82 % on r2's update, 102 % at its finish); i1: $0.20."""
    report(stub, "side-a", [started("r1", "research"), event("r1", 2, "usage", usage=out(2000))])
    report(stub, "side-a", [event("r1", 3, "finished", usage=out(2500))])
    report(stub, "side-a", [started("r2", "research"), event("r2", 2, "usage", usage=out(1600))])
    report(stub, "side-b", [started("i1", "infra"), event("i1", 2, "finished", usage=out(10_000))])


def stream(stub: Any, task: str, after: int = 0) -> list[events_pb.ExecutionEvent]:
    """The task's stored events, read with a watch that replays and stops when caught up."""
    events: list[events_pb.ExecutionEvent] = []
    request = service_pb.WatchExecutionRequest(task_ids=[task], after_revision=after)
    for response in stub.WatchExecution(request, timeout=10):
        events.extend(response.events)
        if response.HasField("progress") and response.progress.caught_up:
            break
    return events


def crossings(events: list[events_pb.ExecutionEvent]) -> list[tuple[str, int]]:
    return [(e.budget.budget, e.budget.threshold_percent) for e in events if e.HasField("budget")]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    thread = budget_server(tmp_path)
    yield thread
    thread.stop()


def test_a_crossing_is_an_event_in_the_stream_of_the_task_that_caused_it(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    channel, stub = stub_for(server.address)
    with channel, caplog.at_level(logging.WARNING, logger="execstream.budgets"):
        run_workload(stub)
        wait_for(lambda: crossings(stream(stub, "r2")) == [("research-monthly", 80)])
        report(stub, "side-a", [event("r2", 3, "finished", usage=out(2600))])
        wait_for(lambda: len(crossings(stream(stub, "r2"))) == 2)
        r2 = stream(stub, "r2")
        assert crossings(r2) == [("research-monthly", 80), ("research-monthly", 100)]
        assert [e.seq for e in r2] == [1, 2, 0, 3, 0], "server events sit after their cause"
        written = [e for e in r2 if e.HasField("budget")]
        assert all(e.sidecar_id == "side-a" for e in written)
        assert written[1].budget.spent_nanos == int(0.102 * NANOS)
        assert written[1].budget.amount_nanos == int(0.10 * NANOS)
        assert written[1].budget.period == "month" and written[1].budget.scope == "label"
        assert crossings(stream(stub, "i1")) == [("each-task", 80), ("each-task", 100)]
        assert crossings(stream(stub, "r1")) == []
    lines = [r.getMessage() for r in caplog.records if r.name == "execstream.budgets"]
    assert any("budget research-monthly (label, month from" in line for line in lines), lines
    assert any("reached 100%: $0.1020 of $0.1000, with task r2" in line for line in lines), lines


def test_the_servers_events_leave_the_sidecars_seqs_alone(server: ServerThread) -> None:
    channel, stub = stub_for(server.address)
    with channel:
        run_workload(stub)
        wait_for(lambda: crossings(stream(stub, "r2")) == [("research-monthly", 80)])
        [r2] = stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=["r2"])).tasks
        assert (r2.last_seq, r2.event_count) == (2, 3)
        again = report(stub, "side-a", [event("r2", 2, "usage", usage=out(1600))])
        assert again.duplicates == 1, "a resent seq is still a duplicate"
        with pytest.raises(grpc.RpcError) as conflict:
            report(stub, "side-a", [event("r2", 2, "usage", usage=out(1700))])
        assert error_details(conflict.value)["ErrorInfo"].reason == "SEQ_CONFLICT"
        report(stub, "side-a", [event("r2", 3, "token", text="more")])
        forged = event("r2", 4, "none")
        forged.budget.budget = "research-monthly"
        with pytest.raises(grpc.RpcError) as refused:
            report(stub, "side-a", [forged])
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "events[0].budget" in refused.value.details()


def test_the_snapshot_and_the_metrics_show_each_budget(server: ServerThread) -> None:
    channel, stub = stub_for(server.address)
    with channel:
        run_workload(stub)
        report(stub, "side-a", [event("r2", 3, "finished", usage=out(2600))])
        snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
    research, each = snapshot.budgets
    assert (research.name, research.scope, research.period) == (
        "research-monthly",
        "label",
        "month",
    )
    assert research.spent_nanos == int(0.102 * NANOS) and research.reached_percent == 100
    assert dict(research.labels) == {"team": "research"} and research.period_start.seconds
    assert (each.scope, each.tasks_over, each.spent_nanos) == ("task", 1, 0)
    metrics = server.app.metrics
    assert metrics is not None
    labels = {"budget": "research-monthly", "scope": "label", "period": "month"}
    sample = metrics.registry.get_sample_value
    assert sample("execstream_budget_used_ratio", labels) == pytest.approx(1.02)
    assert sample("execstream_budget_spent_usd", labels) == pytest.approx(0.102)
    wait_for(lambda: sample("execstream_budget_crossings_total", labels | {"threshold": "1"}) == 1)
    assert sample("execstream_budget_crossings_total", labels | {"threshold": "0.8"}) == 1


def test_a_restart_rebuilds_the_books_and_writes_no_crossing_twice(tmp_path: Path) -> None:
    server = budget_server(tmp_path)
    channel, stub = stub_for(server.address)
    with channel:
        run_workload(stub)
        wait_for(lambda: crossings(stream(stub, "r2")) == [("research-monthly", 80)])
        before = stub.GetSnapshot(service_pb.GetSnapshotRequest())
    server.stop()
    server = budget_server(tmp_path)
    try:
        channel, stub = stub_for(server.address)
        with channel:
            after = stub.GetSnapshot(service_pb.GetSnapshotRequest())
            assert list(after.budgets) == list(before.budgets)
            report(stub, "side-a", [event("r2", 3, "token", text="still running")])
            assert crossings(stream(stub, "r2")) == [("research-monthly", 80)]
    finally:
        server.stop()


@pytest.mark.prometheus
def test_a_monthly_team_budget_alerts_in_prometheus(tmp_path: Path) -> None:
    """The user's path: a budgets file, the shipped alert rules, a real Prometheus."""
    require_prometheus()
    server = budget_server(tmp_path, metrics_port=free_port())
    rules = (ROOT / "deploy" / "prometheus" / "alerts.yml",)
    target = f"127.0.0.1:{server.app.metrics_port}"
    prometheus = PrometheusServer(tmp_path / "prometheus", target, rule_files=rules)
    channel, stub = stub_for(server.address)
    try:
        prometheus.start()
        wait_for(lambda: prometheus.value('up{job="execstream"}') == 1, timeout=20)
        run_workload(stub)
        wait_for(lambda: prometheus.firing("ExecstreamBudgetNearlySpent"), timeout=30)
        [nearly] = prometheus.firing("ExecstreamBudgetNearlySpent")
        budget = (nearly["budget"], nearly["scope"], nearly["period"])
        assert budget == ("research-monthly", "label", "month")
        report(stub, "side-a", [event("r2", 3, "finished", usage=out(2600))])
        wait_for(lambda: prometheus.firing("ExecstreamBudgetExceeded"), timeout=30)
        exceeded = [alert["budget"] for alert in prometheus.firing("ExecstreamBudgetExceeded")]
        assert exceeded == ["research-monthly"]
        wait_for(lambda: prometheus.firing("ExecstreamTaskBudgetExceeded"), timeout=30)
        assert prometheus.firing("ExecstreamTaskBudgetExceeded")[0]["budget"] == "each-task"
    finally:
        channel.close()
        prometheus.stop()
        server.stop()


@pytest.mark.redis
def test_replicas_on_a_shared_store_write_each_crossing_once(tmp_path: Path) -> None:
    """Every replica keeps the same books; only the one that committed the cause writes."""
    redis = RedisServer(tmp_path / "redis").start()
    replicas = [budget_server(tmp_path / name, store=redis.url) for name in ("one", "two")]
    try:
        channels = [stub_for(replica.address) for replica in replicas]
        (_, first), (_, second) = channels
        report(first, "side-a", [started("r1", "research")])
        report(second, "side-a", [event("r1", 2, "usage", usage=out(2000))])  # 40 %
        report(first, "side-a", [started("r2", "research")])
        report(second, "side-a", [event("r2", 2, "usage", usage=out(2200))])  # 84 %: on two
        report(first, "side-a", [event("r2", 3, "finished", usage=out(3500))])  # 110 %: one
        expected = [("research-monthly", 80), ("research-monthly", 100)]

        def written(stub: Any) -> list[tuple[str, int]]:
            return crossings(stream(stub, "r2"))

        def sees_all(stub: Any) -> bool:
            return written(stub) == expected

        for _, stub in channels:
            wait_for(partial(sees_all, stub))
        # Both replicas folded the same books (and saw the budget events come back), with
        # each cost booked on the day of Redis's clock, the same for both.
        split = []
        for replica, (_, stub) in zip(replicas, channels, strict=True):
            snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
            split.append({t.task_id: list(t.spend_by_day) for t in snapshot.tasks})
            research = snapshot.budgets[0]
            assert research.spent_nanos == int(0.11 * NANOS)
            metrics = replica.app.metrics
            assert metrics is not None
            labels = {"budget": "research-monthly", "scope": "label", "period": "month"}
            crossed = metrics.registry.get_sample_value
            assert crossed("execstream_budget_crossings_total", labels | {"threshold": "1"}) == 1
        assert split[0] == split[1] and sum(e.nanos for e in split[0]["r2"]) == 70_000_000
        report(second, "side-a", [started("r3", "research")])  # a later batch, to be sure

        def sees_r3(stub: Any) -> bool:
            return len(stream(stub, "r3")) == 1

        for _, stub in channels:
            wait_for(partial(sees_r3, stub))
            assert written(stub) == expected, "written once"
        for channel, _ in channels:
            channel.close()
    finally:
        for replica in replicas:
            replica.stop()
        redis.kill()
