"""Totals grouped by the values of one task label key, for GetSnapshot's ``group_by_label``.

Any key can be asked, so nothing is kept per key: one pass over the task states, at the
snapshot's revision, sums finished tasks' usage and cost and running tasks' cost so far
(the same figures as the totals, split by value). Sums are exact Python integers shown
saturated in their 64-bit fields, like the totals.

Clients choose label values, so the rows are bounded like ``by_model``'s (``totals``): at
most ``max_values`` rows within ``max_bytes``, the values that cost most (finished plus
running, then the most tokens, then the most tasks, then by value), so the choice depends
only on the sums; the rest are summed in one ``other`` row whose ``folded_values`` counts
them. Without the bound one snapshot page could outgrow the message size limit and be
refused to every caller.
"""

from __future__ import annotations

import heapq
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

OTHER = "other"
# A by_label entry's tag and length prefix, beside its LabelTotals bytes.
_ENTRY_OVERHEAD = 4
# Room kept in ``max_bytes`` for the ``other`` row beside its key: its value is short and
# its dozen numbers take at most 11 bytes each with their tags.
_OTHER_ROW_BYTES = 256


@dataclass(slots=True)
class _Sums:
    tasks: int = 0
    running_tasks: int = 0
    usage: Counter[str] = field(default_factory=Counter)
    cost: int = 0
    reference: int = 0
    running: int = 0
    unpriced: int = 0

    def add(self, other: _Sums) -> None:
        self.tasks += other.tasks
        self.running_tasks += other.running_tasks
        self.usage.update(other.usage)
        self.cost += other.cost
        self.reference += other.reference
        self.running += other.running
        self.unpriced += other.unpriced


def _int64(value: int) -> int:
    return saturating(value, INT64_MIN, INT64_MAX)


def _rank(item: tuple[str, _Sums]) -> tuple[int, int, int, str]:
    """Highest cost (finished plus running) first, then most tokens, then most tasks, then
    by value: a total order over the sums, whatever order the tasks were scanned in."""
    value, sums = item
    return (
        -(sums.cost + sums.running),
        -sums.usage.total(),
        -(sums.tasks + sums.running_tasks),
        value,
    )


def _sums_by_value(tasks: Iterable[state_pb.TaskState], key: str) -> dict[str, _Sums]:
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
    return groups


def _row(key: str, value: str, sums: _Sums) -> state_pb.LabelTotals:
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
    return entry


def label_totals(
    tasks: Iterable[state_pb.TaskState],
    key: str,
    *,
    max_values: int = 1000,
    max_bytes: int = 2 * 1024 * 1024,
) -> list[state_pb.LabelTotals]:
    """One entry per value of ``key`` (empty: tasks without it), sorted by value, within
    ``max_values`` rows and ``max_bytes``; the rest summed in a last ``other`` row."""
    groups = _sums_by_value(tasks, key)
    ranked: list[tuple[str, _Sums]]
    if len(groups) <= max_values:
        ranked = sorted(groups.items(), key=_rank)
    else:
        ranked = heapq.nsmallest(max_values, groups.items(), key=_rank)
    rows: list[state_pb.LabelTotals] = []
    used = _OTHER_ROW_BYTES + len(key.encode())
    for value, sums in ranked:
        row = _row(key, value, sums)
        used += row.ByteSize() + _ENTRY_OVERHEAD
        if used > max_bytes:
            break
        rows.append(row)
    rows.sort(key=lambda row: row.value)
    folded = len(groups) - len(rows)
    if folded:
        shown = {row.value for row in rows}
        other = _Sums()
        for value, sums in groups.items():
            if value not in shown:
                other.add(sums)
        row = _row(key, OTHER, other)
        row.folded_values = folded
        rows.append(row)
    return rows


class LabelBreakdowns:
    """``label_totals`` kept for the current revision, per key (a few keys at most), so
    paging a snapshot scans the tasks once, not once per page."""

    _KEYS = 8

    def __init__(self, *, max_values: int) -> None:
        self.max_values = max_values
        self._revision = -1
        self._rows: dict[str, list[state_pb.LabelTotals]] = {}

    def rows(
        self, tasks: Iterable[state_pb.TaskState], key: str, *, revision: int, max_bytes: int
    ) -> list[state_pb.LabelTotals]:
        if revision != self._revision:
            self._rows.clear()
            self._revision = revision
        rows = self._rows.get(key)
        if rows is None:
            if len(self._rows) >= self._KEYS:
                self._rows.pop(next(iter(self._rows)))
            rows = label_totals(tasks, key, max_values=self.max_values, max_bytes=max_bytes)
            self._rows[key] = rows
        return rows
