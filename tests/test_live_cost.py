"""The live cost meter in the domain: usage updates priced at admission, folded as interim.

Every step checks the invariants that keep the meter honest: admission's gate and the fold
agree on the settled cost, the stamped running cost is settled + interim, a gate rebuilt
from the stored events (recovery) equals the live one, and a task's final cost counts each
attempt once.
"""

from __future__ import annotations

from typing import Any

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import MAX_TOKENS
from execstream_server.domain.admission import Gate, admit, advance_gate
from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.errors import InvalidArgumentError
from execstream_server.domain.fold import fold
from execstream_server.domain.totals import TotalsBook
from google.protobuf import timestamp_pb2

from .support.flat_pricer import INPUT_NANOS, OUTPUT_NANOS, FlatPricer
from .support.helpers import event

NOW = timestamp_pb2.Timestamp(seconds=1_800_000_000)
RETRYING = events_pb.TASK_STATUS_RETRYING


def usage(output: int, input_tokens: int = 0, **flags: Any) -> events_pb.Usage:
    return events_pb.Usage(input_tokens=input_tokens, output_tokens=output, **flags)


def nanos(output: int, input_tokens: int = 0) -> int:
    return output * OUTPUT_NANOS + input_tokens * INPUT_NANOS


class Task:
    """One task admitted and folded event by event, checking the invariants each time."""

    def __init__(self) -> None:
        self.gate: Gate | None = None
        self.state: state_pb.TaskState | None = None
        self.stored: list[events_pb.ExecutionEvent] = []
        self.totals = TotalsBook()
        self.seq = 0

    def send(self, body: str, attempt: int = 1, **fields: Any) -> events_pb.ExecutionEvent:
        self.seq += 1
        sent = event("t", self.seq, body, **fields)
        sent.attempt = attempt
        result = admit("sc", [sent], lambda _: self.gate, FlatPricer(), NOW)
        [stored] = result.accepted
        self.gate = result.gates["t"]
        old, self.state = self.state, fold(self.state, [stored], tail_bytes=0)
        self.totals.update(old, self.state)
        self.stored.append(stored)
        self._check(stored)
        return stored

    def _check(self, stored: events_pb.ExecutionEvent) -> None:
        assert self.gate is not None and self.state is not None
        settled = self.gate.cost.actual.total_nanos if self.gate.cost else 0
        assert self.state.cost.actual.total_nanos == settled
        if stored.HasField("usage"):
            assert stored.usage.task_cost.actual.total_nanos == committed_nanos(self.state)
        recovered: Gate | None = None
        for ev in self.stored:
            recovered = advance_gate(recovered, ev, None)
        assert recovered == self.gate, "a gate rebuilt from the log differs from the live one"

    @property
    def running(self) -> int:
        return committed_nanos(self.state) if self.state else 0


def test_an_update_shows_as_interim_and_the_final_usage_replaces_it() -> None:
    task = Task()
    task.send("started", backend="openai", model="m")
    task.send("usage", usage=usage(10, 100))
    task.send("token", text="x")
    stored = task.send("usage", usage=usage(40, 100))
    assert task.state is not None
    assert task.state.interim.cost.actual.total_nanos == nanos(40, 100)
    assert task.state.cost.actual.total_nanos == 0, "an update is not settled cost"
    assert stored.usage.cost.actual.total_nanos == nanos(40, 100)
    assert task.totals.to_proto().running_cost_nanos == nanos(40, 100)
    task.send("finished", usage=usage(42, 100))
    assert not task.state.HasField("interim")
    assert task.state.cost.actual.total_nanos == nanos(42, 100)
    assert task.state.usage.output_tokens == 42, "the final usage replaced the update"
    totals = task.totals.to_proto()
    assert (totals.cost_nanos, totals.running_cost_nanos) == (nanos(42, 100), 0)


def test_an_attempt_that_ends_without_final_usage_keeps_its_last_update() -> None:
    task = Task()
    task.send("usage", usage=usage(30, estimated=True))
    task.send("finished", outcome=events_pb.OUTCOME_CANCELLED)
    assert task.state is not None
    assert task.state.cost.actual.total_nanos == nanos(30)
    assert task.state.usage.output_tokens == 30 and task.state.usage.estimated


def test_retries_count_each_attempt_once() -> None:
    task = Task()
    task.send("started", backend="openai", model="m")
    task.send("usage", attempt=1, usage=usage(20))
    task.send("status", attempt=1, status=RETRYING, usage=usage(25))  # attempt 1's final
    assert task.state is not None and not task.state.HasField("interim")
    task.send("usage", attempt=2, usage=usage(5))
    task.send("status", attempt=2, status=RETRYING)  # attempt 2 ends without a final figure
    task.send("usage", attempt=3, usage=usage(7))
    task.send("usage", attempt=4, usage=usage(3))  # attempt 4 reports: attempt 3 keeps 7
    assert task.running == nanos(25 + 5 + 7 + 3)
    task.send("finished", attempt=4, usage=usage(9))
    assert task.state.cost.actual.total_nanos == nanos(25 + 5 + 7 + 9)
    assert task.state.usage.output_tokens == 25 + 5 + 7 + 9


def test_an_error_carrying_the_attempts_usage_replaces_its_update() -> None:
    task = Task()
    task.send("usage", attempt=1, usage=usage(20))
    task.send("error", attempt=1, message="timeout", retryable=True, usage=usage(22))
    task.send("status", attempt=1, status=RETRYING)
    task.send("finished", attempt=2, usage=usage(4))
    assert task.state is not None
    assert task.state.cost.actual.total_nanos == nanos(22 + 4)


def test_an_exact_final_figure_clears_the_estimate_flag() -> None:
    task = Task()
    task.send("usage", usage=usage(30, estimated=True))
    assert task.state is not None and task.state.interim.usage.estimated
    task.send("finished", usage=usage(28))
    assert not task.state.usage.estimated and not task.state.cost.estimated


def test_an_update_of_an_older_attempt_is_refused() -> None:
    task = Task()
    task.send("usage", attempt=2, usage=usage(5))
    with pytest.raises(InvalidArgumentError, match="usage update of attempt 1 after attempt 2"):
        task.send("usage", attempt=1, usage=usage(6))


def test_an_update_is_bounded_like_settled_usage() -> None:
    task = Task()
    task.send("status", status=RETRYING, usage=usage(MAX_TOKENS - 10))
    task.send("usage", attempt=2, usage=usage(10))  # at the bound
    with pytest.raises(InvalidArgumentError, match=r"events\[0\]\.usage\.usage"):
        task.send("usage", attempt=3, usage=usage(1))  # settles 10 more: past it


def test_a_usage_update_starts_a_pending_task() -> None:
    task = Task()
    task.send("usage", usage=usage(1))
    assert task.state is not None and task.state.status == events_pb.TASK_STATUS_RUNNING
