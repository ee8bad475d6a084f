"""Running totals (domain/totals.py) stay the sum over tasks, whatever changed or did not;
by_model is bounded in rows and bytes, and the rows shown do not depend on the order tasks
were folded (or recovered) in."""

from __future__ import annotations

import random

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.totals import TotalsBook
from hypothesis import given
from hypothesis import strategies as st

_STATUSES = st.sampled_from(
    [
        events_pb.TASK_STATUS_PENDING,
        events_pb.TASK_STATUS_RUNNING,
        events_pb.TASK_STATUS_RETRYING,
        events_pb.TASK_STATUS_SUCCEEDED,
        events_pb.TASK_STATUS_FAILED,
    ]
)


@st.composite
def states(draw: st.DrawFn) -> state_pb.TaskState:
    state = state_pb.TaskState(
        task_id=draw(st.sampled_from(["a", "b", "c"])),
        status=draw(_STATUSES),
        last_seq=draw(st.integers(0, 9)),
        output_tail=draw(st.text(max_size=5)),
    )
    state.usage.input_tokens = draw(st.integers(0, 3))
    state.usage.output_tokens = draw(st.integers(0, 3))
    state.cost.actual.total_nanos = draw(st.integers(0, 5))
    return state


@given(steps=st.lists(states(), max_size=30))
def test_totals_equal_a_fresh_sum_over_the_latest_states(steps: list[state_pb.TaskState]) -> None:
    book = TotalsBook()
    latest: dict[str, state_pb.TaskState] = {}
    for state in steps:
        old = latest.get(state.task_id)
        if old is not None and old.status in (4, 5) and state.status != old.status:
            continue  # a finished task never changes status again (admission refuses it)
        book.update(old, state)
        latest[state.task_id] = state
    fresh = TotalsBook()
    for state in latest.values():
        fresh.update(None, state)
    assert book.to_proto().by_status == fresh.to_proto().by_status
    assert book.to_proto().usage == fresh.to_proto().usage
    assert book.tasks == fresh.tasks == len(latest)


def _finished(i: int, *, backend: str = "b", tokens: int = 1) -> state_pb.TaskState:
    state = state_pb.TaskState(
        task_id=f"t{i}",
        status=events_pb.TASK_STATUS_SUCCEEDED,
        backend=backend,
        model=f"model-{i}",
    )
    state.usage.input_tokens = tokens
    state.cost.actual.total_nanos = 10 * tokens
    return state


def _book(states: list[state_pb.TaskState], **bounds: int) -> TotalsBook:
    book = TotalsBook(**bounds)
    for state in states:
        book.update(None, state)
    return book


def test_by_model_at_its_bound_has_no_other_row() -> None:
    totals = _book([_finished(i) for i in range(5)], max_models=5).to_proto()
    assert [row.model for row in totals.by_model] == [f"model-{i}" for i in range(5)]


def test_one_pair_past_the_bound_is_summed_in_an_other_row() -> None:
    states = [_finished(i, tokens=i + 1) for i in range(6)]
    totals = _book(states, max_models=5).to_proto()
    *rows, other = totals.by_model
    assert [row.model for row in rows] == [f"model-{i}" for i in range(1, 6)]
    assert (other.backend, other.model, other.folded_models) == ("other", "other", 1)
    assert (other.tasks, other.usage.input_tokens, other.cost_nanos) == (1, 1, 10)


def test_the_rows_shown_do_not_depend_on_the_order_tasks_came_in() -> None:
    states = [_finished(i, backend=f"b{i % 3}", tokens=1 + i % 4) for i in range(60)]
    expected = _book(states, max_models=10).to_proto()
    for seed in range(5):
        shuffled = states[:]
        random.Random(seed).shuffle(shuffled)
        assert _book(shuffled, max_models=10).to_proto() == expected


def test_by_model_stays_within_its_bytes() -> None:
    states = [_finished(i, tokens=i + 1) for i in range(200)]
    for state in states:
        state.model = state.model.ljust(256, "x")
    book = _book(states, max_models=1000, max_bytes=16 * 1024)
    totals = book.to_proto()
    assert sum(row.ByteSize() + 4 for row in totals.by_model) <= 16 * 1024
    assert totals.by_model[-1].folded_models == 200 - (len(totals.by_model) - 1)
    assert sum(row.tasks for row in totals.by_model) == 200


def test_totals_are_rendered_again_after_a_change() -> None:
    book = _book([_finished(1)], max_models=1)
    assert len(book.to_proto().by_model) == 1
    book.update(None, _finished(2, tokens=5))
    rows = book.to_proto().by_model
    assert [(row.model, row.folded_models) for row in rows] == [
        ("model-2", 0),
        ("other", 1),
    ]
