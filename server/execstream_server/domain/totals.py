"""Running totals over all tasks, kept exact by applying each state change as a delta.

Updated with every folded task (old state -> new state), so GetSnapshot's totals always
match the fold at the snapshot's revision without a scan. Cost enters when a task finishes.

Sums are kept as Python integers, exact whatever the number of tasks. Admission bounds each
task (``bounds``), but nothing bounds how many tasks there are, so a sum can outgrow the
int64/uint64 field it is shown in: the field then holds its largest value (saturates) and
one warning is logged, instead of the snapshot failing for everyone.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.bounds import (
    INT64_MAX,
    INT64_MIN,
    TOKEN_FIELDS,
    UINT64_MAX,
    saturating,
)
from execstream_server.domain.lifecycle import is_terminal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _ModelSums:
    tasks: int = 0
    usage: Counter[str] = field(default_factory=Counter)
    cost_nanos: int = 0
    reference_nanos: int = 0
    unpriced_tasks: int = 0
    estimated_tasks: int = 0


class TotalsBook:
    """See the module docstring."""

    def __init__(self) -> None:
        self.tasks = 0
        self.by_status: Counter[int] = Counter()
        self.usage: Counter[str] = Counter()
        self.cost_nanos = 0
        self.reference_nanos = 0
        self.unpriced_tasks = 0
        self.by_model: dict[tuple[str, str], _ModelSums] = {}
        self._warned = False

    def update(self, old: state_pb.TaskState | None, new: state_pb.TaskState) -> None:
        """Account for one task moving from ``old`` (None when new) to ``new``.

        Most folds only add output, which moves neither the status nor the usage: every delta
        below is then zero, and one comparison (C-level) skips a dozen counter updates.
        """
        if old is not None and old.status == new.status and old.usage == new.usage:
            return
        if old is None:
            self.tasks += 1
        else:
            self.by_status[old.status] -= 1
            for name in TOKEN_FIELDS:
                self.usage[name] -= getattr(old.usage, name)
        self.by_status[new.status] += 1
        for name in TOKEN_FIELDS:
            self.usage[name] += getattr(new.usage, name)
        if is_terminal(new.status) and (old is None or not is_terminal(old.status)):
            self._add_finished(new)

    def _add_finished(self, state: state_pb.TaskState) -> None:
        cost = state.cost
        self.cost_nanos += cost.actual.total_nanos
        self.reference_nanos += cost.reference.total_nanos
        self.unpriced_tasks += int(cost.unpriced)
        key = (state.backend, state.model)
        sums = self.by_model.get(key)
        if sums is None:
            sums = self.by_model[key] = _ModelSums()
        sums.tasks += 1
        for name in TOKEN_FIELDS:
            sums.usage[name] += getattr(state.usage, name)
        sums.cost_nanos += cost.actual.total_nanos
        sums.reference_nanos += cost.reference.total_nanos
        sums.unpriced_tasks += int(cost.unpriced)
        sums.estimated_tasks += int(cost.estimated or state.usage.estimated)

    def _int64(self, value: int) -> int:
        shown = saturating(value, INT64_MIN, INT64_MAX)
        if shown != value:
            self._warn()
        return shown

    def _uint64(self, value: int) -> int:
        shown = saturating(value, 0, UINT64_MAX)
        if shown != value:
            self._warn()
        return shown

    def _warn(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "a snapshot total outgrew its 64-bit field and shows the field's largest "
                "value from now on (Prometheus counters keep counting)"
            )

    def _usage(self, usage: events_pb.Usage, counts: Counter[str]) -> None:
        for name in TOKEN_FIELDS:
            setattr(usage, name, self._uint64(counts[name]))

    def to_proto(self) -> state_pb.Totals:
        totals = state_pb.Totals(
            tasks=self.tasks,
            cost_nanos=self._int64(self.cost_nanos),
            reference_cost_nanos=self._int64(self.reference_nanos),
            savings_nanos=self._int64(self.reference_nanos - self.cost_nanos),
            unpriced_tasks=self.unpriced_tasks,
        )
        for status in sorted(self.by_status):
            if self.by_status[status]:
                totals.by_status.add(status=status, tasks=self.by_status[status])
        self._usage(totals.usage, self.usage)
        for (backend, model), sums in sorted(self.by_model.items()):
            entry = totals.by_model.add(
                backend=backend,
                model=model,
                tasks=sums.tasks,
                cost_nanos=self._int64(sums.cost_nanos),
                reference_cost_nanos=self._int64(sums.reference_nanos),
                savings_nanos=self._int64(sums.reference_nanos - sums.cost_nanos),
                unpriced_tasks=sums.unpriced_tasks,
                estimated_tasks=sums.estimated_tasks,
            )
            self._usage(entry.usage, sums.usage)
        return totals
