"""Watch frames built by appending stamps to a sidecar's event bytes (domain/frames.py)."""

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


def _expected(
    event: events_pb.ExecutionEvent, revision: int, sidecar: str, now: tuple[int, int]
) -> events_pb.ExecutionEvent:
    """What admission's copy-and-stamp produces for the same event."""
    stamped = events_pb.ExecutionEvent()
    stamped.CopyFrom(event)
    stamped.revision = revision
    stamped.sidecar_id = sidecar
    if stamped.attempt == 0:
        stamped.attempt = 1
    if not stamped.HasField("time"):
        stamped.time.seconds, stamped.time.nanos = now
    return stamped


def _suffix(event: events_pb.ExecutionEvent, sidecar: str, now: tuple[int, int]) -> bytes:
    suffix = frames.sidecar_field(sidecar)
    if not event.HasField("time"):
        suffix += frames.time_field(*now)
    if event.attempt == 0:
        suffix += frames.ATTEMPT_ONE
    return suffix


@given(
    batch=st.lists(events(), min_size=1, max_size=8),
    first=st.integers(1, 2**35),
    sidecar=st.text(min_size=1, max_size=20),
    now=st.tuples(st.integers(0, 2**33), st.integers(0, 999_999_999)),
)
def test_appended_stamps_parse_as_the_copied_and_stamped_events(
    batch: list[events_pb.ExecutionEvent], first: int, sidecar: str, now: tuple[int, int]
) -> None:
    payloads = [
        frames.stamp(e.SerializeToString(), first + i, _suffix(e, sidecar, now))
        for i, e in enumerate(batch)
    ]
    response = service_pb.WatchExecutionResponse.FromString(frames.frame(payloads))
    assert list(response.events) == [
        _expected(e, first + i, sidecar, now) for i, e in enumerate(batch)
    ]


@given(batch=st.lists(events(), min_size=1, max_size=8), first=st.integers(1, 2**35))
def test_the_one_pass_frame_equals_stamping_each_event(
    batch: list[events_pb.ExecutionEvent], first: int
) -> None:
    raws = [e.SerializeToString() for e in batch]
    suffix = frames.sidecar_field("s1") + frames.ATTEMPT_ONE
    one_pass = frames.stamped_frame(raws, first, suffix)
    assert one_pass == frames.frame(
        [frames.stamp(r, first + i, suffix) for i, r in enumerate(raws)]
    )


@given(count=st.integers(1, 300), first=st.integers(1, 2**30), cursor_offset=st.integers(-3, 305))
def test_a_cursor_inside_a_frame_gets_exactly_the_revisions_after_it(
    count: int, first: int, cursor_offset: int
) -> None:
    raws = [
        events_pb.ExecutionEvent(task_id="t", seq=i + 1).SerializeToString() for i in range(count)
    ]
    data = frames.stamped_frame(raws, first, frames.sidecar_field("s"))
    cursor = first - 1 + cursor_offset
    sliced = service_pb.WatchExecutionResponse.FromString(frames.after_cursor(data, first, cursor))
    expected = [r for r in range(first, first + count) if r > cursor]
    assert [e.revision for e in sliced.events] == expected


def test_a_filtered_frame_keeps_the_chosen_entries_in_order() -> None:
    raws = [
        events_pb.ExecutionEvent(task_id=f"t{i % 3}", seq=i).SerializeToString() for i in range(9)
    ]
    data = frames.stamped_frame(raws, 100, b"")
    picked = service_pb.WatchExecutionResponse.FromString(frames.select(data, [1, 4, 7]))
    assert [(e.task_id, e.revision) for e in picked.events] == [
        ("t1", 101),
        ("t1", 104),
        ("t1", 107),
    ]


def test_a_report_splits_into_its_sidecar_and_event_bytes_skipping_other_fields() -> None:
    batch = [events_pb.ExecutionEvent(task_id="a", seq=n) for n in (1, 2, 3)]
    report = service_pb.ProgressReport(sidecar_id="side", events=batch).SerializeToString()
    # Fields this server does not know, of every wire type, are skipped as a parser would.
    unknown = b"\x98\x06\x07" + b"\xa1\x06" + bytes(8) + b"\xaa\x06\x02hi" + b"\xad\x06" + bytes(4)
    sidecar, raws = frames.report_events(unknown + report)
    assert sidecar == b"side"
    assert [events_pb.ExecutionEvent.FromString(r) for r in raws] == batch


@pytest.mark.parametrize(
    "data",
    [b"\x12\x05abc", b"\x12", b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x0b"],
)
def test_malformed_reports_raise_frame_errors(data: bytes) -> None:
    with pytest.raises(frames.FrameError):
        frames.report_events(data)


def test_a_frame_with_a_foreign_tag_or_a_short_entry_raises() -> None:
    with pytest.raises(frames.FrameError):
        frames.entry_offsets(b"\x12\x00")
    with pytest.raises(frames.FrameError):
        frames.entry_offsets(b"\x0a\x05ab")
