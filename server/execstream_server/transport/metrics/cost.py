"""Cost and token collectors, by backend, model and the operator's task label keys.

Every series of these carries the same labels: ``backend``, ``model``, then one label per
key of ``--metric-label-keys`` (``team``, ``project``, ...) whose value is the task's label
(``Started.labels``), or empty when it has none. Each label's values are capped
(``labels.LabelCap``): past the cap a value is exported as ``other``, and each finished task
shown so is counted in ``execstream_metric_label_overflow_total{label}``. The combinations
of task label values are capped as a whole too (``labels.LabelSetCap``): past that cap every
task label of the series is ``other``.

A task is counted once, at its final figure, when it finishes; until then its cost is in
the running gauge (``running``). Series are exported at 0 before their first task (known
models at start, other ones when a task names them), so ``increase()`` counts that task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from prometheus_client import CollectorRegistry, Counter, Gauge

from execstream_server.domain.events import status_name
from execstream_server.transport.metrics.labels import (
    OTHER,
    UNKNOWN_BACKEND,
    LabelCap,
    LabelSetCap,
    SeriesCap,
)
from execstream_server.transport.metrics.running import RunningCost

NANOS_PER_USD = 1_000_000_000
TOKEN_TYPES = ("input", "cache_read", "cache_write", "output")
OUTCOMES = ("SUCCEEDED", "FAILED", "CANCELLED")


def usage_by_type(usage: events_pb.Usage) -> dict[str, int]:
    return {
        "input": usage.input_tokens,
        "cache_read": usage.cache_read_tokens,
        "cache_write": usage.cache_write_tokens + usage.cache_write_one_hour_tokens,
        "output": usage.output_tokens,
    }


class TaskLabels:
    """The label values of a task's cost series, every one of them capped."""

    def __init__(
        self,
        *,
        known: Sequence[tuple[str, str]],
        known_backends: Iterable[str],
        max_model_labels: int,
        max_backend_labels: int,
        max_model_series: int,
        keys: Sequence[str],
        max_label_values: int,
        max_label_series: int = 1000,
    ) -> None:
        self.models = LabelCap((m for _, m in known), max_unknown=max_model_labels)
        self.backends = LabelCap(
            {UNKNOWN_BACKEND, *known_backends, *(b for b, _ in known)},
            max_unknown=max_backend_labels,
        )
        self.series = SeriesCap(known, max_unknown=max_model_series)
        self.keys = tuple(keys)
        self._values = {key: LabelCap((), max_unknown=max_label_values) for key in self.keys}
        self.combinations = LabelSetCap(max_unknown=max_label_series)

    @property
    def names(self) -> tuple[str, ...]:
        return ("backend", "model", *self.keys)

    def model(self, backend: str, model: str) -> tuple[str, str]:
        """(backend, model), for the series that do not carry task labels (histograms)."""
        backend_label = self.backends.label(backend or UNKNOWN_BACKEND)
        return backend_label, self.series.model(backend_label, self.models.label(model))

    def of(self, state: state_pb.TaskState) -> tuple[str, ...]:
        backend_model = self.model(state.backend, state.model or state.usage.model)
        if not self.keys:
            return backend_model
        labels = state.labels
        values = tuple(self._values[k].label(labels.get(k, "")) for k in self.keys)
        return (*backend_model, *self.combinations.values(*backend_model, values))


class CostMetrics:
    """The counters of finished tasks' cost and tokens, and the running-cost gauge."""

    def __init__(self, registry: CollectorRegistry, labels: TaskLabels) -> None:
        self.labels = labels
        names = labels.names
        self.tokens = Counter(
            "execstream_tokens",
            "Tokens of finished and retried attempts, by type.",
            [*names, "type"],
            registry=registry,
        )
        self.reasoning_tokens = Counter(
            "execstream_reasoning_tokens",
            "Reasoning tokens (a subset of output tokens).",
            names,
            registry=registry,
        )
        self.cost = Counter(
            "execstream_cost_usd",
            "Actual cost in USD from the price table.",
            names,
            registry=registry,
        )
        self.reference_cost = Counter(
            "execstream_reference_cost_usd",
            "What the same tokens cost on the reference model, USD (savings = reference - cost).",
            names,
            registry=registry,
        )
        self.unpriced_tokens = Counter(
            "execstream_unpriced_tokens",
            "Tokens of tasks whose model has no price.",
            names,
            registry=registry,
        )
        self.running_cost = Gauge(
            "execstream_running_cost_usd",
            "What running tasks have cost so far, USD: settled attempts plus the latest usage "
            "updates (provisional); a task leaves it for execstream_cost_usd when it finishes.",
            names,
            registry=registry,
        )
        self.running = RunningCost(self.running_cost, labels.of)
        self.finished = Counter(
            "execstream_tasks_finished",
            "Finished tasks by outcome.",
            [*names, "outcome"],
            registry=registry,
        )
        self.label_overflow = Counter(
            "execstream_metric_label_overflow",
            "Finished tasks whose backend, model or task label was exported as 'other' (the "
            "label's cap was reached), by label.",
            ["label"],
            registry=registry,
        )
        for name in names:
            self.label_overflow.labels(name)
        self._zeroed: set[tuple[str, ...]] = set()

    def zero(self, values: tuple[str, ...], *, unpriced: bool = False) -> None:
        """Export a label combination at 0 so increase() sees its first task.

        Prometheus takes a series' first sample as its starting point: a series born at 1
        shows an increase of 0. Known models are exported from the start, other ones when
        a task names them (``started``), so a task that outlives a scrape is counted.
        """
        if values in self._zeroed:
            return
        self._zeroed.add(values)
        for kind in TOKEN_TYPES:
            self.tokens.labels(*values, kind)
        counters = [self.reasoning_tokens, self.cost, self.reference_cost]
        for counter in [*counters, self.unpriced_tokens] if unpriced else counters:
            counter.labels(*values)
        for outcome in OUTCOMES:
            self.finished.labels(*values, outcome)

    def count(self, state: state_pb.TaskState, *, overflow: bool) -> tuple[str, ...]:
        """Count a finished task; return its label values. ``overflow``: count 'other's."""
        values = self.labels.of(state)
        if overflow:
            for name, shown in zip(self.labels.names, values, strict=True):
                if shown == OTHER:
                    self.label_overflow.labels(name).inc()
        usage, cost = state.usage, state.cost
        by_type = usage_by_type(usage)
        for kind, count in by_type.items():
            if count:
                self.tokens.labels(*values, kind).inc(count)
        if usage.reasoning_tokens:
            self.reasoning_tokens.labels(*values).inc(usage.reasoning_tokens)
        self.cost.labels(*values).inc(cost.actual.total_nanos / NANOS_PER_USD)
        self.reference_cost.labels(*values).inc(cost.reference.total_nanos / NANOS_PER_USD)
        if cost.unpriced:
            self.unpriced_tokens.labels(*values).inc(sum(by_type.values()))
        self.finished.labels(*values, status_name(state.status)).inc()
        return values
