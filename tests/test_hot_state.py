"""Plain-Python task state (domain/hot_state.py) folds exactly like the reference fold."""

from __future__ import annotations

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.fold import fold
from execstream_server.domain.hot_state import HotTask, fold_batch
from hypothesis import given
from hypothesis import strategies as st

# Multi-byte characters make the tail's cut land inside a character.
_TEXT = st.text(alphabet=st.sampled_from("ab\n\u00e9\u20ac\U0001f600"), max_size=12)
_MIDDLE = st.sampled_from(["stdout", "stderr", "token", "status", "tool_call", "error"])


@st.composite
def lifetimes(draw: st.DrawFn) -> list[events_pb.ExecutionEvent]:
    """One task's admitted events: legal transitions, seqs and revisions in order."""
    bodies = [draw(st.sampled_from(["started", "stdout"]))]
    bodies += draw(st.lists(_MIDDLE, max_size=25))
    if draw(st.booleans()):
        bodies.append("finished")
    events = []
    for seq, body in enumerate(bodies, 1):
        event = events_pb.ExecutionEvent(
            task_id="t1",
            seq=seq,
            revision=10 * seq,
            sidecar_id="s1",
            attempt=draw(st.integers(0, 3)),
        )
        event.time.seconds = 1_700_000_000 + seq
        event.time.nanos = draw(st.integers(0, 999_999_999))
        if body == "started":
            event.started.backend, event.started.model = "openai", "gpt"
            event.started.labels["team"] = draw(_TEXT)
        elif body == "status":
            event.status.status = draw(
                st.sampled_from([events_pb.TASK_STATUS_RUNNING, events_pb.TASK_STATUS_RETRYING])
            )
            event.status.message = draw(_TEXT)
            event.status.usage.output_tokens = draw(st.integers(0, 50))
        elif body == "error":
            event.error.message, event.error.code = draw(_TEXT), "E1"
        elif body == "tool_call":
            event.tool_call.tool_name = "grep"
        elif body == "finished":
            event.finished.outcome = events_pb.OUTCOME_SUCCEEDED
            event.finished.usage.input_tokens = 7
        else:
            getattr(event, body).text = draw(_TEXT)
        events.append(event)
    return events


def _reference(events: list[events_pb.ExecutionEvent], tail: int) -> state_pb.TaskState:
    state = None
    for event in events:
        state = fold(state, [event], tail_bytes=tail)
    assert state is not None
    return state


@given(events=lifetimes(), cuts=st.lists(st.integers(1, 30), max_size=8), tail=st.integers(0, 24))
def test_any_grouping_folds_to_the_reference_state(
    events: list[events_pb.ExecutionEvent], cuts: list[int], tail: int
) -> None:
    task: HotTask | None = None
    start = 0
    for cut in [*sorted(set(cuts)), len(events)]:
        group = events[start:cut]
        if group:
            task = fold_batch(task, group, tail_bytes=tail)
        start = max(start, cut)
    assert task is not None
    assert task.to_proto() == _reference(events, tail)


@given(events=lifetimes(), tail=st.integers(1, 24))
def test_a_checkpointed_state_resumes_where_it_left_off(
    events: list[events_pb.ExecutionEvent], tail: int
) -> None:
    half = len(events) // 2 or 1
    first = fold_batch(None, events[:half], tail_bytes=tail)
    resumed = HotTask(
        state_pb.TaskState.FromString(first.to_proto().SerializeToString()), tail_bytes=tail
    )
    if events[half:]:
        resumed = fold_batch(resumed, events[half:], tail_bytes=tail)
    assert resumed.to_proto() == _reference(events, tail)


def test_output_of_a_running_task_touches_no_message() -> None:
    started = events_pb.ExecutionEvent(task_id="t", seq=1, revision=1, sidecar_id="s")
    started.started.backend = "b"
    task = fold_batch(None, [started], tail_bytes=8)
    base = task.base
    chunk = events_pb.ExecutionEvent(task_id="t", seq=2, revision=2, sidecar_id="s", attempt=1)
    chunk.stdout.text = "0123456789"
    task = fold_batch(task, [chunk], tail_bytes=8)
    assert task.base is base  # the fast path changed slots only
    state = task.to_proto()
    assert (state.output_tail, state.output_tail_truncated, state.last_seq) == ("23456789", True, 2)
