"""Breakdowns by task label: allowlisted keys on the cost metrics, snapshot totals by any key.

``--metric-label-keys team`` puts each task's ``team`` label on the cost and token series
(values capped per key); ``GetSnapshotRequest.group_by_label`` groups the totals by any
key; ``execstream dashboard --label-keys team`` writes the dashboard with a ``team``
variable and a "Spend by team in range" panel, whose every query runs here against a real
Prometheus and agrees with the snapshot.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import parse_label_keys
from execstream_server.domain.label_totals import label_totals
from execstream_server.transport.metrics import ServerMetrics

from .support import grafana_dashboard as dashboard
from .support.batches import committed
from .support.helpers import error_details, event, free_port, report, stub_for, wait_for
from .support.prometheus_server import PrometheusServer, require_prometheus
from .support.server_thread import ServerThread, make_config

ROOT = Path(__file__).resolve().parents[1]
NANOS = 1e9
OPUS = {"backend": "anthropic", "model": "claude-opus-5-5"}
# (task, team, output tokens): on claude-opus-5-5 1,000 output tokens cost $0.02.
TASKS = (("a1", "alpha", 1000), ("a2", "alpha", 3000), ("b1", "beta", 500), ("n1", "", 200))


# -- the flag ------------------------------------------------------------------------------
def test_label_keys_must_be_free_prometheus_label_names() -> None:
    assert parse_label_keys(" team, project ,") == ("team", "project")
    for bad, problem in (
        ("Team", "cannot be a metric label"),
        ("app.name", "cannot be a metric label"),
        ("__x", "cannot be a metric label"),
        ("model", "already use"),
        ("team,team", "twice"),
        (",".join(f"k{i}" for i in range(9)), "at most 8"),
    ):
        with pytest.raises(ValueError, match=problem):
            parse_label_keys(bad)
    assert len(parse_label_keys(",".join(f"k{i}" for i in range(8)))) == 8


def test_values_past_the_cap_are_other_and_counted() -> None:
    metrics = ServerMetrics(label_keys=["team"], max_label_values=2)
    changes = []
    for i in range(4):
        done = state_pb.TaskState(task_id=f"t{i}", status=events_pb.TASK_STATUS_SUCCEEDED)
        done.backend, done.model = OPUS["backend"], OPUS["model"]
        done.labels["team"] = f"team-{i}"
        done.cost.actual.total_nanos = 1000
        changes.append((None, done))
    metrics.on_batch(committed([event("t", 1, "finished")]), changes)
    sample = metrics.registry.get_sample_value
    labels = {**OPUS}
    assert sample("execstream_cost_usd_total", labels | {"team": "team-1"}) == 1e-6  # at the cap
    assert sample("execstream_cost_usd_total", labels | {"team": "other"}) == 2e-6  # past it
    assert sample("execstream_metric_label_overflow_total", {"label": "team"}) == 2


def test_snapshot_totals_by_label_sum_each_value() -> None:
    states = []
    for task, team, cost, done in (("a", "x", 5, True), ("b", "x", 7, False), ("c", "", 3, True)):
        state = state_pb.TaskState(task_id=task)
        state.status = events_pb.TASK_STATUS_SUCCEEDED if done else events_pb.TASK_STATUS_RUNNING
        if team:
            state.labels["team"] = team
        state.cost.actual.total_nanos = cost
        states.append(state)
    none, x = label_totals(states, "team")
    assert (none.value, none.tasks, none.cost_nanos) == ("", 1, 3)
    assert (x.value, x.tasks, x.cost_nanos, x.running_tasks, x.running_cost_nanos) == (
        "x",
        1,
        5,
        1,
        7,
    )


def test_which_label_values_keep_rows_depends_only_on_the_sums() -> None:
    states = []
    for i in range(30):
        state = state_pb.TaskState(task_id=f"t{i}", status=events_pb.TASK_STATUS_SUCCEEDED)
        state.labels["user"] = f"u{i % 10}"
        state.cost.actual.total_nanos = (i % 10) * 100 + 1
        states.append(state)
    seen = set()
    for seed in range(4):
        random.Random(seed).shuffle(states)
        entries = label_totals(states, "user", max_values=4)
        seen.add(tuple((row.value, row.cost_nanos, row.folded_values) for row in entries))
    [shown] = seen
    assert [value for value, _, _ in shown] == ["u6", "u7", "u8", "u9", "other"]
    assert shown[-1][1:] == (sum(3 * (i * 100 + 1) for i in range(6)), 6)


# -- a real server and Prometheus ----------------------------------------------------------
@dataclass(frozen=True)
class Labelled:
    prometheus: PrometheusServer
    snapshot: service_pb.Snapshot
    board: dict[str, Any]
    end: float


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labelled]:
    require_prometheus()
    tmp_path = tmp_path_factory.mktemp("labels")
    config = make_config(tmp_path, metrics_port=free_port(), metric_label_keys=("team",))
    server = ServerThread(config).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{server.app.metrics_port}")
    done = subprocess.run(
        [sys.executable, "-m", "execstream", "dashboard", "--label-keys", "team"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    try:
        prometheus.start()
        channel, stub = stub_for(server.address)
        with channel:
            wait_for(lambda: prometheus.value('up{job="execstream"}') == 1, timeout=20)
            for task, team, _ in TASKS:
                labels = {"team": team} if team else {}
                report(stub, "side", [event(task, 1, "started", labels=labels, **OPUS)])
            prometheus.wait_for_scrape(after=time.time())
            for task, _, tokens in TASKS:
                usage = events_pb.Usage(output_tokens=tokens)
                report(stub, "side", [event(task, 2, "finished", usage=usage)])
            report(stub, "side", [event("live", 1, "started", labels={"team": "alpha"}, **OPUS)])
            report(
                stub, "side", [event("live", 2, "usage", usage=events_pb.Usage(output_tokens=50))]
            )
            request = service_pb.GetSnapshotRequest(group_by_label="team")
            snapshot = stub.GetSnapshot(request)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetSnapshot(service_pb.GetSnapshotRequest(group_by_label="k" * 65))
            info = error_details(refused.value)["ErrorInfo"]
            assert (info.reason, info.metadata["field"]) == ("INVALID_FIELD", "group_by_label")
        wait_for(lambda: prometheus.value("sum(execstream_tasks_finished_total)") == len(TASKS))
        prometheus.wait_for_scrape(after=time.time())
        yield Labelled(prometheus, snapshot, json.loads(done.stdout), time.time())
    finally:
        prometheus.stop()
        server.stop()


@pytest.mark.server
@pytest.mark.prometheus
def test_the_snapshot_groups_the_totals_by_team(labelled: Labelled) -> None:
    by_team = {entry.value: entry for entry in labelled.snapshot.totals.by_label}
    assert set(by_team) == {"", "alpha", "beta"}
    assert (by_team["alpha"].tasks, by_team["alpha"].running_tasks) == (2, 1)
    assert by_team["alpha"].cost_nanos == int(0.08 * NANOS)
    assert by_team["alpha"].running_cost_nanos == int(0.001 * NANOS)
    assert sum(e.cost_nanos for e in by_team.values()) == labelled.snapshot.totals.cost_nanos


@pytest.mark.server
@pytest.mark.prometheus
def test_every_query_filtered_by_team_runs_and_the_money_ones_show_numbers(
    labelled: Labelled,
) -> None:
    """(The full workload behind every panel is tests/test_dashboard_queries.py's.)"""
    names = [v["name"] for v in labelled.board["templating"]["list"]]
    assert names == ["datasource", "backend", "model", "team"]
    filtered = [q for q in dashboard.queries(labelled.board) if "$team" in q.expr]
    money = [q for q in filtered if "execstream_cost_usd_total" in q.expr]
    assert len(money) >= 8
    empty = []
    for query in filtered:
        result = labelled.prometheus.query(dashboard.to_promql(query.expr, team=".*"))
        values = [float(sample["value"][1]) for sample in result]
        if query in money and not any(math.isfinite(v) for v in values):
            empty.append(query.name)
    assert not empty, empty
    unfiltered = [q.name for q in dashboard.queries(labelled.board) if q not in filtered]
    assert all("cost_usd" not in name for name in unfiltered)


@pytest.mark.server
@pytest.mark.prometheus
def test_spend_by_team_equals_the_snapshot_and_the_variable_lists_each_team(
    labelled: Labelled,
) -> None:
    [target] = dashboard.panel(labelled.board, "Spend by team in range")["targets"]
    result = labelled.prometheus.query(dashboard.to_promql(target["expr"], team=".*"))
    shown = {sample["metric"]["team"]: float(sample["value"][1]) for sample in result}
    expected = {
        e.value or "(none)": e.cost_nanos / NANOS for e in labelled.snapshot.totals.by_label
    }
    assert shown == pytest.approx(expected, rel=1e-12)
    [variable] = [v for v in labelled.board["templating"]["list"] if v["name"] == "team"]
    selector, label = dashboard.label_values_query(variable["definition"])
    values = labelled.prometheus.api(
        f"label/{label}/values", **{"match[]": dashboard.to_promql(selector)}
    )
    assert {"alpha", "beta"} <= set(values)
    one_team = dashboard.panel(labelled.board, "Spend in range")["targets"][0]["expr"]
    beta = labelled.prometheus.value(dashboard.to_promql(one_team, team="beta"))
    assert beta == pytest.approx(0.01, rel=1e-12)


def test_the_dashboard_command_refuses_a_bad_key() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "execstream", "dashboard", "--label-keys", "model"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --label-keys: 'model' is a label the metrics already use"


def test_without_keys_the_dashboard_command_writes_the_shipped_dashboard() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "execstream", "dashboard"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == dashboard.load()
