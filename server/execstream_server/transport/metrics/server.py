"""The service's collectors: an engine observer feeding tasks, cost, streaming and ingest.

Cost and token counters (``cost``) are fed from the fold (``EngineObserver``), so Grafana
counts exactly what snapshots show. Label values come from bounded sets (``labels.LabelCap``):
the backends and models of the price table, then the first ``max_backend_labels`` /
``max_model_labels`` other names clients sent, then ``other``, and (backend, model) pairs
from a bounded set too (``labels.SeriesCap``: the first ``max_model_series`` others, then the
model is ``other``); likewise the values of the task label keys the operator allowlisted.
Each ``other`` is counted by ``execstream_metric_label_overflow_total``; never a task id.

Restarts: with the embedded store the counters are seeded from the recovered fold, so after
a restart they continue from the durable totals instead of dropping to zero (``increase()``
sees no reset and counts nothing twice). With a shared store each replica counts only the
batches it committed; ``sum()`` over replicas gives the totals (docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from execstream.v1 import errors_pb2 as errors_pb
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from execstream_server.domain.budget_book import BudgetBook
from execstream_server.domain.events import kind_name, status_name
from execstream_server.domain.lifecycle import is_terminal
from execstream_server.domain.records import CommittedBatch, TaskChange
from execstream_server.transport.methods import served_methods
from execstream_server.transport.metrics.budgets import BudgetMetrics
from execstream_server.transport.metrics.cost import CostMetrics, TaskLabels
from execstream_server.transport.metrics.grpc import GrpcMetrics

# OpenTelemetry GenAI semantic conventions' bucket boundaries.
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def _seconds(start: Any, end: Any) -> float | None:
    if not start.seconds and not start.nanos:
        return None
    value = (end.seconds - start.seconds) + (end.nanos - start.nanos) / 1e9
    return value if value >= 0 else None


class ServerMetrics:
    """All of execstream's collectors, on one registry (a fresh one per server)."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        known_labels: Sequence[tuple[str, str]] = (),
        pricing_version: str = "",
        reference_model: str = "",
        known_backends: Iterable[str] = (),
        max_model_labels: int = 200,
        max_backend_labels: int = 50,
        max_model_series: int = 500,
        seed_from_recovery: bool = True,
        budgets: BudgetBook | None = None,
        label_keys: Sequence[str] = (),
        max_label_values: int = 100,
        max_label_series: int = 1000,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._seed = seed_from_recovery
        self._first_token: dict[str, Any] = {}
        reg = self.registry
        # process_start_time_seconds and friends: a restart is seen as a new start time
        # (the ExecstreamReplicaRestarting alert), even when no scrape caught NOT_SERVING.
        ProcessCollector(registry=reg)
        bm = ("backend", "model")
        self.task_labels = TaskLabels(
            known=known_labels,
            known_backends=known_backends,
            max_model_labels=max_model_labels,
            max_backend_labels=max_backend_labels,
            max_model_series=max_model_series,
            keys=label_keys,
            max_label_values=max_label_values,
            max_label_series=max_label_series,
        )
        self.costs = CostMetrics(reg, self.task_labels)
        self.duration = Histogram(
            "execstream_task_duration_seconds",
            "Task duration from first event to finish.",
            bm,
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.ingested = Counter(
            "execstream_events_ingested", "Events stored, by kind.", ["kind"], registry=reg
        )
        self.rejected = Counter(
            "execstream_events_rejected",
            "Events refused, by reason (duplicates are not rejections).",
            ["reason"],
            registry=reg,
        )
        self.duplicates = Counter(
            "execstream_events_duplicate",
            "Events acknowledged as duplicates and not stored.",
            registry=reg,
        )
        self.watchers = Gauge("execstream_watchers", "Open WatchExecution streams.", registry=reg)
        self.watch_overflows = Counter(
            "execstream_watch_overflows",
            "Watchers whose live queue passed --watch-queue-bytes (they caught up from the log).",
            registry=reg,
        )
        self.serving = Gauge(
            "execstream_serving",
            "1 while this replica's gRPC health is SERVING; 0 when NOT_SERVING (starting, "
            "shutting down, or failed and about to exit).",
            registry=reg,
        )
        self.revision = Gauge(
            "execstream_log_revision", "Latest revision folded by this server.", registry=reg
        )
        self.background_failures = Gauge(
            "execstream_background_failures",
            "Attempts in a row a background job (checkpoint, compaction) has failed; 0 once "
            "it passes.",
            ["job"],
            registry=reg,
        )
        self.tasks = Gauge("execstream_tasks", "Tasks by status.", ["status"], registry=reg)
        self.pricing = Gauge(
            "execstream_pricing_info",
            "The loaded price table.",
            ["version", "reference_model"],
            registry=reg,
        )
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from a task's start to its first token.",
            bm,
            buckets=TTFT_BUCKETS,
            registry=reg,
        )
        self.tpot = Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token after the first.",
            bm,
            buckets=TPOT_BUCKETS,
            registry=reg,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per finished task (GenAI conventions' buckets).",
            [*bm, "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS,
            registry=reg,
        )
        self.pricing.labels(pricing_version, reference_model).set(1)
        no_task_labels = ("",) * len(label_keys)
        for backend, model in known_labels:
            self.costs.zero((backend, model, *no_task_labels))
        self._zero_bounded_labels()
        self.grpc = GrpcMetrics(reg, methods=served_methods())
        self.budgets = BudgetMetrics(reg, budgets)

    def _zero_bounded_labels(self) -> None:
        """Every value of a label with a fixed set of values, at 0 (see ``_zero``)."""
        for reason in errors_pb.ErrorReason.DESCRIPTOR.values:
            if reason.number != errors_pb.ERROR_REASON_UNSPECIFIED:
                self.rejected.labels(reason.name.lower())
        for kind in events_pb.EventKind.values():
            if kind != events_pb.EVENT_KIND_UNSPECIFIED:
                self.ingested.labels(kind_name(kind))
        for status in events_pb.TaskStatus.values():
            if status != events_pb.TASK_STATUS_UNSPECIFIED:
                self.tasks.labels(status_name(status))

    # -- EngineObserver ------------------------------------------------------------------
    def on_recovered(self, tasks: Sequence[state_pb.TaskState]) -> None:
        # Names get their labels in the order of their tasks' first revisions, as they did
        # live (a task takes its slots when created), not in the order the store returned
        # them: which ones map to 'other' is the same after every restart, on either store.
        for state in sorted(tasks, key=lambda task: (task.first_revision, task.last_revision)):
            self.tasks.labels(status_name(state.status)).inc()
            self.costs.running.change(None, state)
            if self._seed and is_terminal(state.status):
                self._count_cost(state, observe=False)

    def on_batch(self, batch: CommittedBatch, changes: Sequence[TaskChange]) -> None:
        self.revision.set(batch.last_revision)
        for old, new in changes:
            if old is None or old.status != new.status:
                if old is not None:
                    self.tasks.labels(status_name(old.status)).dec()
                self.tasks.labels(status_name(new.status)).inc()
            if (
                old is None
                or old.model != new.model
                or old.backend != new.backend
                or old.labels != new.labels
            ):
                self.costs.zero(self.task_labels.of(new), unpriced=True)
            self.costs.running.change(old, new)
        if not batch.local:
            return
        for kind, count in batch.kind_counts().items():
            self.ingested.labels(kind_name(kind)).inc(count)
        self._observe_streaming(batch)
        for old, new in changes:
            if is_terminal(new.status) and (old is None or not is_terminal(old.status)):
                self._count_cost(new, observe=True)

    def _count_cost(self, state: state_pb.TaskState, *, observe: bool) -> None:
        backend, model = self.costs.count(state, overflow=observe)[:2]
        usage = state.usage
        self._first_token.pop(state.task_id, None)
        if not observe:
            return
        duration = _seconds(state.created_time, state.finished_time)
        if duration is not None:
            self.duration.labels(backend, model).observe(duration)
        self.token_usage.labels(backend, model, "input").observe(
            usage.input_tokens
            + usage.cache_read_tokens
            + usage.cache_write_tokens
            + usage.cache_write_one_hour_tokens
        )
        self.token_usage.labels(backend, model, "output").observe(usage.output_tokens)

    def _observe_streaming(self, batch: CommittedBatch) -> None:
        """Time to first token and time per output token, from the sidecar's event times."""
        for event in batch.events:
            body = event.WhichOneof("body")
            if body == "started":
                self._first_token[event.task_id] = (event.time, None, event.started)
            elif body == "token":
                entry = self._first_token.get(event.task_id)
                if entry is not None and entry[1] is None:
                    started_at, _, started = entry
                    self._first_token[event.task_id] = (started_at, event.time, started)
                    ttft = _seconds(started_at, event.time)
                    if ttft is not None:
                        labels = self.task_labels.model(started.backend, started.model)
                        self.ttft.labels(*labels).observe(ttft)
            elif body == "finished":
                entry = self._first_token.pop(event.task_id, None)
                output = event.finished.usage.output_tokens
                if entry is not None and entry[1] is not None and output > 1:
                    span = _seconds(entry[1], event.time)
                    if span is not None:
                        started = entry[2]
                        labels = self.task_labels.model(started.backend, started.model)
                        self.tpot.labels(*labels).observe(span / (output - 1))

    # -- ingest outcomes and watchers ------------------------------------------------------
    def on_rejected(self, reason: str, events: int) -> None:
        self.rejected.labels(reason).inc(events)

    def on_duplicates(self, count: int) -> None:
        if count:
            self.duplicates.inc(count)
