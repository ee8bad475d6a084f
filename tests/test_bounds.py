"""Each numeric and size bound: accepted at the bound, refused one past it, naming both."""

from __future__ import annotations

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import (
    MAX_TIMESTAMP_SECONDS,
    MAX_TOKENS,
    MIN_TIMESTAMP_SECONDS,
    Limits,
)
from execstream_server.domain.admission import Gate, admit
from execstream_server.domain.bounds import BILLED_FIELDS, TOKEN_FIELDS
from execstream_server.domain.errors import InvalidArgumentError
from execstream_server.domain.totals import TotalsBook
from execstream_server.domain.validation import validate_report, validate_statuses
from execstream_server.store.redis_scripts import gate_from_bytes, gate_to_bytes
from google.protobuf import timestamp_pb2

from .support.flat_pricer import FlatPricer
from .support.helpers import event

LIMITS = Limits()


def _report(*events: events_pb.ExecutionEvent) -> service_pb.ProgressReport:
    return service_pb.ProgressReport(sidecar_id="sc", events=list(events))


def _refusal(*events: events_pb.ExecutionEvent, limits: Limits = LIMITS) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as info:
        validate_report(_report(*events), limits)
    return info.value


def _finished(**counts: int) -> events_pb.ExecutionEvent:
    usage = events_pb.Usage()
    for name, count in counts.items():
        setattr(usage, name, count)
    return event("t", 1, "finished", usage=usage)


@pytest.mark.parametrize("name", TOKEN_FIELDS)
def test_each_token_count_is_bounded_at_2_to_the_40(name: str) -> None:
    at = {name: MAX_TOKENS, "output_tokens": MAX_TOKENS}
    validate_report(_report(_finished(**at)), LIMITS)
    error = _refusal(_finished(**(at | {name: MAX_TOKENS + 1})))
    assert error.violations[0].field == f"events[0].finished.usage.{name}"
    assert error.reason == "INVALID_FIELD"
    assert error.metadata() == {
        "field": f"events[0].finished.usage.{name}",
        "limit": str(MAX_TOKENS),
    }


def test_usage_on_status_and_error_events_is_bounded_too() -> None:
    retry = event("t", 1, "status", status=events_pb.TASK_STATUS_RETRYING)
    retry.status.usage.input_tokens = MAX_TOKENS + 1
    failed = event("t", 2, "error", usage=events_pb.Usage(cache_read_tokens=MAX_TOKENS + 1))
    fields = [v.field for v in _refusal(retry, failed).violations]
    assert fields == [
        "events[0].status.usage.input_tokens",
        "events[1].error.usage.cache_read_tokens",
    ]


def test_a_usage_backend_is_bounded_like_a_started_backend() -> None:
    ok = event("t", 1, "finished", usage=events_pb.Usage(backend="b" * 64))
    validate_report(_report(ok), LIMITS)
    long = event("t", 1, "finished", usage=events_pb.Usage(backend="b" * 65))
    error = _refusal(long)
    assert error.violations[0].field == "events[0].finished.usage.backend"
    assert error.violations[0].limit == 64


