"""A running task that changes its labels or model moves its running cost with it.

A second ``started`` may relabel a running task (new ``labels``, another model). The
running-cost gauge must then take the task's cost off the old series and put it on the new
one, and when the task finishes both must be back at 0: nothing left behind on the old
labels, nothing negative on the new.
"""

from __future__ import annotations

from execstream.v1 import events_pb2 as events_pb
from prometheus_client import CollectorRegistry

from .support.helpers import event, report, stub_for
from .support.server_thread import ServerFactory

BACKEND = "anthropic"
FIRST = {"model": "claude-opus-5-5", "team": "a"}
SECOND = {"model": "claude-haiku-5-5", "team": "b"}


def _running(registry: CollectorRegistry, labels: dict[str, str]) -> float:
    value = registry.get_sample_value("execstream_running_cost_usd", {"backend": BACKEND, **labels})
    return value or 0.0


def test_a_relabelled_running_task_leaves_no_cost_on_either_series(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(metric_label_keys=("team",))
    assert server.app.metrics is not None
    registry = server.app.metrics.registry
    channel, stub = stub_for(server.address)
    spend = events_pb.Usage(output_tokens=1000)
    with channel:
        report(
            stub,
            "sc",
            [
                event(
                    "t", 1, "started", backend=BACKEND, model=FIRST["model"], labels={"team": "a"}
                ),
                event("t", 2, "usage", usage=spend),
            ],
        )
        assert _running(registry, FIRST) > 0
        report(
            stub,
            "sc",
            [
                event(
                    "t", 3, "started", backend=BACKEND, model=SECOND["model"], labels={"team": "b"}
                )
            ],
        )
        assert _running(registry, FIRST) == 0
        assert _running(registry, SECOND) > 0
        report(stub, "sc", [event("t", 4, "finished", usage=spend)])
    assert _running(registry, FIRST) == 0
    assert _running(registry, SECOND) == 0
