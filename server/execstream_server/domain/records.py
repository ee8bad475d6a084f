"""Committed events as the hub and the stores move them: revision, filter keys and bytes.

Events are serialised once, at commit; watchers get responses assembled from those bytes
(a repeated field on the wire is just its entries concatenated), so fan-out does no
per-event protobuf work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from execstream.v1 import events_pb2 as events_pb

# WatchExecutionResponse.events is field 1, wire type 2 (length-delimited).
_EVENTS_TAG = b"\x0a"


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def event_field(payload: bytes) -> bytes:
    """One ``WatchExecutionResponse.events`` entry holding an already serialised event."""
    return _EVENTS_TAG + encode_varint(len(payload)) + payload


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A committed event: its filter keys and its serialised ExecutionEvent."""

    revision: int
    task_id: str
    sidecar_id: str
    kind: int
    payload: bytes


@dataclass(slots=True)
class CommittedBatch:
    """Events committed together, in revision order, with their parsed form for the fold."""

    records: list[EventRecord]
    events: list[events_pb.ExecutionEvent]
    # True when this process committed the batch (always, for SQLite). With a shared store,
    # each replica's metrics count only its own batches, so summing replicas is exact.
    local: bool = True
    # Encoded watch entries per filter, shared by every watcher with an equal filter.
    frames: dict[object, list[tuple[int, bytes]]] = field(default_factory=dict)
    # Whole watch responses per filter (bytes, covered-to revision, events), built from frames.
    responses: dict[object, list[tuple[bytes, int, int]]] = field(default_factory=dict)

    @property
    def first_revision(self) -> int:
        return self.records[0].revision

    @property
    def last_revision(self) -> int:
        return self.records[-1].revision

    @property
    def size_bytes(self) -> int:
        return sum(len(r.payload) for r in self.records) + 16 * len(self.records)