def _timed(seconds: int, nanos: int) -> events_pb.ExecutionEvent:
    ev = event("t", 1)
    ev.time.CopyFrom(timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
    return ev


def test_times_are_bounded_to_rfc3339s_range() -> None:
    validate_report(_report(_timed(MIN_TIMESTAMP_SECONDS, 0)), LIMITS)
    validate_report(_report(_timed(MAX_TIMESTAMP_SECONDS, 999_999_999)), LIMITS)
    assert _refusal(_timed(MIN_TIMESTAMP_SECONDS - 1, 0)).violations[0].field == (
        "events[0].time.seconds"
    )
    assert _refusal(_timed(MAX_TIMESTAMP_SECONDS + 1, 0)).violations[0].field == (
        "events[0].time.seconds"
    )
    assert _refusal(_timed(0, 1_000_000_000)).violations[0].field == "events[0].time.nanos"
    assert _refusal(_timed(0, -1)).violations[0].field == "events[0].time.nanos"


def test_the_stored_event_size_is_bounded_after_unknown_fields_are_dropped() -> None:
    limits = Limits(max_text_bytes=10_000, max_event_bytes=2048)
    fits = event("t", 1, "stdout", text="x" * 2000)
    assert fits.ByteSize() <= 2048
    validate_report(_report(fits), limits)
    big = event("t", 1, "stdout", text="x" * 2100)
    error = _refusal(big, limits=limits)
    assert (error.violations[0].field, error.violations[0].limit) == ("events[0]", 2048)
    padded = events_pb.ExecutionEvent.FromString(
        fits.SerializeToString() + b"\x9a\x06\x90\x4e" + b"u" * 10_000  # field 99: 10 kB
    )
    report = _report(padded)
    validate_report(report, limits)
    assert report.events[0].ByteSize() == fits.ByteSize(), "unknown fields are dropped"


def test_the_retired_usage_field_9_is_refused() -> None:
    old = events_pb.Usage.FromString(b"\x48\x05")  # cache_write_1h_tokens = 5
    error = _refusal(event("t", 1, "finished", usage=old))
    assert error.violations[0].field == "events[0].finished.usage.cache_write_one_hour_tokens"


def test_a_status_filter_takes_only_task_statuses() -> None:
    validate_statuses([1, 2, 3, 4, 5, 6], "statuses")
    for bad in (0, 7, 99):
        with pytest.raises(InvalidArgumentError) as info:
            validate_statuses([1, bad], "statuses")
        assert info.value.violations[0].field == "statuses[1]"


def _admit(*events: events_pb.ExecutionEvent, gate: Gate | None = None) -> Gate:
    now = timestamp_pb2.Timestamp(seconds=1)
    admission = admit("sc", list(events), lambda _: gate, FlatPricer(), now)
    return admission.gates["t"]


def test_a_task_is_bounded_over_all_its_buckets_and_attempts() -> None:
    half = MAX_TOKENS // 2
    retry = event("t", 1, "status", status=events_pb.TASK_STATUS_RETRYING)
    retry.status.usage.input_tokens = half
    gate = _admit(retry)
    assert gate.tokens == half
    error_event = event("t", 2, "error", usage=events_pb.Usage(output_tokens=half))
    gate = _admit(error_event, gate=gate)
    assert gate.tokens == MAX_TOKENS
    with pytest.raises(InvalidArgumentError) as info:
        _admit(event("t", 3, "finished", usage=events_pb.Usage(cache_read_tokens=1)), gate=gate)
    assert info.value.violations[0].field == "events[0].finished.usage"
    assert info.value.violations[0].limit == MAX_TOKENS


def test_the_task_token_count_survives_the_redis_gate_and_a_checkpoint() -> None:
    gate = Gate(owner="sc", last_seq=4, status=2, backend="b", model="m", tokens=12345)
    again = gate_from_bytes(gate_to_bytes("t", gate))
    assert (again.tokens, again.model) == (12345, "m")


def _finished_state(task_id: str, tokens: int, cost: int) -> state_pb.TaskState:
    state = state_pb.TaskState(task_id=task_id, status=events_pb.TASK_STATUS_SUCCEEDED)
    for name in BILLED_FIELDS:
        setattr(state.usage, name, tokens)
    state.cost.actual.total_nanos = cost
    state.cost.reference.total_nanos = -cost if cost < 0 else 0
    return state


def test_totals_saturate_at_the_width_of_their_fields() -> None:
    book = TotalsBook()
    for i in range(3):
        book.update(None, _finished_state(f"t{i}", 2**63, 2**62 + 1))
    totals = book.to_proto()
    assert totals.usage.input_tokens == 2**64 - 1
    assert totals.cost_nanos == 2**63 - 1
    assert totals.savings_nanos == -(2**63)
    (model,) = totals.by_model
    assert (model.cost_nanos, model.usage.output_tokens) == (2**63 - 1, 2**64 - 1)
    assert book.cost_nanos == 3 * (2**62 + 1), "the exact sum is kept"
