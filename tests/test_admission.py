"""Admission rules as pure functions: duplicates, gaps, ownership, terminal, atomicity."""

from __future__ import annotations

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream_server.domain.admission import Admission, Gate, admit
from execstream_server.domain.digests import content_digest
from execstream_server.domain.errors import (
    IllegalTransitionError,
    OwnershipError,
    SeqConflictError,
    SeqGapError,
    TaskFinishedError,
)
from google.protobuf import timestamp_pb2

from .support.flat_pricer import FlatPricer, UnpricedPricer
from .support.helpers import event

NOW = timestamp_pb2.Timestamp(seconds=1_800_000_000)


def run(gates: dict[str, Gate], sidecar: str, *events: events_pb.ExecutionEvent) -> Admission:
    result = admit(sidecar, events, gates.get, UnpricedPricer(), NOW)
    gates.update(result.gates)
    return result


def test_new_task_must_start_at_seq_1() -> None:
    with pytest.raises(SeqGapError) as info:
        run({}, "sc", event("t", 2))
    assert info.value.expected_seq == 1


def test_duplicate_seq_is_acknowledged_not_stored() -> None:
    gates: dict[str, Gate] = {}
    run(gates, "sc", event("t", 1), event("t", 2))
    again = run(gates, "sc", event("t", 1), event("t", 2), event("t", 3))
    assert again.duplicates == 2
    assert [e.seq for e in again.accepted] == [3]


def test_gap_names_the_expected_seq() -> None:
    gates: dict[str, Gate] = {}
    run(gates, "sc", event("t", 1))
    with pytest.raises(SeqGapError, match="expected seq 2") as info:
        run(gates, "sc", event("t", 5))
    assert info.value.expected_seq == 2


def test_report_is_all_or_nothing() -> None:
    gates: dict[str, Gate] = {}
    with pytest.raises(SeqGapError):
        run(gates, "sc", event("a", 1), event("b", 1), event("a", 3))
    assert gates == {}, "nothing of a refused report may change the gates"


def test_other_sidecar_is_refused_even_for_duplicates() -> None:
    gates: dict[str, Gate] = {}
    run(gates, "owner", event("t", 1))
    with pytest.raises(OwnershipError):
        run(gates, "intruder", event("t", 1))
    with pytest.raises(OwnershipError):
        run(gates, "intruder", event("t", 2))


def test_events_after_finished_are_refused_but_resent_finish_is_a_duplicate() -> None:
    gates: dict[str, Gate] = {}
    run(gates, "sc", event("t", 1, "started"), event("t", 2, "finished"))
    assert run(gates, "sc", event("t", 2, "finished")).duplicates == 1
    with pytest.raises(TaskFinishedError):
        run(gates, "sc", event("t", 3))


def test_status_cannot_go_back_to_pending() -> None:
    gates: dict[str, Gate] = {}
    run(gates, "sc", event("t", 1, "started"))
    with pytest.raises(IllegalTransitionError):
        run(gates, "sc", event("t", 2, "status", status=events_pb.TASK_STATUS_PENDING))


def test_admission_stamps_sidecar_time_and_attempt_but_not_revision() -> None:
    incoming = event("t", 1, revision=99, sidecar_id="spoofed")
    accepted = run({}, "sc", incoming).accepted[0]
    assert (accepted.sidecar_id, accepted.revision, accepted.attempt) == ("sc", 0, 1)
    assert accepted.time == NOW
    assert accepted is incoming, "the report's own event is stamped, not a copy"


def test_admitting_a_stamped_report_again_gives_the_same_events() -> None:
    """Stores admit a group again after fetching digests: the stamps must not compound."""
    gates: dict[str, Gate] = {}
    run(gates, "sc", event("t", 1, "started", backend="ollama", model="llama3"))
    report = [
        event("t", 2, "usage", usage=events_pb.Usage(input_tokens=4, output_tokens=2)),
        event("t", 3, "status", status=events_pb.TASK_STATUS_RETRYING,
              usage=events_pb.Usage(input_tokens=7)),
        event("t", 4, "stdout"),
        event("t", 5, "finished", usage=events_pb.Usage(input_tokens=10, output_tokens=5)),
    ]  # fmt: skip
    pricer = FlatPricer()
    first = admit("sc", report, dict(gates).get, pricer, NOW).accepted
    first_bytes = [e.SerializeToString() for e in first]
    assert first[0].usage.task_cost.actual.total_nanos > 0, "the update was priced"
    assert first[3].finished.cost.actual.total_nanos > 0, "the finish was priced"
    later = timestamp_pb2.Timestamp(seconds=NOW.seconds + 60)
    again = admit("sc", report, dict(gates).get, pricer, later).accepted
    assert [e.SerializeToString() for e in again] == first_bytes, "costs and times kept"


def test_the_content_digest_ignores_time_server_costs_and_attempt_zero() -> None:
    plain = event("t", 3, "finished")
    stamped = event("t", 3, "finished")
    stamped.attempt = 1
    stamped.time.FromSeconds(1_700_000_000)
    stamped.finished.cost.savings_nanos = 123
    stamped.revision, stamped.sidecar_id = 9, "sc"
    assert content_digest(plain) == content_digest(stamped)
    assert len(content_digest(plain)) == 8


def test_the_content_digest_covers_body_kind_fields_and_attempt() -> None:
    base = content_digest(event("t", 1, "stdout", text="x"))
    assert base != content_digest(event("t", 1, "stderr", text="x"))
    assert base != content_digest(event("t", 1, "stdout", text="y"))
    assert base != content_digest(event("t", 1, "stdout", text="x", attempt=2))


def test_a_duplicate_with_other_content_is_a_conflict_naming_task_and_seq() -> None:
    gates: dict[str, Gate] = {}
    first = run(gates, "sc", event("t", 1, text="a"), event("t", 2, text="b"))
    committed = {(e.task_id, e.seq): content_digest(e) for e in first.accepted}

    def digest_of(task_id: str, seq: int) -> bytes | None:
        return committed.get((task_id, seq))

    same = admit("sc", [event("t", 2, text="b")], gates.get, UnpricedPricer(), NOW, digest_of)
    assert (same.duplicates, same.unchecked) == (1, set())
    with pytest.raises(SeqConflictError) as info:
        admit("sc", [event("t", 2, text="c")], gates.get, UnpricedPricer(), NOW, digest_of)
    assert info.value.metadata() == {"task_id": "t", "seq": "2", "last_seq": "2"}
    unknown = admit("sc", [event("t", 1, text="z")], gates.get, UnpricedPricer(), NOW)
    assert unknown.unchecked == {("t", 1)}, "a digest not fetched yet is asked for"
