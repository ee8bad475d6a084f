"""Every query of the Grafana dashboard, run by a real Prometheus that scraped a real server.

The workload runs in two identical rounds with a scrape between them, so each series the
dashboard reads exists before it grows: every rate() has something to measure, and every
panel must show a number, not just a series.

What the money panels must match, against GetSnapshot at the end of the workload:
- the all-time stats: equal (to float rounding);
- the in-range stats and bar gauges: equal over a range that holds the whole workload, and
  exactly the second round over a range that starts between the rounds. The stated
  tolerance is what a range cannot know: a task that finished before the first scrape of
  its model's series (docs/grafana.md); here every task outlives a scrape, as real ones do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc
from execstream.v1 import state_pb2 as state_pb

from .support import grafana_dashboard as dashboard
from .support.helpers import event, free_port, report, stub_for, wait_for
from .support.prometheus_server import PrometheusServer, require_prometheus
from .support.server_thread import ServerThread, make_config

pytestmark = pytest.mark.prometheus

# (task id prefix, backend, model, outcome, usage): a priced Claude model (cheaper than the
# reference), a dearer one that fails, a local model, a model with no price, and a shell
# command (no model, no tokens).
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
    ("shell", "shell", "", events_pb.OUTCOME_SUCCEEDED, events_pb.Usage()),
)
NANOS_PER_USD = 1e9
# A budget over every task, and one for one sidecar's tasks on one model. ("total": a
# day or month could turn between the tasks' times and the scrape.)
BUDGETS = """
[budgets.everything]
amount_usd = 1

[budgets.opus]
amount_usd = "0.02"
sidecar = "sidecar-a"
model = "claude-opus-5-5"
"""


def timed(ev: events_pb.ExecutionEvent, at_ns: int) -> events_pb.ExecutionEvent:
    ev.time.FromNanoseconds(at_ns)
    return ev


def run_round(
    stub: service_pb2_grpc.ExecutionServiceStub, prometheus: PrometheusServer, round_no: int
) -> None:
    """One task per model with sidecar times, a duplicate, a refused gap and a snapshot.

    The tasks start, Prometheus scrapes, and only then do they stream and finish, as real
    tasks outlive a scrape: a model's series exist (at 0) before its first task is counted.
    """
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
    report(stub, "sidecar-a", *(batch[:1] for batch in batches))
    prometheus.wait_for_scrape(after=time.time())
    report(stub, "sidecar-a", *(batch[1:] for batch in batches))
    report(stub, "sidecar-a", batches[0][-1:])  # a resend: acknowledged as a duplicate
    with pytest.raises(grpc.RpcError) as refused:
        report(stub, "sidecar-a", [event(f"gap-{round_no}", 3)])
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stub.GetSnapshot(service_pb.GetSnapshotRequest())


@dataclass(frozen=True)
class Workload:
    """A Prometheus that scraped both rounds, the snapshot after them, and when things were."""

    prometheus: PrometheusServer
    snapshot: service_pb.Snapshot
    # (backend, model) of the cost series that existed before the first task.
    series_before: frozenset[tuple[str, str]]
    between_rounds: float  # Unix time after round 1 was scraped and before round 2
    end: float  # Unix time after round 2 was scraped

    def value(self, expr: str, **overrides: str) -> float | None:
        """A dashboard expression's single value at the end of the workload."""
        return self.prometheus.value(dashboard.to_promql(expr, **overrides), at=self.end)

    def since_between_rounds(self) -> str:
        """``$__range`` for a time range from between the rounds to the end, in ms."""
        return f"{int((self.end - self.between_rounds) * 1000)}ms"


