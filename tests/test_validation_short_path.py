"""The short path for plain output events must refuse whatever the full checks refuse."""

from __future__ import annotations

import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.config import MAX_TIMESTAMP_SECONDS, Limits
from execstream_server.domain.errors import InvalidArgumentError
from execstream_server.domain.validation import validate_report

from .support.helpers import event

LIMITS = Limits()


def _defects() -> dict[str, service_pb.ProgressReport]:
    """A second event of an already valid task, each with one defect."""
    bad = {
        "events[1].seq": event("t", 0),
        "events[1].stdout.text": event("t", 2, text="x" * (LIMITS.max_text_bytes + 1)),
        "events[1].time.seconds": event("t", 2),
        "events[1].body": event("t", 2),
        "events[1].task_id": event("bad id!", 2),
    }
    bad["events[1].time.seconds"].time.seconds = MAX_TIMESTAMP_SECONDS + 1
    bad["events[1].body"].ClearField("stdout")
    return {
        path: service_pb.ProgressReport(sidecar_id="sc", events=[event("t", 1), second])
        for path, second in bad.items()
    }


@pytest.mark.parametrize("known", [False, True], ids=["new ids", "ids the stream knows"])
@pytest.mark.parametrize("path", sorted(_defects()))
def test_a_defect_after_a_valid_event_of_the_same_task_is_refused(path: str, known: bool) -> None:
    report = _defects()[path]
    with pytest.raises(InvalidArgumentError) as info:
        validate_report(report, LIMITS, {"t"} if known else ())
    assert [v.field for v in info.value.violations] == [path]


def test_output_at_the_text_limit_is_accepted_on_the_short_path() -> None:
    text = "é" * (LIMITS.max_text_bytes // 2)
    report = service_pb.ProgressReport(
        sidecar_id="sc", events=[event("t", 1), event("t", 2, text=text)]
    )
    validate_report(report, LIMITS, {"t"})
