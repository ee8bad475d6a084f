"""Report keys: which entries of a stored frame a filtered watcher takes (domain/report_keys.py)."""

from __future__ import annotations

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.domain import frames, report_keys
from execstream_server.domain.hub import WatchFilter
from execstream_server.domain.records import ReportFrame
from execstream_server.domain.report_keys import ReportKeys
from execstream_server.domain.watch_frames import frame_pieces
from hypothesis import given
from hypothesis import strategies as st

STDOUT, STATUS = events_pb.EVENT_KIND_STDOUT, events_pb.EVENT_KIND_STATUS
_TASKS = st.sampled_from(["a", "b", "ç-3", "d" * 300])
_KINDS = st.integers(1, 8)


@given(entries=st.lists(st.tuples(_TASKS, _KINDS), min_size=1, max_size=400))
def test_keys_round_trip_through_their_encoding(entries: list[tuple[str, int]]) -> None:
    keys = ReportKeys.of("side", entries)
    assert report_keys.decode("side", report_keys.encode(keys)) == keys
    assert report_keys.task_ids_of(report_keys.encode(keys)) == list(keys.task_ids)
    assert [(keys.task_ids[i], k) for i, k in zip(keys.positions(), keys.kinds, strict=True)] == (
        entries
    )


@given(
    entries=st.lists(st.tuples(_TASKS, _KINDS), min_size=1, max_size=60),
    tasks=st.none() | st.frozensets(_TASKS, min_size=1),
    kinds=st.none() | st.frozensets(_KINDS, min_size=1),
    sidecars=st.none() | st.frozensets(st.sampled_from(["side", "other"]), min_size=1),
)
def test_matching_keeps_exactly_the_entries_the_filter_matches(
    entries: list[tuple[str, int]],
    tasks: frozenset[str] | None,
    kinds: frozenset[int] | None,
    sidecars: frozenset[str] | None,
) -> None:
    watch_filter = WatchFilter(task_ids=tasks, sidecar_ids=sidecars, kinds=kinds)
    expected = [
        i
        for i, (task, kind) in enumerate(entries)
        if (tasks is None or task in tasks)
        and (kinds is None or kind in kinds)
        and (sidecars is None or "side" in sidecars)
    ]
    picked = ReportKeys.of("side", entries).matching(watch_filter)
    assert (list(range(len(entries))) if picked is None else picked) == expected


def test_a_filtered_watcher_gets_its_entries_of_a_stored_frame() -> None:
    events = [
        events_pb.ExecutionEvent(task_id=t, seq=s, stdout=events_pb.OutputChunk(text="x"))
        for t, s in (("a", 1), ("b", 1), ("a", 2))
    ]
    data = frames.stamped_frame([e.SerializeToString() for e in events], 7)
    keys = ReportKeys.of("side", [(e.task_id, STDOUT) for e in events])
    stored = ReportFrame(7, keys, data)
    watch_filter = WatchFilter(task_ids=frozenset({"a"}))
    [(piece, through, count)] = frame_pieces(
        stored, watch_filter, 0, max_events=100, max_bytes=1 << 20
    )
    response = service_pb.WatchExecutionResponse.FromString(piece)
    assert [(e.task_id, e.revision) for e in response.events] == [("a", 7), ("a", 9)]
    assert (through, count) == (9, 2)


@pytest.mark.parametrize("data", [b"\x01\x05ab", b"\x00\x02\x00", b"\x00\x01\x00\x03\x03", b"\x80"])
def test_corrupt_keys_raise_frame_errors(data: bytes) -> None:
    with pytest.raises(frames.FrameError):
        report_keys.decode("side", data)