def finished_count(prometheus: PrometheusServer) -> float | None:
    return prometheus.value("sum(execstream_tasks_finished_total)")


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workload]:
    """A server that ran the workload, and a Prometheus that has scraped all of it."""
    require_prometheus()
    tmp_path = tmp_path_factory.mktemp("dashboard")
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(BUDGETS)
    config = make_config(tmp_path, metrics_port=free_port(), budgets=str(budgets))
    server = ServerThread(config).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{server.app.metrics_port}")
    try:
        prometheus.start()
        channel, stub = stub_for(server.address)
        with channel:
            wait_for(lambda: prometheus.value('up{job="execstream"}') == 1, timeout=20)
            before = prometheus.query("count by (backend, model) (execstream_cost_usd_total)")
            run_round(stub, prometheus, 1)
            wait_for(lambda: finished_count(prometheus) == len(TASKS), 20)
            between_rounds = time.time()
            # Round 2 must come after the range boundary a test puts here (ms precision).
            wait_for(lambda: time.time() > between_rounds + 0.002)
            run_round(stub, prometheus, 2)
            # One task still running, with a usage update: the running-cost stat's figure.
            live = events_pb.Usage(input_tokens=2000, output_tokens=150, estimated=True)
            report(
                stub,
                "sidecar-a",
                [
                    event("live", 1, "started", backend="anthropic", model="claude-haiku-5-5"),
                    event("live", 2, "usage", usage=live),
                ],
            )
            snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
        assert snapshot.totals.cost_nanos > 0 and snapshot.totals.unpriced_tasks == 2
        assert snapshot.totals.running_cost_nanos > 0
        wait_for(lambda: finished_count(prometheus) == 2 * len(TASKS), 20)
        prometheus.wait_for_scrape(after=time.time())
        yield Workload(
            prometheus,
            snapshot,
            frozenset((s["metric"]["backend"], s["metric"].get("model", "")) for s in before),
            between_rounds,
            time.time(),
        )
    finally:
        prometheus.stop()
        server.stop()


Share = Callable[[state_pb.ModelTotals], float]


@dataclass(frozen=True)
class Expected:
    """The money figures a set of panels should show, in USD, from the snapshot."""

    cost: float
    reference: float
    tasks: float

    @classmethod
    def of(cls, snapshot: service_pb.Snapshot, share: Share) -> Expected:
        """Sum each model's totals times ``share(model)`` (the part the range holds)."""
        models = snapshot.totals.by_model
        return cls(
            cost=sum(m.cost_nanos * share(m) for m in models) / NANOS_PER_USD,
            reference=sum(m.reference_cost_nanos * share(m) for m in models) / NANOS_PER_USD,
            tasks=sum(m.tasks * share(m) for m in models),
        )


def assert_stats(workload: Workload, titles: tuple[str, ...], want: Expected, **over: str) -> None:
    """The four cost stats (spend, reference, savings, per task) against ``want``."""
    figures = [
        workload.value(dashboard.panel(BOARD, title)["targets"][0]["expr"], **over)
        for title in titles
    ]
    expected = [want.cost, want.reference, want.reference - want.cost, want.cost / want.tasks]
    for title, figure, value in zip(titles, figures, expected, strict=True):
        assert figure == pytest.approx(value, rel=1e-9, abs=1e-12), title


BOARD = dashboard.load()
RANGE_STATS = (
    "Spend in range",
    "Reference cost in range",
    "Savings vs reference in range",
    "Cost per finished task in range",
)
ALL_TIME_STATS = (
    "Spend (all time)",
    "Reference cost (all time)",
    "Savings vs reference (all time)",
    "Cost per finished task (all time)",
)


def test_the_all_time_stats_equal_the_snapshot(scraped: Workload) -> None:
    assert_stats(scraped, ALL_TIME_STATS, Expected.of(scraped.snapshot, lambda model: 1))


def test_the_running_cost_stat_equals_the_snapshot(scraped: Workload) -> None:
    [target] = dashboard.panel(BOARD, "Running tasks' cost now")["targets"]
    running = scraped.snapshot.totals.running_cost_nanos / NANOS_PER_USD
    assert scraped.value(target["expr"]) == pytest.approx(running, rel=1e-12)


def test_the_budgets_panel_equals_the_snapshots_budgets(scraped: Workload) -> None:
    [target] = dashboard.panel(BOARD, "Budgets used (current period)")["targets"]
    result = scraped.prometheus.query(dashboard.to_promql(target["expr"]), at=scraped.end)
    shown = {sample["metric"]["budget"]: float(sample["value"][1]) for sample in result}
    expected = {b.name: b.spent_nanos / b.amount_nanos for b in scraped.snapshot.budgets}
    assert shown == pytest.approx(expected, rel=1e-12) and len(expected) == 2
    assert all(value > 0 for value in shown.values())
    assert list(shown.values()) == sorted(shown.values(), reverse=True)


