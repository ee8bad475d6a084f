"""Budget collectors: where each budget stands, read from the budget book at every scrape.

The gauges are computed when Prometheus scrapes, so a new day or month shows at once even
when no task reports. Every replica folds the whole log and shows the same figures: combine
replicas with ``max``. Crossings are counted as the fold sees them, per threshold, from 0.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from execstream_server.domain.budget_book import BudgetBook, Crossing
from execstream_server.domain.budgets import THRESHOLDS, Budget

NANOS_PER_USD = 1_000_000_000
LABELS = ("budget", "scope", "period")


def _labels(budget: Budget) -> list[str]:
    return [budget.name, budget.scope, budget.period]


def threshold_label(percent: int) -> str:
    """80 -> "0.8", 100 -> "1": the same scale as execstream_budget_used_ratio."""
    return f"{percent / 100:g}"


class _Standing(Collector):
    def __init__(self, book: BudgetBook) -> None:
        self._book = book

    def collect(self) -> Iterator[GaugeMetricFamily]:
        used = GaugeMetricFamily(
            "execstream_budget_used_ratio",
            "Spend in the budget's current period over its amount (per-task budgets: the "
            "dearest running task's); 1 is the whole amount.",
            labels=LABELS,
        )
        spent = GaugeMetricFamily(
            "execstream_budget_spent_usd",
            "Committed cost in the budget's current period, USD (per-task: dearest running).",
            labels=LABELS,
        )
        amount = GaugeMetricFamily(
            "execstream_budget_amount_usd", "The budget's amount, USD.", labels=LABELS
        )
        for status in self._book.status():
            labels = _labels(status.budget)
            used.add_metric(labels, status.used_ratio)
            spent.add_metric(labels, status.spent_nanos / NANOS_PER_USD)
            amount.add_metric(labels, status.budget.amount_nanos / NANOS_PER_USD)
        yield from (used, spent, amount)


class BudgetMetrics:
    """Registers the budget gauges and the crossings counter (empty without budgets)."""

    def __init__(self, registry: CollectorRegistry, book: BudgetBook | None) -> None:
        book = book or BudgetBook(())
        registry.register(_Standing(book))
        self.crossings = Counter(
            "execstream_budget_crossings",
            "Times a budget (per-task: a task) went over a threshold of its amount.",
            [*LABELS, "threshold"],
            registry=registry,
        )
        for budget in book.budgets:
            for percent in THRESHOLDS:
                self.crossings.labels(*_labels(budget), threshold_label(percent))

    def crossed(self, crossing: Crossing) -> None:
        labels = _labels(crossing.budget)
        self.crossings.labels(*labels, threshold_label(crossing.threshold)).inc()
