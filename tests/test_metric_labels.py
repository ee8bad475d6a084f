"""Client-chosen names cannot grow the metrics without bound: each label is capped."""

from __future__ import annotations

import random
from collections.abc import Callable

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.pricing import load_price_table
from execstream_server.transport.metrics import LabelCap, SeriesCap, ServerMetrics
from prometheus_client import CollectorRegistry

from .support.batches import committed
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
    changes = [(None, _finished(f"t{i}", f"backend-{i}", f"model-{i}")) for i in range(10)]
    metrics.on_batch(committed([event("t", 1, "finished")]), changes)
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


def _pairs(registry: CollectorRegistry) -> set[tuple[str, str]]:
    return {
        (sample.labels["backend"], sample.labels["model"])
        for family in registry.collect()
        for sample in family.samples
        if "backend" in sample.labels and "model" in sample.labels
    }


def test_a_series_cap_keeps_known_pairs_then_the_first_n_then_other() -> None:
    cap = SeriesCap([("anthropic", "claude-x")], max_unknown=2)
    asked = [("a", "m1"), ("b", "m1"), ("a", "m2"), ("anthropic", "claude-x"), ("a", "m1")]
    assert [cap.model(*pair) for pair in asked] == ["m1", "m1", "other", "claude-x", "m1"]
    assert cap.model("c", "other") == "other"  # the overflow series takes no slot


def test_a_full_grid_of_backends_and_models_adds_a_bounded_number_of_series(
    server_factory: Callable[..., ServerThread],
) -> None:
    """Every backend naming every model, within both label caps: the pairs are capped."""
    server = server_factory(max_backend_labels=5, max_model_labels=20, max_model_series=30)
    assert server.app.metrics is not None
    registry = server.app.metrics.registry
    before = _pairs(registry)
    channel, stub = stub_for(server.address)
    events = []
    for b in range(5):
        for m in range(20):
            task = f"g{b}-{m}"
            usage = events_pb.Usage(input_tokens=1, output_tokens=2)
            events += [
                event(task, 1, "started", backend=f"bk{b}", model=f"mdl{m}"),
                event(task, 2, "finished", usage=usage),
            ]
    report(stub, "sc", events)
    grid = _pairs(registry) - before
    named = {pair for pair in grid if pair[1] != "other"}
    assert len(named) == 30  # bk0 x 20 models, then bk1 x 10
    assert grid - named == {(f"bk{b}", "other") for b in range(1, 5)}
    overflow = {"label": "model"}
    assert registry.get_sample_value("execstream_metric_label_overflow_total", overflow) == 70
    channel.close()


def test_which_names_map_to_other_after_a_restart_does_not_depend_on_recovery_order() -> None:
    tasks = [_finished(f"t{i}", f"backend-{i % 4}", f"model-{i}") for i in range(40)]
    for i, task in enumerate(tasks):
        task.last_revision = 10 * (i + 1)
    seen = set()
    for seed in range(4):
        shuffled = tasks[:]
        random.Random(seed).shuffle(shuffled)
        metrics = ServerMetrics(max_backend_labels=3, max_model_labels=12, max_model_series=8)
        metrics.on_recovered(shuffled)
        seen.add(frozenset(_pairs(metrics.registry)))
    assert len(seen) == 1
    (pairs,) = seen
    assert {m for _, m in pairs} == {f"model-{i}" for i in range(8)} | {"other"}
