"""The fold as a pure function: lifecycle, output tail, usage, attempts."""

from __future__ import annotations

import itertools

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as pb_state
from execstream_server.domain.fold import fold
from hypothesis import given, settings
from hypothesis import strategies as st

from .support.helpers import event


def stamped(
    *events: events_pb.ExecutionEvent, sidecar: str = "sc"
) -> list[events_pb.ExecutionEvent]:
    for revision, ev in enumerate(events, start=1):
        ev.revision = revision
        ev.sidecar_id = sidecar
        ev.time.FromSeconds(1_700_000_000 + revision)
    return list(events)


def test_first_event_creates_pending_task_owned_by_its_sidecar() -> None:
    state = fold(
        None, stamped(event("t", 1, "status", status=events_pb.TASK_STATUS_PENDING)), tail_bytes=64
    )
    assert (state.task_id, state.sidecar_id, state.status) == (
        "t",
        "sc",
        events_pb.TASK_STATUS_PENDING,
    )
    assert state.created_time.seconds == 1_700_000_001


def test_started_then_finished_walks_the_lifecycle() -> None:
    events = stamped(
        event("t", 1, "started", backend="ollama", model="llama3", labels={"team": "a"}),
        event("t", 2, "token", text="hi"),
        event("t", 3, "finished", outcome=events_pb.OUTCOME_FAILED, error="oom", exit_code=137),
    )
    running = fold(None, events[:2], tail_bytes=64)
    assert running.status == events_pb.TASK_STATUS_RUNNING
    done = fold(running, events[2:], tail_bytes=64)
    assert done.status == events_pb.TASK_STATUS_FAILED
    assert (done.backend, done.model, dict(done.labels)) == ("ollama", "llama3", {"team": "a"})
    assert (done.error, done.exit_code, done.last_seq, done.last_revision) == ("oom", 137, 3, 3)
    assert running.status == events_pb.TASK_STATUS_RUNNING, "fold must not mutate its input"


def test_output_tail_keeps_the_last_bytes_on_a_character_boundary() -> None:
    events = stamped(*[event("t", i, "stdout", text="é" * 10) for i in range(1, 6)])
    state = fold(None, events, tail_bytes=25)
    assert state.output_tail_truncated
    assert len(state.output_tail.encode()) <= 25
    assert state.output_tail == "é" * 12


def test_usage_from_retries_and_finish_is_summed() -> None:
    retry_usage = events_pb.Usage(input_tokens=10, output_tokens=5)
    final_usage = events_pb.Usage(
        input_tokens=7, cache_read_tokens=3, output_tokens=2, estimated=True
    )
    events = stamped(
        event("t", 1, "started"),
        event("t", 2, "status", status=events_pb.TASK_STATUS_RETRYING, usage=retry_usage),
        event("t", 3, "stdout", attempt=2),
        event("t", 4, "finished", usage=final_usage),
    )
    state = fold(None, events, tail_bytes=64)
    assert (state.usage.input_tokens, state.usage.output_tokens) == (17, 7)
    assert state.usage.cache_read_tokens == 3 and state.usage.estimated
    assert state.attempt == 2
    assert state.status == events_pb.TASK_STATUS_SUCCEEDED


def test_retrying_returns_to_running_on_new_output() -> None:
    events = stamped(
        event("t", 1, "started"),
        event("t", 2, "status", status=events_pb.TASK_STATUS_RETRYING, message="429"),
        event("t", 3, "token", text="again", attempt=2),
    )
    retrying = fold(None, events[:2], tail_bytes=64)
    assert retrying.status == events_pb.TASK_STATUS_RETRYING and retrying.status_message == "429"
    assert fold(retrying, events[2:], tail_bytes=64).status == events_pb.TASK_STATUS_RUNNING


def test_folding_in_pieces_equals_folding_at_once() -> None:
    events = stamped(*[event("t", i, "stdout", text=f"line {i}\n") for i in range(1, 40)])
    whole = fold(None, events, tail_bytes=100)
    pieces = None
    for ev in events:
        pieces = fold(pieces, [ev], tail_bytes=100)
    assert pieces == whole


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="aé€𝄞\n", max_size=40), min_size=1, max_size=30),
    cuts=st.lists(st.integers(min_value=1, max_value=31), max_size=5),
    tail_bytes=st.integers(min_value=1, max_value=64),
)
def test_grouping_never_changes_the_folded_state(
    texts: list[str], cuts: list[int], tail_bytes: int
) -> None:
    """Live batches and recovery reads group events differently; the state must not care."""
    events = stamped(
        event("t", 1, "started", backend="shell"),
        *[event("t", i, "stdout" if i % 3 else "stderr", text=text) for i, text in
          enumerate(texts, start=2)],
    )  # fmt: skip
    whole = fold(None, events, tail_bytes=tail_bytes)
    one_by_one: pb_state.TaskState | None = None
    for ev in events:
        one_by_one = fold(one_by_one, [ev], tail_bytes=tail_bytes)
    pieces: pb_state.TaskState | None = None
    bounds = sorted({0, len(events), *[c for c in cuts if c < len(events)]})
    for start, end in itertools.pairwise(bounds):
        pieces = fold(pieces, events[start:end], tail_bytes=tail_bytes)
    assert whole == one_by_one == pieces
    assert len(whole.output_tail.encode()) <= tail_bytes
    everything = "".join(texts).encode()
    assert whole.output_tail_truncated == (len(everything) > tail_bytes)
    assert everything.endswith(whole.output_tail.encode())
