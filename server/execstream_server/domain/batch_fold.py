"""One committed batch folded into the task states, the common case in place.

Events are grouped by task; a task whose events are all output of a running task is
folded in place (``OutputFold``: nothing a reader of changes looks at moves), every other
task through ``fold.fold`` into a new state, with its cost booked on each commit day
(``spend_days``). Only the latter are changes: the totals, the metrics and the budgets
see the states before and after, and output moves none of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.output_fold import OutputFold
from execstream_server.domain.records import CommittedBatch, TaskChange
from execstream_server.domain.spend_days import Fold, commit_day, fold_by_day, same_spend_month

Events = list[events_pb.ExecutionEvent]


def _one_day(batch: CommittedBatch) -> int | None:
    """The commit day of every frame of the batch, or None when it spans midnight."""
    days = {commit_day(frame.committed_ms) for frame in batch.frames}
    return days.pop() if len(days) == 1 else None


def _days_by_task(batch: CommittedBatch) -> dict[str, list[int]]:
    """Each task's events' commit days, in order (a batch that spans midnight)."""
    days: dict[str, list[int]] = {}
    for event, committed_ms in zip(batch.events, batch.commit_times_ms(), strict=True):
        days.setdefault(event.task_id, []).append(commit_day(committed_ms))
    return days


def fold_batch(
    batch: CommittedBatch,
    tasks: Mapping[str, state_pb.TaskState],
    output: OutputFold,
    fold: Fold,
) -> tuple[list[TaskChange], Sequence[str]]:
    """The batch's changes (states the caller must store) and every task it touched."""
    by_task: dict[str, Events] = {}
    for event in batch.events:
        events = by_task.get(event.task_id)
        if events is None:
            by_task[event.task_id] = [event]
        else:
            events.append(event)
    day = _one_day(batch)
    days_by_task = _days_by_task(batch) if day is None else {}
    changes: list[TaskChange] = []
    for task_id, events in by_task.items():
        old = tasks.get(task_id)
        if old is not None:
            if day is not None and same_spend_month(old, day) and output.fold(old, events):
                continue
            output.flush(old)  # the fold below copies the state, its tail included
        days = [day] * len(events) if day is not None else days_by_task[task_id]
        changes.append((old, fold_by_day(old, events, days, fold=fold)))
    return changes, list(by_task)
