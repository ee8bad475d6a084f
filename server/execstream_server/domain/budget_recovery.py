"""Crossings the books show but no task's stream holds, written once at start.

A crossing's ``budget`` event is written after the batch that caused it committed; a server
that stops in between (or crashes) leaves the cost in the log and no event. At start the
books are rebuilt from task states, so the crossing is not seen again. Every task state
keeps the crossings written into its stream (``TaskState.budget_crossings``, the fold of
the ``budget`` events), so what is missing is what a budget has reached above what was
written for it in its current period (per-task budgets: for each task). One replica of a
shared store writes them (the store's ``claim``), after folding the log to its head, so a
replica that starts later folds them and finds nothing missing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.budget_book import BudgetStatus, Crossing, by_period
from execstream_server.domain.budgets import THRESHOLDS, level
from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.errors import DomainError
from execstream_server.domain.events import SERVER_AUTHOR

if TYPE_CHECKING:
    from execstream_server.domain.budget_watch import BudgetWatch
    from execstream_server.domain.engine import Engine

log = logging.getLogger("execstream.budgets")

CLAIM = "budget-crossings"
CLAIM_TTL_S = 60.0
_WRITE_CHUNK = 500  # events per append
# (budget name, period start in seconds or None, task id for a per-task budget else "")
WrittenKey = tuple[str, int | None, str]


def _written(tasks: Sequence[state_pb.TaskState]) -> dict[WrittenKey, int]:
    """The highest threshold written per budget, period and (per-task budgets) task."""
    written: dict[WrittenKey, int] = {}
    for state in tasks:
        for mark in state.budget_crossings:
            start = mark.period_start.seconds if mark.HasField("period_start") else None
            key = (mark.budget, start, state.task_id if mark.scope == "task" else "")
            written[key] = max(written.get(key, 0), mark.threshold_percent)
    return written


def _seconds(at: dt.datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())


def _aggregate(
    status: BudgetStatus, tasks: Sequence[state_pb.TaskState], written: dict[WrittenKey, int]
) -> list[tuple[Crossing, state_pb.TaskState]]:
    """A summed budget: its current period's missing thresholds, in its latest task's stream."""
    budget = status.budget
    have = written.get((budget.name, _seconds(status.period_start), ""), 0)
    reached = level(status.spent_nanos, budget.amount_nanos)
    missing = [t for t in THRESHOLDS if have < t <= reached]
    now = budget.period_key(status.period_start or dt.datetime.now(dt.UTC))
    spenders = [s for s in tasks if by_period(budget, s).get(now, 0) > 0]
    if not missing or not spenders:
        return []
    cause = max(spenders, key=lambda s: s.last_revision)  # the latest to spend in the period
    crossing = [
        Crossing(budget, cause.task_id, t, status.spent_nanos, status.period_start) for t in missing
    ]
    return [(c, cause) for c in crossing]


def _per_task(
    status: BudgetStatus, tasks: Sequence[state_pb.TaskState], written: dict[WrittenKey, int]
) -> list[tuple[Crossing, state_pb.TaskState]]:
    budget = status.budget
    found = []
    for state in tasks:
        if not budget.selects(state):
            continue
        spent = committed_nanos(state)
        have = written.get((budget.name, None, state.task_id), 0)
        reached = level(spent, budget.amount_nanos)
        for threshold in THRESHOLDS:
            if have < threshold <= reached:
                found.append((Crossing(budget, state.task_id, threshold, spent, None), state))
    return found


def missing_crossings(
    statuses: Sequence[BudgetStatus], tasks: Sequence[state_pb.TaskState]
) -> list[tuple[Crossing, state_pb.TaskState]]:
    """Crossings that ``statuses`` (the rebuilt books) show and no task's stream holds."""
    written = _written(tasks)
    found: list[tuple[Crossing, state_pb.TaskState]] = []
    for status in statuses:
        check = _per_task if status.budget.per_task else _aggregate
        found += check(status, tasks, written)
    return found


async def write_missing_crossings(watch: BudgetWatch, engine: Engine) -> int:
    """At start: write the crossings a stop lost (one replica of a shared store); how many.

    A store that fails here costs only these events (logged); the server starts anyway.
    """
    if not watch.book.budgets:
        return 0
    store = engine.store
    written = 0
    try:
        if not await store.claim(CLAIM, CLAIM_TTL_S):
            return 0
        await engine.wait_applied(await store.head_revision())
        events = watch.missing_events(list(engine.tasks.values()))
        for start in range(0, len(events), _WRITE_CHUNK):
            chunk = events[start : start + _WRITE_CHUNK]
            await store.append(SERVER_AUTHOR, chunk)
            written += len(chunk)
    except (DomainError, TimeoutError) as exc:
        log.warning("could not write the budget crossings missed at the last stop: %s", exc)
    return written
