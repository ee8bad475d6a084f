"""Budgets as an engine observer: a crossing becomes a log line, a metric and an event.

Fed every folded batch, like the metrics, so budgets stay out of admission (the hot path):
the book (``budget_book``) turns each batch's task changes into crossings of 80 % and 100 %.
Each crossing is counted on every replica (all fold the whole log), but only the replica
that committed the batch logs it and writes the ``budget`` event into the task's stream,
so a crossing is written once. The event goes through the store like a report, authored by
the server (``events.SERVER_AUTHOR``, seq 0): it never touches the sidecar's seqs, its
resends or SEQ_CONFLICT. Its own batch moves no cost, so it crosses nothing again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from execstream.money import usd
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.budget_book import BudgetBook, BudgetStatus, Crossing
from execstream_server.domain.budget_recovery import missing_crossings
from execstream_server.domain.budgets import level
from execstream_server.domain.records import CommittedBatch, TaskChange

log = logging.getLogger("execstream.budgets")

WriteEvents = Callable[[list[events_pb.ExecutionEvent]], None]
OnCrossing = Callable[[Crossing], None]
INT64_MAX = 2**63 - 1


def saturated(nanos: int) -> int:
    """``nanos`` as an int64 field can hold it: a sum of many tasks may pass 2**63 - 1."""
    return min(nanos, INT64_MAX)


def crossing_event(crossing: Crossing, state: state_pb.TaskState) -> events_pb.ExecutionEvent:
    """The ``budget`` event for ``crossing``, in the stream of the task that caused it."""
    budget = crossing.budget
    body = events_pb.BudgetCrossed(
        budget=budget.name,
        scope=budget.scope,
        period=budget.period,
        threshold_percent=crossing.threshold,
        amount_nanos=budget.amount_nanos,
        spent_nanos=saturated(crossing.spent_nanos),
    )
    if crossing.period_start is not None:
        body.period_start.FromDatetime(crossing.period_start)
    return events_pb.ExecutionEvent(
        task_id=state.task_id, sidecar_id=state.sidecar_id, attempt=state.attempt, budget=body
    )


def describe(crossing: Crossing) -> str:
    """One line for the server log."""
    budget = crossing.budget
    since = f" from {crossing.period_start:%Y-%m-%d}" if crossing.period_start else ""
    return (
        f"budget {budget.name} ({budget.scope}, {budget.period}{since}) reached "
        f"{crossing.threshold}%: {usd(crossing.spent_nanos)} of {usd(budget.amount_nanos)}, "
        f"with task {crossing.task_id}"
    )


def status_proto(status: BudgetStatus) -> state_pb.BudgetStatus:
    """A budget's standing, as GetSnapshot shows it."""
    budget = status.budget
    out = state_pb.BudgetStatus(
        name=budget.name,
        scope=budget.scope,
        period=budget.period,
        amount_nanos=budget.amount_nanos,
        spent_nanos=saturated(status.spent_nanos),
        reached_percent=level(status.spent_nanos, budget.amount_nanos),
        tasks_over=status.tasks_over,
        labels=dict(budget.labels),
        sidecar=budget.sidecar,
        model=budget.model,
    )
    if status.period_start is not None:
        out.period_start.FromDatetime(status.period_start)
    return out


class BudgetWatch:
    """The engine observer; ``write`` hands events to the store (without waiting)."""

    def __init__(
        self, book: BudgetBook, *, write: WriteEvents, on_crossing: OnCrossing | None = None
    ) -> None:
        self.book = book
        self._write = write
        self._on_crossing = on_crossing

    def on_recovered(self, tasks: Sequence[state_pb.TaskState]) -> None:
        self.book.recover(tasks)

    def on_batch(self, batch: CommittedBatch, changes: Sequence[TaskChange]) -> None:
        crossings = self.book.apply(changes)
        if not crossings:
            return
        states = {new.task_id: new for _, new in changes}
        events = []
        for crossing in crossings:
            if self._on_crossing is not None:
                self._on_crossing(crossing)
            if batch.local:
                log.warning("%s", describe(crossing))
                events.append(crossing_event(crossing, states[crossing.task_id]))
        if events:
            self._write(events)

    def missing_events(self, tasks: Sequence[state_pb.TaskState]) -> list[events_pb.ExecutionEvent]:
        """The ``budget`` events a stop lost (see ``budget_recovery``), each logged."""
        events = []
        for crossing, state in missing_crossings(self.book.status(), tasks):
            log.warning(
                "%s (written at start: the server stopped before writing it)", describe(crossing)
            )
            events.append(crossing_event(crossing, state))
        return events

    def snapshot(self) -> list[state_pb.BudgetStatus]:
        return [status_proto(status) for status in self.book.status()]
