"""Running totals over all tasks, kept exact by applying each state change as a delta.

Updated with every folded task (old state -> new state), so GetSnapshot's totals always
match the fold at the snapshot's revision without a scan. Cost enters when a task finishes.
"""

from __future__ import annotations

from collections import Counter

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.cost import add_usage
from execstream_server.domain.lifecycle import is_terminal

_COUNTS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_one_hour_tokens",
    "output_tokens",
    "reasoning_tokens",
)


class TotalsBook:
    """See the module docstring."""

    def __init__(self) -> None:
        self.tasks = 0
        self.by_status: Counter[int] = Counter()
        self.usage: Counter[str] = Counter()
        self.cost_nanos = 0
        self.reference_nanos = 0
        self.unpriced_tasks = 0
        self.by_model: dict[tuple[str, str], state_pb.ModelTotals] = {}

    def update(self, old: state_pb.TaskState | None, new: state_pb.TaskState) -> None:
        """Account for one task moving from ``old`` (None when new) to ``new``."""
        if old is None:
            self.tasks += 1
        else:
            self.by_status[old.status] -= 1
            for name in _COUNTS:
                self.usage[name] -= getattr(old.usage, name)
        self.by_status[new.status] += 1
        for name in _COUNTS:
            self.usage[name] += getattr(new.usage, name)
        if is_terminal(new.status) and (old is None or not is_terminal(old.status)):
            self._add_finished(new)

    def _add_finished(self, state: state_pb.TaskState) -> None:
        cost = state.cost
        self.cost_nanos += cost.actual.total_nanos
        self.reference_nanos += cost.reference.total_nanos
        self.unpriced_tasks += int(cost.unpriced)
        key = (state.backend, state.model)
        entry = self.by_model.get(key)
        if entry is None:
            entry = self.by_model[key] = state_pb.ModelTotals(backend=key[0], model=key[1])
        entry.tasks += 1
        add_usage(entry.usage, _bare_usage(state.usage))
        entry.cost_nanos += cost.actual.total_nanos
        entry.reference_cost_nanos += cost.reference.total_nanos
        entry.savings_nanos = entry.reference_cost_nanos - entry.cost_nanos
        entry.unpriced_tasks += int(cost.unpriced)
        entry.estimated_tasks += int(cost.estimated or state.usage.estimated)

    def to_proto(self) -> state_pb.Totals:
        totals = state_pb.Totals(
            tasks=self.tasks,
            cost_nanos=self.cost_nanos,
            reference_cost_nanos=self.reference_nanos,
            savings_nanos=self.reference_nanos - self.cost_nanos,
            unpriced_tasks=self.unpriced_tasks,
        )
        for status in sorted(self.by_status):
            if self.by_status[status]:
                totals.by_status.add(status=status, tasks=self.by_status[status])
        for name in _COUNTS:
            setattr(totals.usage, name, self.usage[name])
        totals.by_model.extend(self.by_model[key] for key in sorted(self.by_model))
        return totals


def _bare_usage(usage: events_pb.Usage) -> events_pb.Usage:
    bare = events_pb.Usage()
    bare.CopyFrom(usage)
    bare.model = ""
    bare.backend = ""
    bare.estimated = False
    return bare
