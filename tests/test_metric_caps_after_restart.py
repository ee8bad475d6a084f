"""Which label values keep their own series is the same after a restart as it was live.

Live, a value takes a slot of its cap when its task is created (its first event); after a
restart the recovered tasks must take the slots in that same order, the order of their
first revisions. Otherwise, with more values than a cap, a value seen first but finished
last moves to ``other`` across the restart and the counters of both series look reset.
"""

from __future__ import annotations

from execstream.v1 import events_pb2 as events_pb
from prometheus_client import CollectorRegistry

from .support.helpers import event, report, stub_for
from .support.server_thread import ServerFactory

OPUS = {"backend": "anthropic", "model": "claude-opus-5-5"}


def _cost_by_team(registry: CollectorRegistry) -> dict[str, float]:
    return {
        sample.labels["team"]: sample.value
        for family in registry.collect()
        if family.name == "execstream_cost_usd"
        for sample in family.samples
        if sample.name == "execstream_cost_usd_total" and sample.labels["team"]
    }


def test_a_restart_gives_the_cap_slots_to_the_same_values(server_factory: ServerFactory) -> None:
    options = {"metric_label_keys": ("team",), "max_label_values": 1}
    live = server_factory(**options)
    assert live.app.metrics is not None
    channel, stub = stub_for(live.address)
    done = events_pb.Usage(output_tokens=1000)
    with channel:
        # "alpha" starts first but finishes last; "beta" starts second and finishes first.
        report(stub, "sc", [event("a", 1, "started", labels={"team": "alpha"}, **OPUS)])
        report(stub, "sc", [event("b", 1, "started", labels={"team": "beta"}, **OPUS)])
        report(stub, "sc", [event("b", 2, "finished", usage=done)])
        report(stub, "sc", [event("a", 2, "finished", usage=done)])
    before = _cost_by_team(live.app.metrics.registry)
    assert set(before) == {"alpha", "other"}
    live.stop()

    restarted = server_factory(**options)
    assert restarted.app.metrics is not None
    assert _cost_by_team(restarted.app.metrics.registry) == before
