"""The combinations of task label values are capped as a whole, not only each key's values.

With ``--metric-label-keys team,project`` each key keeps its first ``--max-label-values``
values, but the keys multiply (100 teams x 100 projects: 10,000 series per metric). Past
``--max-label-series`` combinations a task's series carries ``other`` for every task label,
and the task is counted in ``execstream_metric_label_overflow_total`` under each key.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from execstream.v1 import events_pb2 as events_pb
from prometheus_client import CollectorRegistry

from .support.helpers import event, report, stub_for
from .support.server_thread import ServerFactory

OPUS = {"backend": "anthropic", "model": "claude-opus-5-5"}
KEYS = ("team", "project")


def _finished_tasks(specs: list[tuple[str, dict[str, str]]]) -> Iterator[events_pb.ExecutionEvent]:
    usage = events_pb.Usage(output_tokens=1000)
    for task, labels in specs:
        yield event(task, 1, "started", labels=labels, **OPUS)
        yield event(task, 2, "finished", usage=usage)


def _costs(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["team"], sample.labels["project"]): sample.value
        for family in registry.collect()
        if family.name == "execstream_cost_usd"
        for sample in family.samples
        if sample.name == "execstream_cost_usd_total" and sample.labels["model"] == OPUS["model"]
    }


def test_combinations_past_the_cap_are_other_for_every_key(server_factory: ServerFactory) -> None:
    server = server_factory(metric_label_keys=KEYS, max_label_series=2)
    assert server.app.metrics is not None
    registry = server.app.metrics.registry
    channel, stub = stub_for(server.address)
    with channel:
        at_cap = [
            ("none", {}),  # no task label: takes no slot
            ("a1", {"team": "a", "project": "p1"}),
            ("a2", {"team": "a", "project": "p2"}),
            ("a1-again", {"team": "a", "project": "p1"}),
        ]
        report(stub, "sc", list(_finished_tasks(at_cap)))
        assert set(_costs(registry)) == {("", ""), ("a", "p1"), ("a", "p2")}
        report(stub, "sc", list(_finished_tasks([("b1", {"team": "b", "project": "p1"})])))
    costs = _costs(registry)
    assert set(costs) == {("", ""), ("a", "p1"), ("a", "p2"), ("other", "other")}
    assert costs[("a", "p1")] == 2 * costs[("a", "p2")] == 2 * costs[("other", "other")]
    overflow = registry.get_sample_value
    for key in KEYS:
        assert overflow("execstream_metric_label_overflow_total", {"label": key}) == 1


def test_a_grid_of_two_keys_stays_within_the_default_cap(server_factory: ServerFactory) -> None:
    server = server_factory(metric_label_keys=KEYS)
    assert server.app.metrics is not None
    channel, stub = stub_for(server.address)
    specs = [
        (f"t{i}-{j}", {"team": f"team{i}", "project": f"p{j}"})
        for i in range(40)
        for j in range(40)
    ]
    events = list(_finished_tasks(specs))
    with channel:
        for start in range(0, len(events), 1000):
            report(stub, "sc", events[start : start + 1000])
    costs = _costs(server.app.metrics.registry)
    # The known model's series without task labels (at 0), the first 1000 combinations,
    # then ("other", "other") for the 600 others.
    assert len(costs) == 1 + 1000 + 1
    assert costs[("other", "other")] == pytest.approx(600 * costs[("team0", "p0")])
