"""Running totals over all tasks, kept exact by applying each state change as a delta.

Updated with every folded task (old state -> new state), so GetSnapshot's totals always
match the fold at the snapshot's revision without a scan. A task's cost enters the finished
totals when it finishes; until then it counts in the running cost (settled attempts plus
its latest usage update), which it leaves at that moment, at its final figure.

Sums are kept as Python integers, exact whatever the number of tasks. Admission bounds each
task (``bounds``), but nothing bounds how many tasks there are, so a sum can outgrow the
int64/uint64 field it is shown in: the field then holds its largest value (saturates) and
one warning is logged, instead of the snapshot failing for everyone.

``by_model`` is bounded too: each distinct (backend, model) pair would add a row to every
snapshot, and clients choose the names. The sums of every pair are kept, but at most
``max_models`` rows, within ``max_bytes``, are shown: the pairs that cost most (then have
the most tokens, then the most tasks, then by name), so the choice depends only on the
sums, never on the order tasks were folded or recovered in; the rest are summed in one
``other`` row.
"""

from __future__ import annotations

import heapq
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
from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.lifecycle import is_terminal

log = logging.getLogger(__name__)

OTHER = "other"
# A by_model entry's tag and length prefix, beside its ModelTotals bytes.
_ENTRY_OVERHEAD = 4
# Room kept in ``max_bytes`` for the ``other`` row (its names are short, its numbers
# at most 10 bytes each).
_OTHER_ROW_BYTES = 256


@dataclass(slots=True)
class _ModelSums:
    tasks: int = 0
    usage: Counter[str] = field(default_factory=Counter)
    cost_nanos: int = 0
    reference_nanos: int = 0
    unpriced_tasks: int = 0
    estimated_tasks: int = 0

    def add(self, other: _ModelSums) -> None:
        self.tasks += other.tasks
        self.usage.update(other.usage)
        self.cost_nanos += other.cost_nanos
        self.reference_nanos += other.reference_nanos
        self.unpriced_tasks += other.unpriced_tasks
        self.estimated_tasks += other.estimated_tasks


def _rank(item: tuple[tuple[str, str], _ModelSums]) -> tuple[int, int, int, str, str]:
    """Highest cost first, then most tokens (unpriced and local models cost 0), then most
    tasks, then by name: a total order over the sums, whatever order they were added in."""
    (backend, model), sums = item
    return (-sums.cost_nanos, -sums.usage.total(), -sums.tasks, backend, model)


class TotalsBook:
    """See the module docstring."""

    def __init__(self, *, max_models: int = 1000, max_bytes: int = 2 * 1024 * 1024) -> None:
        self.max_models = max_models
        self.max_bytes = max_bytes
        self.tasks = 0
        self.by_status: Counter[int] = Counter()
        self.usage: Counter[str] = Counter()
        self.cost_nanos = 0
        self.reference_nanos = 0
        self.unpriced_tasks = 0
        self.running_nanos = 0
        self.interim_nanos = 0
        self.by_model: dict[tuple[str, str], _ModelSums] = {}
        self._warned = False
        self._rendered: state_pb.Totals | None = None  # to_proto's, until the next update

    def update(self, old: state_pb.TaskState | None, new: state_pb.TaskState) -> None:
        """Account for one task moving from ``old`` (None when new) to ``new``.

        Most folds only add output, which moves neither the status, the usage nor the
        pending usage update (the live meter's interim): every delta below is then zero, and
        three comparisons (C-level) skip a dozen counter updates.
        """
        if (
            old is not None
            and old.status == new.status
            and old.usage == new.usage
            and old.interim == new.interim
        ):
            return
        self._rendered = None
        if old is None:
            self.tasks += 1
        else:
            self.by_status[old.status] -= 1
            for name in TOKEN_FIELDS:
                self.usage[name] -= getattr(old.usage, name)
            if not is_terminal(old.status):
                self.running_nanos -= committed_nanos(old)
                self.interim_nanos -= old.interim.cost.actual.total_nanos
        if not is_terminal(new.status):
            self.running_nanos += committed_nanos(new)
            self.interim_nanos += new.interim.cost.actual.total_nanos
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
        """The totals as a snapshot shows them (rendered once per change, copied out)."""
        if self._rendered is None:
            self._rendered = self._render()
        totals = state_pb.Totals()
        totals.CopyFrom(self._rendered)
        return totals

    def _render(self) -> state_pb.Totals:
        totals = state_pb.Totals(
            tasks=self.tasks,
            cost_nanos=self._int64(self.cost_nanos),
            reference_cost_nanos=self._int64(self.reference_nanos),
            savings_nanos=self._int64(self.reference_nanos - self.cost_nanos),
            unpriced_tasks=self.unpriced_tasks,
            running_cost_nanos=self._int64(self.running_nanos),
            interim_cost_nanos=self._int64(self.interim_nanos),
        )
        for status in sorted(self.by_status):
            if self.by_status[status]:
                totals.by_status.add(status=status, tasks=self.by_status[status])
        self._usage(totals.usage, self.usage)
        rows, other, folded = self._model_rows()
        totals.by_model.extend(sorted(rows, key=lambda row: (row.backend, row.model)))
        if folded:
            row = self._row(OTHER, OTHER, other)
            row.folded_models = folded
            totals.by_model.append(row)
        return totals

    def _model_rows(self) -> tuple[list[state_pb.ModelTotals], _ModelSums, int]:
        """The rows shown (see the module docstring), the sums of the rest and their count."""
        ranked: list[tuple[tuple[str, str], _ModelSums]]
        if len(self.by_model) <= self.max_models:
            ranked = sorted(self.by_model.items(), key=_rank)
        else:
            ranked = heapq.nsmallest(self.max_models, self.by_model.items(), key=_rank)
        rows: list[state_pb.ModelTotals] = []
        used = _OTHER_ROW_BYTES
        for (backend, model), sums in ranked:
            row = self._row(backend, model, sums)
            used += row.ByteSize() + _ENTRY_OVERHEAD
            if used > self.max_bytes:
                break
            rows.append(row)
        shown = {(row.backend, row.model) for row in rows}
        other = _ModelSums()
        for key, sums in self.by_model.items():
            if key not in shown:
                other.add(sums)
        return rows, other, len(self.by_model) - len(rows)

    def _row(self, backend: str, model: str, sums: _ModelSums) -> state_pb.ModelTotals:
        row = state_pb.ModelTotals(
            backend=backend,
            model=model,
            tasks=sums.tasks,
            cost_nanos=self._int64(sums.cost_nanos),
            reference_cost_nanos=self._int64(sums.reference_nanos),
            savings_nanos=self._int64(sums.reference_nanos - sums.cost_nanos),
            unpriced_tasks=sums.unpriced_tasks,
            estimated_tasks=sums.estimated_tasks,
        )
        self._usage(row.usage, sums.usage)
        return row
