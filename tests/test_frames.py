"""Watch frames: serialised events with their revisions appended (domain/frames.py)."""

from __future__ import annotations

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.domain import frames
from hypothesis import given
from hypothesis import strategies as st

_TEXT = st.text(max_size=40)


@st.composite
def events(draw: st.DrawFn) -> events_pb.ExecutionEvent:
    event = events_pb.ExecutionEvent(
        task_id=draw(st.text(min_size=1, max_size=12)),
        seq=draw(st.integers(1, 2**40)),
        attempt=draw(st.integers(0, 5)),
        # A sidecar may send the server's fields; the stamps must win.
        revision=draw(st.integers(0, 2**20)),
        sidecar_id=draw(_TEXT),
    )
    if draw(st.booleans()):
        event.time.seconds, event.time.nanos = (
            draw(st.integers(1, 2**33)),
            draw(st.integers(0, 999_999_999)),
        )
    body = draw(st.sampled_from(["stdout", "stderr", "token", "started", "tool_call"]))
    if body == "started":
        event.started.backend = draw(_TEXT)
        event.started.labels.update(draw(st.dictionaries(_TEXT, _TEXT, max_size=3)))
    elif body == "tool_call":
        event.tool_call.tool_name = draw(_TEXT)
    else:
        getattr(event, body).text = draw(_TEXT)
    return event


def _stamped(event: events_pb.ExecutionEvent, revision: int) -> events_pb.ExecutionEvent:
    """What setting the revision on a copy gives."""
    stamped = events_pb.ExecutionEvent()
    stamped.CopyFrom(event)
    stamped.revision = revision
    return stamped


@given(batch=st.lists(events(), min_size=1, max_size=8), first=st.integers(1, 2**35))
def test_a_stamped_frame_parses_as_the_events_with_their_revisions(
    batch: list[events_pb.ExecutionEvent], first: int
) -> None:
    data = frames.stamped_frame([e.SerializeToString() for e in batch], first)
    expected = [_stamped(e, first + i) for i, e in enumerate(batch)]
    assert list(service_pb.WatchExecutionResponse.FromString(data).events) == expected
    payloads = frames.entry_payloads(data)
    assert [events_pb.ExecutionEvent.FromString(p) for p in payloads] == expected


def test_a_frame_with_a_foreign_tag_or_a_short_entry_raises() -> None:
    with pytest.raises(frames.FrameError):
        frames.entry_offsets(b"\x12\x00")
    with pytest.raises(frames.FrameError):
        frames.entry_offsets(b"\x0a\x05ab")
