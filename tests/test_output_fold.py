"""Output of running tasks folded in place (``OutputFold``) equals the copying fold."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as pb_state
from execstream_server.domain.batch_fold import fold_batch
from execstream_server.domain.events import kind_of
from execstream_server.domain.fold import fold
from execstream_server.domain.frames import frame
from execstream_server.domain.output_fold import OutputFold
from execstream_server.domain.records import CommittedBatch, ReportFrame
from execstream_server.domain.report_keys import ReportKeys
from execstream_server.domain.spend_days import MS_PER_DAY, commit_day, fold_by_day
from hypothesis import given, settings
from hypothesis import strategies as st

from .support.helpers import event
from .test_fold import stamped

STARTED = events_pb.TASK_STATUS_RUNNING


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="aé€𝄞\n", max_size=40), min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=2, max_value=41), max_size=6),
    flushes=st.lists(st.integers(min_value=2, max_value=41), max_size=3),
    tail_bytes=st.integers(min_value=0, max_value=64),
    attempts=st.lists(st.integers(min_value=0, max_value=3), max_size=40),
)
def test_in_place_output_folds_to_the_copying_folds_state(
    texts: list[str],
    cuts: list[int],
    flushes: list[int],
    tail_bytes: int,
    attempts: list[int],
) -> None:
    """Batches cut anywhere, tails written at any point: the same state as ``fold``."""
    events = stamped(
        event("t", 1, "started", backend="shell"),
        *[event("t", i, ("stdout", "stderr", "token")[i % 3], text=text) for i, text in
          enumerate(texts, start=2)],
    )  # fmt: skip
    for ev, attempt in zip(events[1:], attempts, strict=False):
        ev.attempt = attempt
    expected = fold(None, events, tail_bytes=tail_bytes)
    state = fold(None, events[:1], tail_bytes=tail_bytes)
    assert state.status == STARTED
    output = OutputFold(tail_bytes)
    bounds = sorted({1, len(events), *[c for c in cuts if c < len(events)]})
    for start, end in itertools.pairwise(bounds):
        assert output.fold(state, events[start:end])
        if end in flushes:
            output.flush(state)
    output.flush(state)
    assert state == expected
    assert output.pending_chars("t") == 0


def test_other_kinds_and_tasks_not_running_are_left_to_the_fold() -> None:
    events = stamped(
        event("t", 1, "started", backend="shell"),
        event("t", 2, "stdout", text="a"),
        event("t", 3, "status", status=events_pb.TASK_STATUS_RUNNING),
    )
    state = fold(None, events[:1], tail_bytes=16)
    before = pb_state.TaskState()
    before.CopyFrom(state)
    output = OutputFold(16)
    assert not output.fold(state, events[1:]), "a batch with a status event"
    assert state == before, "a refused batch changes nothing"
    pending = fold(None, stamped(event("p", 1, "status", status=events_pb.TASK_STATUS_PENDING)),
                   tail_bytes=16)  # fmt: skip
    assert not output.fold(pending, stamped(event("p", 2, "stdout", text="x")))


def test_a_long_run_of_output_between_reads_keeps_bounded_text() -> None:
    state = fold(None, stamped(event("t", 1, "started", backend="shell")), tail_bytes=32)
    output = OutputFold(32)
    for seq in range(2, 2_000):
        ev = event("t", seq, "stdout", text="line of output\n")
        ev.revision, ev.time.seconds = seq, 1_700_000_000 + seq
        output.fold(state, [ev])
    assert 0 < output.pending_chars("t") <= 4 * 32 + len("line of output\n")
    output.flush(state)
    assert state.output_tail_truncated
    assert state.output_tail.endswith("line of output\n")
    assert len(state.output_tail.encode()) <= 32


def _batch(events: list[events_pb.ExecutionEvent], committed_ms: list[int]) -> CommittedBatch:
    """One frame per event, committed at the given times."""
    frames = [
        ReportFrame(
            ev.revision,
            ReportKeys.of("sc", [(ev.task_id, kind_of(ev))]),
            frame([ev.SerializeToString()]),
            ms,
        )
        for ev, ms in zip(events, committed_ms, strict=True)
    ]
    return CommittedBatch(frames, events)


def _fold(state: pb_state.TaskState | None, events: Sequence[events_pb.ExecutionEvent]) -> Any:
    return fold(state, events, tail_bytes=64)


@pytest.mark.parametrize(
    "days", [(0, 1), (1, 1)], ids=["spanning midnight", "one day, a new month"]
)
def test_a_batch_that_would_move_spend_days_takes_the_copying_fold(days: tuple[int, int]) -> None:
    """Output on a new month (or across midnight) may rewrite ``spend_by_day``: not in place."""
    oct_31 = (dt.date(2026, 10, 31) - dt.date(1970, 1, 1)).days
    state = fold(None, stamped(event("t", 1, "started", backend="shell")), tail_bytes=64)
    state.cost.actual.total_nanos = 100
    state.spend_by_day.add(day=oct_31, nanos=100)
    events = [event("t", 2, text="a"), event("t", 3, text="b")]
    for revision, ev in enumerate(events, start=2):
        ev.revision, ev.sidecar_id = revision, "sc"
        ev.time.FromSeconds(1_700_000_000 + revision)
    ms = [(oct_31 + day) * MS_PER_DAY + 1_000 for day in days]
    before = pb_state.TaskState()
    before.CopyFrom(state)
    output = OutputFold(64)
    changes, touched = fold_batch(_batch(events, ms), {"t": state}, output, _fold)
    expected = fold_by_day(before, events, [commit_day(m) for m in ms], fold=_fold)
    assert touched == ["t"]
    assert [new for _, new in changes] == [expected]
    assert state == before, "the old state is left as it was"
