"""Totals grouped by the values of one task label key, for GetSnapshot's ``group_by_label``.

Any key can be asked, so nothing is kept per key: one pass over the task states, at the
snapshot's revision, sums finished tasks' usage and cost and running tasks' cost so far
(the same figures as the totals, split by value). Sums are exact Python integers shown
saturated in their 64-bit fields, like the totals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.bounds import (
    INT64_MAX,
    INT64_MIN,
    TOKEN_FIELDS,
    UINT64_MAX,
    saturating,
)
from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.lifecycle import is_terminal


@dataclass(slots=True)
class _Sums:
    tasks: int = 0
    running_tasks: int = 0
    usage: Counter[str] = field(default_factory=Counter)
    cost: int = 0
    reference: int = 0
    running: int = 0
    unpriced: int = 0


def _int64(value: int) -> int:
    return saturating(value, INT64_MIN, INT64_MAX)


def label_totals(tasks: Iterable[state_pb.TaskState], key: str) -> list[state_pb.LabelTotals]:
    """One entry per value of ``key`` (empty: tasks without it), sorted by value."""
    groups: dict[str, _Sums] = {}
    for state in tasks:
        value = state.labels.get(key, "")
        sums = groups.get(value)
        if sums is None:
            sums = groups[value] = _Sums()
        if not is_terminal(state.status):
            sums.running_tasks += 1
            sums.running += committed_nanos(state)
            continue
        sums.tasks += 1
        for name in TOKEN_FIELDS:
            sums.usage[name] += getattr(state.usage, name)
        sums.cost += state.cost.actual.total_nanos
        sums.reference += state.cost.reference.total_nanos
        sums.unpriced += int(state.cost.unpriced)
    out = []
    for value, sums in sorted(groups.items()):
        entry = state_pb.LabelTotals(
            key=key,
            value=value,
            tasks=sums.tasks,
            running_tasks=sums.running_tasks,
            cost_nanos=_int64(sums.cost),
            reference_cost_nanos=_int64(sums.reference),
            savings_nanos=_int64(sums.reference - sums.cost),
            running_cost_nanos=_int64(sums.running),
            unpriced_tasks=sums.unpriced,
        )
        for name in TOKEN_FIELDS:
            setattr(entry.usage, name, min(sums.usage[name], UINT64_MAX))
        out.append(entry)
    return out
