"""Which UTC day, on the server's clock, each part of a task's committed cost was committed in.

Budgets with a day or month period count cost in the period it was committed in, so a
sidecar's clock (event times, created_time) cannot move spend out of a period, and a task
running past midnight spends in the new day. The split lives in the task state
(``TaskState.spend_by_day``), made by the fold from each log record's commit time: a
restart (checkpoint plus refold of the log) rebuilds it, and so the budgets, exactly.

Invariant: the entries sum to the task's committed cost. Once a task has cost in a new
month, its earlier months are summed into one entry on the last day of the month before
(no budget's current period reads them), so a task holds at most 32 entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.cost import committed_nanos

Fold = Callable[[state_pb.TaskState | None, Sequence[events_pb.ExecutionEvent]], state_pb.TaskState]
MS_PER_DAY = 86_400_000
EPOCH = dt.date(1970, 1, 1)


def commit_day(committed_ms: int) -> int:
    """The UTC day (days since 1970-01-01) of a commit time in ms since the epoch."""
    return committed_ms // MS_PER_DAY


def day_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=day)


def _month(day: int) -> int:
    date = day_date(day)
    return date.year * 12 + date.month - 1


def runs_by_day(
    events: Sequence[events_pb.ExecutionEvent], days: Sequence[int]
) -> Iterator[tuple[int, Sequence[events_pb.ExecutionEvent]]]:
    """Consecutive events committed on the same day, with that day (one run, usually)."""
    if all(day == days[0] for day in days):
        yield days[0], events
        return
    start = 0
    for end in range(1, len(events) + 1):
        if end == len(events) or days[end] != days[start]:
            yield days[start], events[start:end]
            start = end


def fold_by_day(
    state: state_pb.TaskState | None,
    events: Sequence[events_pb.ExecutionEvent],
    days: Sequence[int],
    *,
    fold: Fold,
) -> state_pb.TaskState:
    """``fold`` of one task's events, with the change in cost booked on each commit day."""
    new = state
    for day, run in runs_by_day(events, days):  # a batch that spans midnight: two runs
        folded = fold(new, run)
        book_day(new, folded, day)
        new = folded
    assert new is not None, "events of one task: at least one"
    return new


def spend_by_day(state: state_pb.TaskState) -> list[tuple[int, int]]:
    """The task's (day, nano-USD) entries; cost they do not hold counts on created_time's day.

    Only a state stored by a server version that kept no split has such a rest.
    """
    entries = [(entry.day, entry.nanos) for entry in state.spend_by_day]
    rest = committed_nanos(state) - sum(nanos for _, nanos in entries)
    if rest:
        created = state.created_time.seconds * 1000 + state.created_time.nanos // 1_000_000
        entries.append((commit_day(created), rest))
    return entries


def same_spend_month(state: state_pb.TaskState, day: int) -> bool:
    """Whether a fold on ``day`` that moves no cost leaves the state's entries as they are
    (``book_day``: a new month sums the earlier ones, even when no cost moved)."""
    if not state.spend_by_day:
        return True
    latest = state.spend_by_day[-1].day
    return day <= latest or _month(day) == _month(latest)


def book_day(before: state_pb.TaskState | None, after: state_pb.TaskState, day: int) -> None:
    """Record in ``after`` (folded from ``before`` by events committed on ``day``) its change.

    Most folds move no cost (output of a running task) and leave the entries as they are.
    """
    previous = committed_nanos(before) if before is not None else 0
    change = committed_nanos(after) - previous
    latest = after.spend_by_day[-1].day if after.spend_by_day else day
    if not change and (day <= latest or _month(day) == _month(latest)):
        return
    spent: dict[int, int] = {}
    for entry_day, nanos in spend_by_day(before) if before is not None else ():
        spent[entry_day] = spent.get(entry_day, 0) + nanos
    spent[day] = spent.get(day, 0) + change
    month = _month(day)
    if any(_month(d) < month for d in spent):
        carry_day = (day_date(day).replace(day=1) - EPOCH).days - 1
        carried = sum(nanos for d, nanos in spent.items() if _month(d) < month)
        spent = {d: nanos for d, nanos in spent.items() if _month(d) >= month}
        spent[carry_day] = carried
    del after.spend_by_day[:]
    for entry_day in sorted(spent):
        if spent[entry_day]:
            after.spend_by_day.add(day=entry_day, nanos=spent[entry_day])