def test_range_stats_over_the_whole_workload_equal_the_snapshot(scraped: Workload) -> None:
    """Series of models outside the price table are created at 0 when a task names them."""
    before = scraped.series_before
    assert ("anthropic", "claude-haiku-5-5") in before and ("ollama", "llama3.2:3b") not in before
    assert_stats(scraped, RANGE_STATS, Expected.of(scraped.snapshot, lambda model: 1))


def test_range_stats_from_between_the_rounds_count_exactly_the_second(scraped: Workload) -> None:
    second_round = Expected.of(scraped.snapshot, lambda model: 0.5)
    assert_stats(scraped, RANGE_STATS, second_round, __range=scraped.since_between_rounds())


def bar_gauge(workload: Workload, title: str) -> dict[str, float]:
    [target] = dashboard.panel(BOARD, title)["targets"]
    result = workload.prometheus.query(dashboard.to_promql(target["expr"]), at=workload.end)
    return {sample["metric"]["model"]: float(sample["value"][1]) for sample in result}


def test_spend_by_model_leaves_out_models_that_cost_nothing(scraped: Workload) -> None:
    spend = bar_gauge(scraped, "Spend by model in range")
    assert set(spend) == {"claude-haiku-5-5", "claude-opus-5-5"}, spend
    assert list(spend.values()) == sorted(spend.values(), reverse=True)
    for model in scraped.snapshot.totals.by_model:
        if model.model in spend:  # priced models' series start at zero: counted fully
            assert spend[model.model] == pytest.approx(model.cost_nanos / NANOS_PER_USD, rel=1e-9)


def test_unpriced_tokens_show_only_models_that_have_them(scraped: Workload) -> None:
    unpriced = bar_gauge(scraped, "Unpriced tokens in range")
    assert unpriced == {"gpt-mystery-1": 2 * (300 + 40)}


def test_no_series_shown_by_model_lacks_a_model_name(scraped: Workload) -> None:
    """A shell task has no model; panels name it instead of drawing an empty legend."""
    unnamed = []
    for query in dashboard.queries(BOARD):
        if "{{model}}" not in query.legend:
            continue
        result = scraped.prometheus.query(dashboard.to_promql(query.expr), at=scraped.end)
        unnamed += [f"{query.name}: {s['metric']}" for s in result if not s["metric"].get("model")]
    assert not unnamed, "series without a model name:\n" + "\n".join(unnamed)


def test_every_dashboard_query_returns_numbers(scraped: Workload) -> None:
    prometheus = scraped.prometheus
    empty = []
    for query in dashboard.queries(BOARD):
        result = prometheus.query(dashboard.to_promql(query.expr))
        values = [float(sample["value"][1]) for sample in result]
        if not any(math.isfinite(v) for v in values):
            empty.append(f"{query.name}: {query.expr} -> {values}")
    assert not empty, "queries without a number:\n" + "\n".join(empty)


def test_prometheus_totals_equal_the_snapshot_totals(scraped: Workload) -> None:
    prometheus, snapshot = scraped.prometheus, scraped.snapshot
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
        tokens = prometheus.value(f"sum(execstream_tokens_total{{{labels}}})") or 0
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


def test_the_filter_variables_list_every_backend_and_model(scraped: Workload) -> None:
    prometheus = scraped.prometheus
    found = {}
    for variable in BOARD["templating"]["list"]:
        if variable["type"] != "query":
            continue
        selector, label = dashboard.label_values_query(variable["definition"])
        found[variable["name"]] = set(
            prometheus.api(f"label/{label}/values", **{"match[]": dashboard.to_promql(selector)})
        )
    assert {"anthropic", "ollama", "openai"} <= found["backend"]
    assert {"claude-haiku-5-5", "llama3.2:3b", "gpt-mystery-1"} <= found["model"]
