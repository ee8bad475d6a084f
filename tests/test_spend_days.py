"""A task's committed cost split by the server's commit day (TaskState.spend_by_day)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.fold import fold
from execstream_server.domain.spend_days import day_date, fold_by_day, spend_by_day

from .support.helpers import event

MARCH_30 = (dt.date(2031, 3, 30) - dt.date(1970, 1, 1)).days
FOLD = partial(fold, tail_bytes=4096)


def usage(seq: int, nanos: int) -> events_pb.ExecutionEvent:
    """A usage update whose admission priced the attempt so far at ``nanos``."""
    ev = event("t", seq, "usage", usage=events_pb.Usage(output_tokens=seq))
    ev.usage.cost.actual.total_nanos = nanos
    return ev


def finished(seq: int, nanos: int) -> events_pb.ExecutionEvent:
    ev = event("t", seq, "finished")
    ev.finished.cost.actual.total_nanos = nanos
    return ev


# (event, commit day): over March 30 and 31, then April 2; an estimate revised down.
HISTORY = [
    (event("t", 1, "started", backend="anthropic", model="m"), MARCH_30),
    (usage(2, 500), MARCH_30),
    (usage(3, 900), MARCH_30 + 1),
    (event("t", 4, "token", text="x"), MARCH_30 + 1),
    (usage(5, 700), MARCH_30 + 1),
    (event("t", 6, "token", text="y"), MARCH_30 + 3),
    (usage(7, 1200), MARCH_30 + 3),
    (finished(8, 1300), MARCH_30 + 3),
]


def fold_in_batches(sizes: Sequence[int]) -> state_pb.TaskState:
    state: state_pb.TaskState | None = None
    at = 0
    for size in sizes:
        batch = HISTORY[at : at + size]
        events, days = [e for e, _ in batch], [d for _, d in batch]
        state = fold_by_day(state, events, days, fold=FOLD)
        at += size
    assert state is not None
    return state


def entries(state: state_pb.TaskState) -> list[tuple[dt.date, int]]:
    return [(day_date(e.day), e.nanos) for e in state.spend_by_day]


def test_each_change_counts_on_its_commit_day() -> None:
    state = fold_in_batches([2])
    assert entries(state) == [(dt.date(2031, 3, 30), 500)]
    state = fold_in_batches([2, 3])
    assert entries(state) == [(dt.date(2031, 3, 30), 500), (dt.date(2031, 3, 31), 200)]


def test_a_new_month_sums_the_earlier_months_into_one_entry() -> None:
    state = fold_in_batches([8])
    assert entries(state) == [(dt.date(2031, 3, 31), 700), (dt.date(2031, 4, 2), 600)]
    assert sum(nanos for _, nanos in spend_by_day(state)) == committed_nanos(state) == 1300


def test_the_split_is_the_same_however_the_log_is_batched() -> None:
    """Live batches and a recovery's refold group the same events differently."""
    whole = fold_in_batches([8])
    for sizes in ([1] * 8, [3, 5], [2, 1, 4, 1], [5, 3]):
        assert fold_in_batches(sizes) == whole, sizes


def test_output_moves_no_entry() -> None:
    before = fold_in_batches([3])
    after = fold_by_day(before, [event("t", 4, "token", text="x")], [MARCH_30 + 1], fold=FOLD)
    assert list(after.spend_by_day) == list(before.spend_by_day)


def test_a_clock_that_steps_back_books_each_change_on_its_own_day() -> None:
    """A store whose clock steps back over midnight (NTP, a Redis failover): a refold that
    reads the commits in one page books them as live folding did, one by one."""
    events = [HISTORY[0][0], usage(2, 500), usage(3, 900), usage(4, 1000)]
    days = [MARCH_30, MARCH_30, MARCH_30 + 1, MARCH_30]
    one_by_one: state_pb.TaskState | None = None
    for ev, day in zip(events, days, strict=True):
        one_by_one = fold_by_day(one_by_one, [ev], [day], fold=FOLD)
    assert fold_by_day(None, events, days, fold=FOLD) == one_by_one
