"""The budget book: what each budget has spent, kept exact by applying task changes as deltas.

Fed the same (old, new) task states as the totals, after each folded batch, so the figures
match the fold at every revision; ``recover`` rebuilds them from task states after a restart
without reporting crossings again. A change that takes a budget (or, for a per-task budget,
a task) over 80 % or 100 % of its amount in the current period comes back as a ``Crossing``.

Each budget keeps its spend per period key. A task's cost counts in the period, on the
server's clock, in which each part of it was committed (``TaskState.spend_by_day``, see
``spend_days``), so a new day or month starts from what was committed in it, with no rescan.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.budgets import THRESHOLDS, Budget, level
from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.lifecycle import is_terminal
from execstream_server.domain.records import TaskChange
from execstream_server.domain.spend_days import day_date, spend_by_day

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Crossing:
    """A budget (or a task under a per-task budget) went over ``threshold`` percent."""

    budget: Budget
    task_id: str
    threshold: int
    spent_nanos: int
    period_start: dt.datetime | None


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget now: spend in the current period (per-task: the dearest running task)."""

    budget: Budget
    spent_nanos: int
    period_start: dt.datetime | None
    tasks_over: int  # per-task budgets: tasks that reached the amount, ever

    @property
    def used_ratio(self) -> float:
        return self.spent_nanos / self.budget.amount_nanos


class _Account:
    """One budget's books."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.spent: dict[int, int] = {}  # period key -> nano-USD (aggregate budgets)
        self.running: dict[str, int] = {}  # task id -> nano-USD (per-task budgets)
        self.tasks_over = 0

    def apply(
        self, old: state_pb.TaskState | None, new: state_pb.TaskState, now: int
    ) -> list[Crossing]:
        """Account for one change (``now``: the current period's key); return its crossings."""
        budget = self.budget
        before = committed_nanos(old) if old is not None and budget.selects(old) else 0
        after = committed_nanos(new) if budget.selects(new) else 0
        if budget.per_task:
            if after and not is_terminal(new.status):
                self.running[new.task_id] = after
            else:
                self.running.pop(new.task_id, None)
            crossed = _crossed(before, after, budget.amount_nanos)
            self.tasks_over += (after >= budget.amount_nanos) - (before >= budget.amount_nanos)
            return [Crossing(budget, new.task_id, t, after, None) for t in crossed]
        return self._apply_periods(old, new, now)

    def _apply_periods(
        self, old: state_pb.TaskState | None, new: state_pb.TaskState, now: int
    ) -> list[Crossing]:
        """An aggregate budget: move each period's spend by what the change moved in it."""
        budget = self.budget
        moved = by_period(budget, new)
        for key, nanos in by_period(budget, old).items():
            moved[key] = moved.get(key, 0) - nanos
        crossings: list[Crossing] = []
        for key, change in moved.items():
            if not change:
                continue
            total = self.spent.get(key, 0)
            self.spent[key] = total + change
            if key >= now:  # a past period's figure is never reported again
                start = budget.period_start(key)
                crossings += [
                    Crossing(budget, new.task_id, threshold, self.spent[key], start)
                    for threshold in _crossed(total, self.spent[key], budget.amount_nanos)
                ]
        return crossings

    def status(self, now: int) -> BudgetStatus:
        budget = self.budget
        if budget.per_task:
            dearest = max(self.running.values(), default=0)
            return BudgetStatus(budget, dearest, None, self.tasks_over)
        for key in [k for k in self.spent if k < now]:  # past periods are never read again
            del self.spent[key]
        return BudgetStatus(budget, self.spent.get(now, 0), budget.period_start(now), 0)


def by_period(budget: Budget, state: state_pb.TaskState | None) -> dict[int, int]:
    """What ``state`` counts in each of ``budget``'s periods (nothing if it is not selected)."""
    if state is None or not budget.selects(state):
        return {}
    if budget.period == "total":
        return {0: committed_nanos(state)}
    spent: dict[int, int] = {}
    for day, nanos in spend_by_day(state):
        key = budget.period_key(day_date(day))
        spent[key] = spent.get(key, 0) + nanos
    return spent


def _crossed(before: int, after: int, amount: int) -> list[int]:
    """The thresholds (percent) that going from ``before`` to ``after`` crossed upward."""
    low, high = level(before, amount), level(after, amount)
    return [threshold for threshold in THRESHOLDS if low < threshold <= high]


class BudgetBook:
    """See the module docstring."""

    def __init__(self, budgets: Sequence[Budget], *, clock: Clock = utc_now) -> None:
        self._accounts = [_Account(budget) for budget in budgets]
        self._clock = clock
        self._lock = threading.Lock()  # the metrics endpoint reads from its own thread

    @property
    def budgets(self) -> tuple[Budget, ...]:
        return tuple(account.budget for account in self._accounts)

    def recover(self, tasks: Iterable[state_pb.TaskState]) -> None:
        """Rebuild the books from task states (after a restart); reports nothing."""
        self.apply((None, state) for state in tasks)

    def apply(self, changes: Iterable[TaskChange]) -> list[Crossing]:
        """Account for folded changes; return the thresholds they crossed upward."""
        if not self._accounts:
            return []
        now = self._clock()
        keys = [account.budget.period_key(now) for account in self._accounts]
        crossings: list[Crossing] = []
        with self._lock:
            for old, new in changes:
                if old is None or _may_change_budgets(old, new):
                    for account, key in zip(self._accounts, keys, strict=True):
                        crossings += account.apply(old, new, key)
        return crossings

    def status(self) -> list[BudgetStatus]:
        now = self._clock()
        with self._lock:
            return [account.status(account.budget.period_key(now)) for account in self._accounts]


def _may_change_budgets(old: state_pb.TaskState, new: state_pb.TaskState) -> bool:
    """False for the common change (output of a running task): nothing a budget reads moved."""
    return (
        committed_nanos(old) != committed_nanos(new)
        or old.status != new.status
        or old.model != new.model
        or old.labels != new.labels
    )
