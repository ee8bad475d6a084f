"""Running totals (domain/totals.py) stay the sum over tasks, whatever changed or did not."""

from __future__ import annotations

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
