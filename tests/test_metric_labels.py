"""Client-chosen names cannot grow the metrics without bound: each label is capped."""

from __future__ import annotations

from collections.abc import Callable

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.pricing import load_price_table
from execstream_server.domain.records import CommittedBatch, EventRecord
from execstream_server.transport.metrics import LabelCap, ServerMetrics
from prometheus_client import CollectorRegistry

from .support.helpers import event, report, stub_for
from .support.server_thread import ServerThread


def label_values(registry: CollectorRegistry, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in registry.collect()
        for sample in family.samples
        if label in sample.labels
    }


def series(registry: CollectorRegistry) -> int:
    return sum(len(family.samples) for family in registry.collect())


def test_a_label_cap_keeps_known_values_then_the_first_n_then_other() -> None:
    cap = LabelCap(["anthropic"], max_unknown=2)
    assert [cap.label(v) for v in ("a", "b", "c", "anthropic", "a")] == [
        "a",
        "b",
        "other",
        "anthropic",
        "a",
    ]


def _finished(task_id: str, backend: str, model: str) -> state_pb.TaskState:
    state = state_pb.TaskState(
        task_id=task_id,
        status=events_pb.TASK_STATUS_SUCCEEDED,
        backend=backend,
        model=model,
    )
    state.usage.output_tokens = 10
    return state


def test_overflowed_values_are_counted_per_label() -> None:
    metrics = ServerMetrics(
        known_labels=[("anthropic", "claude-x")], max_backend_labels=2, max_model_labels=1
    )
    record = EventRecord(1, "t", "sc", events_pb.EVENT_KIND_FINISHED, b"")
    changes = [(None, _finished(f"t{i}", f"backend-{i}", f"model-{i}")) for i in range(10)]
    metrics.on_batch(CommittedBatch([record], [event("t", 1, "finished")]), changes)
    registry = metrics.registry
    assert label_values(registry, "backend") <= {"anthropic", "backend-0", "backend-1", "other"}
    assert (
        registry.get_sample_value("execstream_metric_label_overflow_total", {"label": "backend"})
        == 8
    )
    assert (
        registry.get_sample_value("execstream_metric_label_overflow_total", {"label": "model"}) == 9
    )


def test_a_thousand_backends_models_and_labels_add_a_bounded_number_of_series(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory()
    assert server.app.metrics is not None
    registry = server.app.metrics.registry
    before = series(registry)
    channel, stub = stub_for(server.address)
    events = []
    for i in range(1000):
        task = f"t{i}"
        started = event(task, 1, "started", backend=f"backend-{i}", model=f"model-{i}")
        started.started.labels["team"] = f"team-{i}"
        usage = events_pb.Usage(input_tokens=5, output_tokens=5)
        events += [started, event(task, 2, "finished", usage=usage)]
    for start in range(0, len(events), 1000):
        report(stub, "sc", events[start : start + 1000])
    backends = label_values(registry, "backend")
    assert len(backends) <= 2 + 50 + 1  # the table's backends, the cap, "other"
    known_models = len(load_price_table().exact)
    assert len(label_values(registry, "model")) <= known_models + 200 + 1
    assert "team" not in {k for f in registry.collect() for s in f.samples for k in s.labels}
    assert series(registry) - before < 20_000
    channel.close()
