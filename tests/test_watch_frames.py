"""Watch responses cut from stored frames (domain/watch_frames.py): filters, cursors, bounds."""

from __future__ import annotations

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.domain.hub import WatchFilter
from execstream_server.domain.records import CommittedBatch
from execstream_server.domain.watch_frames import batch_responses, responses_after
from hypothesis import given
from hypothesis import strategies as st

from .support.batches import committed

_KINDS = {"stdout": events_pb.EVENT_KIND_STDOUT, "token": events_pb.EVENT_KIND_TOKEN}


def _frames(sizes: list[list[tuple[int, str, int]]]) -> CommittedBatch:
    """Frames of (task number, body, text length) events, revisions from 1, one batch."""
    frames = []
    revision = 1
    for frame_events in sizes:
        events = []
        for task, body, length in frame_events:
            ev = events_pb.ExecutionEvent(task_id=f"t{task}", seq=revision)
            getattr(ev, body).text = "x" * length
            events.append(ev)
        frames += committed(events, first_revision=revision).frames
        revision += len(events)
    return CommittedBatch(frames, [e for f in frames for e in f.events()])


_EVENT = st.tuples(st.integers(0, 3), st.sampled_from(sorted(_KINDS)), st.integers(0, 300))


@given(
    layout=st.lists(st.lists(_EVENT, min_size=1, max_size=12), min_size=1, max_size=5),
    tasks=st.none() | st.frozensets(st.sampled_from(["t0", "t1", "t2", "t3"]), min_size=1),
    kinds=st.none() | st.frozensets(st.sampled_from(sorted(_KINDS.values())), min_size=1),
    after=st.integers(0, 70),
    span=st.integers(0, 70),
    max_events=st.integers(1, 8),
    max_bytes=st.integers(1, 2000),
)
def test_responses_hold_exactly_the_matching_events_in_bounded_pieces(
    layout: list[list[tuple[int, str, int]]],
    tasks: frozenset[str] | None,
    kinds: frozenset[int] | None,
    after: int,
    span: int,
    max_events: int,
    max_bytes: int,
) -> None:
    batch = _frames(layout)
    through = min(after + span, batch.last_revision)
    watch_filter = WatchFilter(task_ids=tasks, kinds=kinds)
    expected = [
        e
        for e in batch.events
        if after < e.revision <= through
        and (tasks is None or e.task_id in tasks)
        and (kinds is None or _KINDS[e.WhichOneof("body") or ""] in kinds)
    ]
    chunks = list(
        responses_after(
            batch.frames,
            watch_filter,
            after,
            through=through,
            max_events=max_events,
            max_bytes=max_bytes,
        )
    )
    got = [
        e
        for data, _, _ in chunks
        for e in service_pb.WatchExecutionResponse.FromString(data).events
    ]
    assert got == expected
    for data, covered, count in chunks:
        parsed = service_pb.WatchExecutionResponse.FromString(data).events
        assert len(parsed) == count <= max_events
        assert len(data) <= max_bytes or count == 1  # one event larger than a response goes alone
        assert covered >= parsed[-1].revision
    if chunks:
        assert chunks[-1][1] == through


def test_a_whole_batch_for_everyone_is_its_stored_frames_joined() -> None:
    batch = _frames([[(0, "stdout", 5)] * 3, [(1, "token", 2)] * 4])
    [(data, covered, count)] = batch_responses(
        batch, WatchFilter(), max_events=100, max_bytes=10_000
    )
    assert data == b"".join(f.data for f in batch.frames)
    assert (covered, count) == (7, 7)
    assert batch_responses(batch, WatchFilter(), max_events=100, max_bytes=10_000)[0][0] is data
