"""Committed batches built from events, as a store would hand them to the engine."""

from __future__ import annotations

from collections.abc import Sequence

from execstream.v1 import events_pb2 as events_pb
from execstream_server.domain.events import kind_of
from execstream_server.domain.frames import stamped_frame
from execstream_server.domain.records import CommittedBatch, ReportFrame
from execstream_server.domain.report_keys import ReportKeys


def committed(
    events: Sequence[events_pb.ExecutionEvent],
    *,
    sidecar_id: str = "sc",
    first_revision: int = 1,
    local: bool = True,
) -> CommittedBatch:
    """One report frame of ``events`` (revisions stamped from ``first_revision``)."""
    payloads = []
    for event in events:
        copy = events_pb.ExecutionEvent()
        copy.CopyFrom(event)
        copy.ClearField("revision")
        payloads.append(copy.SerializeToString())
    keys = ReportKeys.of(sidecar_id, [(e.task_id, kind_of(e)) for e in events])
    frame = ReportFrame(first_revision, keys, stamped_frame(payloads, first_revision))
    return CommittedBatch([frame], frame.events(), local=local)
