"""The LogStore contract, run unchanged against every backend (SQLite and Redis).

Each test opens real stores on real storage (a SQLite file, a redis-server); "reopen" is a
new store object on the same storage, as after a restart.
"""

from __future__ import annotations

import asyncio

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import Retention
from execstream_server.domain.errors import (
    OwnershipError,
    RevisionCompactedError,
    SeqConflictError,
    SeqGapError,
    ShuttingDownError,
    TaskFinishedError,
)
from execstream_server.domain.events import SERVER_AUTHOR, kind_of
from execstream_server.domain.fold import fold
from execstream_server.domain.records import CommittedBatch
from execstream_server.store.base import LogStore

from ..support.flat_pricer import INPUT_NANOS, OUTPUT_NANOS
from ..support.helpers import blobs, event, task_events
from .conftest import Backend


async def stored(store: LogStore, after: int = 0) -> list[events_pb.ExecutionEvent]:
    """Every retained event after ``after``, parsed."""
    records = await store.read(after, limit=100_000)
    return [events_pb.ExecutionEvent.FromString(r.payload) for r in records]


async def states_of(store: LogStore) -> list[state_pb.TaskState]:
    """The fold of the whole log, one state per task (what the engine would checkpoint)."""
    by_task: dict[str, list[events_pb.ExecutionEvent]] = {}
    for ev in await stored(store):
        by_task.setdefault(ev.task_id, []).append(ev)
    return [fold(None, events, tail_bytes=1024) for events in by_task.values()]


async def eventually(predicate_coro: object, within_s: float = 10.0) -> None:
    """Await ``predicate_coro()`` until it is true (conditions, never fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await predicate_coro():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within_s}s")
        await asyncio.sleep(0.01)


# -- revisions and admission ---------------------------------------------------------------
async def test_revisions_are_global_gap_free_from_one(backend: Backend) -> None:
    async with backend.opened() as (store, recovery):
        assert recovery.revision == 0
        first = await store.append("sc", task_events("a", 2))
        second = await store.append("sc", task_events("b", 1, finish=False))
        records = await store.read(0, limit=100)
    assert (first.accepted, first.last_revision) == (4, 4)
    assert (second.accepted, second.last_revision) == (2, 6)
    assert [r.revision for r in records] == [1, 2, 3, 4, 5, 6]
    for record in records:
        ev = events_pb.ExecutionEvent.FromString(record.payload)
        assert ev.revision == record.revision
        assert (ev.sidecar_id, record.sidecar_id, record.task_id) == ("sc", "sc", ev.task_id)
        assert record.kind == kind_of(ev)


async def test_concurrent_reports_get_distinct_contiguous_revisions(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        results = await asyncio.gather(
            *(store.append(f"sc{i % 3}", task_events(f"t{i}", 3)) for i in range(40))
        )
        records = await store.read(0, limit=1000)
    assert sum(r.accepted for r in results) == 40 * 5
    assert [r.revision for r in records] == list(range(1, 201))
    assert max(r.last_revision for r in results) == 200


async def test_duplicate_seq_is_acknowledged_not_stored(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 3, finish=False))
        again = await store.append("sc", task_events("a", 4, finish=False))
        events = await stored(store)
    assert (again.accepted, again.duplicates) == (1, 4)
    assert again.last_seq == {"a": 5}
    assert [ev.seq for ev in events] == [1, 2, 3, 4, 5]


async def test_duplicates_of_a_finished_task_are_acknowledged(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 1))
        again = await store.append("sc", task_events("a", 1))
        events = await stored(store)
    assert (again.accepted, again.duplicates, again.last_seq) == (0, 3, {"a": 3})
    assert len(events) == 3


async def test_gap_is_refused_naming_the_expected_seq(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 1, finish=False))
        with pytest.raises(SeqGapError) as refused:
            await store.append("sc", [event("a", 5)])
        events = await stored(store)
    assert refused.value.expected_seq == 3
    assert len(events) == 2


async def test_first_event_of_a_task_must_be_seq_one(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        with pytest.raises(SeqGapError) as refused:
            await store.append("sc", [event("new", 2)])
        events = await stored(store)
    assert refused.value.expected_seq == 1
    assert events == []


async def test_another_sidecar_may_not_write_a_task(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("owner", task_events("a", 1, finish=False))
        with pytest.raises(OwnershipError):
            await store.append("intruder", [event("a", 3)])
        events = await stored(store)
    assert [ev.sidecar_id for ev in events] == ["owner", "owner"]


async def test_events_after_finished_are_refused(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 1))
        with pytest.raises(TaskFinishedError):
            await store.append("sc", [event("a", 4)])
        events = await stored(store)
    assert len(events) == 3


async def test_a_refused_report_writes_nothing(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        bad = [*task_events("b", 2, finish=False), event("a", 7)]
        with pytest.raises(SeqGapError):
            await store.append("sc", bad)
        events = await stored(store)
        ok = await store.append("sc", task_events("b", 2, finish=False))
    assert events == []
    assert (ok.accepted, ok.last_revision) == (3, 3)


async def test_a_refused_report_leaves_reports_committed_with_it_whole(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        outcomes = await asyncio.gather(
            store.append("sc", task_events("good", 5)),
            store.append("sc", [event("bad", 1), event("bad", 3)]),
            store.append("sc", task_events("also", 2)),
            return_exceptions=True,
        )
        events = await stored(store)
    assert isinstance(outcomes[1], SeqGapError)
    assert {ev.task_id for ev in events} == {"good", "also"}
    assert [ev.revision for ev in events] == list(range(1, 12))


# -- resent seqs: same content is a duplicate, other content a conflict --------------------
def resent(task_id: str, seq: int, text: str, **fields: object) -> events_pb.ExecutionEvent:
    return event(task_id, seq, "stdout", text=text, **fields)


async def test_a_resend_differing_only_in_time_and_attempt_one_is_a_duplicate(
    backend: Backend,
) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", [resent("a", 1, "x"), resent("a", 2, "y")])
        timed = resent("a", 1, "x", attempt=1)
        timed.time.FromSeconds(1_700_000_000)
        again = await store.append("sc", [timed, resent("a", 2, "y"), resent("a", 3, "z")])
    assert (again.accepted, again.duplicates) == (1, 2)


async def test_a_resend_with_other_content_is_a_conflict_and_stores_nothing(
    backend: Backend,
) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", [resent("a", 1, "x"), resent("a", 2, "y")])
        with pytest.raises(SeqConflictError) as conflict:
            await store.append("sc", [resent("b", 1, "new"), resent("a", 2, "other")])
        events = await stored(store)
    assert (conflict.value.task_id, conflict.value.seq, conflict.value.last_seq) == ("a", 2, 2)
    assert [(ev.task_id, ev.seq) for ev in events] == [("a", 1), ("a", 2)]


async def test_an_other_attempt_or_kind_under_a_committed_seq_is_a_conflict(
    backend: Backend,
) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", [event("a", 1, "started"), resent("a", 2, "x")])
        with pytest.raises(SeqConflictError):
            await store.append("sc", [resent("a", 2, "x", attempt=2)])
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("a", 2, "stderr", text="x")])
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("a", 1, "started", model="other")])


async def test_conflicts_are_found_within_a_report_and_within_a_group(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        with pytest.raises(SeqConflictError):
            await store.append("sc", [resent("a", 1, "x"), resent("a", 1, "changed")])
        outcomes = await asyncio.gather(
            store.append("sc", [resent("b", 1, "x")]),
            store.append("sc", [resent("b", 1, "changed")]),
            store.append("sc", [resent("b", 1, "x"), resent("b", 2, "y")]),
            return_exceptions=True,
        )
        events = await stored(store)
    assert isinstance(outcomes[1], SeqConflictError)
    assert [(ev.task_id, ev.seq) for ev in events] == [("b", 1), ("b", 2)]


async def test_a_resend_deep_in_history_or_mid_report_is_compared_with_its_event(
    backend: Backend,
) -> None:
    # 300 commits of one task: more index entries than one page of the task index.
    async with backend.opened() as (store, _):
        for seq in range(1, 301):
            await store.append("sc", [resent("long", seq, f"line {seq}")])
        mixed = [resent(task, seq, f"{task}{seq}") for seq in (1, 2, 3) for task in "xyz"]
        await store.append("sc", mixed)
        early = await store.append("sc", [resent("long", 5, "line 5")])
        middle = await store.append("sc", [resent("y", 2, "y2")])
        with pytest.raises(SeqConflictError) as deep:
            await store.append("sc", [resent("long", 5, "changed")])
        with pytest.raises(SeqConflictError) as inside:
            await store.append("sc", [resent("y", 2, "changed")])
    assert (early.accepted, early.duplicates, middle.duplicates) == (0, 1, 1)
    assert (deep.value.task_id, deep.value.seq) == ("long", 5)
    assert (inside.value.task_id, inside.value.seq) == ("y", 2)


async def test_digests_survive_reopen_and_follow_compaction(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", [resent("a", 1, "x"), resent("a", 2, "y")])
        await store.append("sc", task_events("done", 1))
        await store.append("sc", task_events("later", 1))
    async with backend.opened() as (store, _):
        with pytest.raises(SeqConflictError):
            await store.append("sc", [resent("a", 1, "changed")])
        await store.checkpoint(blobs(await states_of(store)), 8)
        await store.compact(Retention(max_events=3))
        # Compacted seqs cannot be compared: a resend is acknowledged as a duplicate.
        compacted = await store.append("sc", task_events("done", 1))
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("later", 2, "stdout", text="changed")])
    assert (compacted.accepted, compacted.duplicates) == (0, 3)


async def test_finished_is_stamped_with_the_cost_of_every_attempt(backend: Backend) -> None:
    retry_usage = events_pb.Usage(input_tokens=10, output_tokens=5)
    final_usage = events_pb.Usage(input_tokens=100, output_tokens=20)
    expected = (10 + 100) * INPUT_NANOS + (5 + 20) * OUTPUT_NANOS

    async with backend.opened() as (store, _):
        await store.append(
            "sc",
            [
                event("a", 1, "started", backend="vllm"),
                event("a", 2, "status", status=events_pb.TASK_STATUS_RETRYING, usage=retry_usage),
            ],
        )
    # A restart in between: the running cost must come back with the task.
    async with backend.opened() as (store, _):
        second_attempt = [
            event("a", 3, "status", status=events_pb.TASK_STATUS_RUNNING),
            event("a", 4, "finished", usage=final_usage),
        ]
        for ev in second_attempt:
            ev.attempt = 2
        await store.append("sc", second_attempt)
        events = await stored(store)
    assert events[1].status.cost.actual.total_nanos == 10 * INPUT_NANOS + 5 * OUTPUT_NANOS
    assert events[-1].finished.cost.actual.total_nanos == expected


# -- batches and reads ---------------------------------------------------------------------
async def test_batches_yield_every_commit_once_in_revision_order(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        seen: list[CommittedBatch] = []

        async def consume() -> None:
            async for batch in store.batches():
                seen.append(batch)
                if batch.last_revision >= 90:
                    return

        consumer = asyncio.create_task(consume())
        await asyncio.gather(*(store.append("sc", task_events(f"t{i}", 7)) for i in range(10)))
        await asyncio.wait_for(consumer, 10)
        stored = await store.read_frames(0, max_bytes=1 << 30)
    records = [r for batch in seen for frame in batch.frames for r in frame.records()]
    assert [r.revision for r in records] == list(range(1, 91))
    for batch in seen:
        batch_records = [r for frame in batch.frames for r in frame.records()]
        assert [ev.revision for ev in batch.events] == [r.revision for r in batch_records]
        assert [
            events_pb.ExecutionEvent.FromString(r.payload) for r in batch_records
        ] == batch.events
    # What went live is byte for byte what a replay reads: one frame per report.
    assert stored.frames == [frame for batch in seen for frame in batch.frames]
    assert len(stored.frames) == 10 and stored.through == 90


async def test_read_pages_after_a_revision(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 8))
        page = await store.read(3, limit=4)
        tail = await store.read(7, limit=100)
        past_end = await store.read(10, limit=100)
    assert [r.revision for r in page] == [4, 5, 6, 7]
    assert [r.revision for r in tail] == [8, 9, 10]
    assert past_end == []


async def test_an_empty_log_starts_at_revision_one(backend: Backend) -> None:
    async with backend.opened() as (store, recovery):
        assert (recovery.revision, recovery.checkpoint_revision, recovery.tasks) == (0, 0, {})
        assert recovery.oldest_revision == store.oldest_revision == 1
        assert await store.read(0, limit=10) == []


# -- retention -----------------------------------------------------------------------------
async def test_compaction_keeps_the_newest_events_and_refuses_older_reads(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 8))
        await store.checkpoint(blobs(await states_of(store)), 10)
        deleted = await store.compact(Retention(max_events=3))
        kept = await store.read(7, limit=100)
        with pytest.raises(RevisionCompactedError) as gone:
            await store.read(6, limit=100)
        assert store.oldest_revision == 8
    assert deleted == 7
    assert [r.revision for r in kept] == [8, 9, 10]
    assert gone.value.oldest_revision == 8


async def test_compaction_never_passes_the_checkpoint(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 8))
        await store.checkpoint([], 4)
        deleted = await store.compact(Retention(max_events=0))
        kept = await store.read(4, limit=100)
        assert store.oldest_revision == 5
    assert deleted == 4
    assert [r.revision for r in kept] == [5, 6, 7, 8, 9, 10]


async def test_compaction_by_age_drops_only_older_events(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 3))
        await store.checkpoint(blobs(await states_of(store)), 5)
        assert await store.compact(Retention(max_age_s=3600)) == 0

        async def all_gone() -> bool:
            await store.compact(Retention(max_age_s=0.001))
            return store.oldest_revision == 6

        await eventually(all_gone)
        assert await store.read(5, limit=10) == []


async def test_compaction_survives_reopen(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 8))
        await store.checkpoint(blobs(await states_of(store)), 10)
        await store.compact(Retention(max_events=2))
    async with backend.opened() as (store, recovery):
        assert recovery.oldest_revision == store.oldest_revision == 9
        with pytest.raises(RevisionCompactedError):
            await store.read(0, limit=10)


# -- restart -------------------------------------------------------------------------------
async def test_reopen_recovers_the_checkpoint_and_the_events_after_it(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 2))
        states = await states_of(store)
        await store.checkpoint(blobs(states), 4)
        await store.append("sc", task_events("b", 3, finish=False))
    async with backend.opened() as (store, recovery):
        after = await stored(store, recovery.checkpoint_revision)
        more = await store.append("sc", [event("b", 5)])
    assert (recovery.checkpoint_revision, recovery.revision) == (4, 8)
    assert recovery.tasks == {"a": states[0]}
    assert [ev.revision for ev in after] == [5, 6, 7, 8]
    assert more.last_revision == 9


async def test_seq_gates_survive_reopen_without_a_checkpoint(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 2, finish=False))
    async with backend.opened() as (store, recovery):
        dup = await store.append("sc", [event("a", 3)])
        with pytest.raises(SeqGapError) as gap:
            await store.append("sc", [event("a", 6)])
        with pytest.raises(OwnershipError):
            await store.append("other", [event("a", 4)])
        next_one = await store.append("sc", [event("a", 4)])
    assert recovery.revision == 3
    assert (dup.accepted, dup.duplicates) == (0, 1)
    assert gap.value.expected_seq == 4
    assert next_one.last_revision == 4


async def test_finished_tasks_stay_closed_after_reopen(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 1))
        await store.checkpoint(blobs(await states_of(store)), 3)
    async with backend.opened() as (store, _):
        with pytest.raises(TaskFinishedError):
            await store.append("sc", [event("a", 4)])


async def test_the_checkpoint_revision_never_goes_back(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 8))
        await store.checkpoint([], 10)
        await store.checkpoint([], 5)
    async with backend.opened() as (store, recovery):
        assert recovery.checkpoint_revision == 10


async def test_batches_after_reopen_start_after_the_recovered_revision(backend: Backend) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 3))
    async with backend.opened() as (store, recovery):
        batches = store.batches()
        await store.append("sc", task_events("b", 1))
        batch = await asyncio.wait_for(anext(batches), 10)
    assert recovery.revision == 5
    assert batch.first_revision == 6


async def test_append_after_close_is_refused(backend: Backend) -> None:
    store = backend.new()
    await store.open()
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(ShuttingDownError):
        await store.append("sc", [event("a", 1)])


async def test_the_log_identity_is_chosen_once_and_kept(backend: Backend) -> None:
    async with backend.opened() as (store, recovery):
        first = recovery.log_id
        assert store.log_id == first and len(first) >= 16
        await store.append("sc", task_events("a", 1))
        assert await store.head_revision() == 3
    async with backend.opened() as (store, recovery):
        assert recovery.log_id == store.log_id == first


async def test_a_byte_bounded_read_returns_at_least_one_event_and_stops_near_the_bound(
    backend: Backend,
) -> None:
    big = "x" * 10_000
    async with backend.opened() as (store, _):
        await store.append("sc", [event("a", seq, text=big) for seq in range(1, 41)])
        one = await store.read(0, limit=100, max_bytes=1)
        some = await store.read(0, limit=100, max_bytes=95_000)
        everything = await store.read(0, limit=100)
    # At least one event; past the bound by at most one small read (8 events).
    assert one and one[0].revision == 1 and len(one) <= 8
    assert 5 <= len(some) <= 10, len(some)
    assert len(everything) == 40


# -- events the server writes --------------------------------------------------------------
def budget_event(task_id: str, owner: str) -> events_pb.ExecutionEvent:
    crossed = events_pb.BudgetCrossed(budget="b", scope="all", period="total")
    return events_pb.ExecutionEvent(task_id=task_id, sidecar_id=owner, budget=crossed)


async def test_server_events_sit_in_a_tasks_stream_outside_its_seqs(backend: Backend) -> None:
    """Seq 0, the owner as sidecar_id; the sidecar's numbering, resends and conflicts hold."""
    async with backend.opened() as (store, _):
        await store.append("sc", [event("t", 1, "started"), event("t", 2)])
        written = await store.append(SERVER_AUTHOR, [budget_event("t", "sc")])
        assert (written.accepted, written.last_revision) == (1, 3)
        assert (await store.append("sc", [event("t", 2)])).duplicates == 1
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("t", 2, text="other")])
        with pytest.raises(SeqGapError):
            await store.append("sc", [event("t", 4)])
        await store.append("sc", [event("t", 3), event("t", 4, "finished")])
        # A crossing may follow the task's finish: the server writes after it, the sidecar not.
        await store.append(SERVER_AUTHOR, [budget_event("t", "sc")])
        records = await store.read(0, limit=100)
    async with backend.opened() as (store, _):
        assert (await store.append("sc", [event("t", 4, "finished")])).duplicates == 1
    events = [events_pb.ExecutionEvent.FromString(r.payload) for r in records]
    assert [e.seq for e in events] == [1, 2, 0, 3, 4, 0]
    assert {(e.sidecar_id, r.sidecar_id) for e, r in zip(events, records, strict=True)} == {
        ("sc", "sc")
    }
    [state] = [fold(None, events, tail_bytes=0)]
    assert (state.last_seq, state.event_count) == (4, 6)


# -- frames, the task index and checkpoint chains ----------------------------------------------
async def _all_pages(
    store: LogStore, after: int, *, max_bytes: int, task_ids: frozenset[str] | None = None
) -> list[tuple[int, str]]:
    """(revision, task) of every event after ``after`` that pages of read_frames return,
    following ``through`` until the head, each frame cut after the cursor."""
    head = await store.head_revision()
    seen: list[tuple[int, str]] = []
    cursor = after
    while cursor < head:
        page = await store.read_frames(cursor, max_bytes=max_bytes, task_ids=task_ids)
        assert page.through > cursor, "a read must make progress"
        for frame in page.frames:
            seen += [
                (r.revision, r.task_id)
                for r in frame.records()
                if cursor < r.revision <= page.through
                and (task_ids is None or r.task_id in task_ids)
            ]
        cursor = page.through
    return seen


async def test_a_task_read_finds_every_event_of_its_tasks_and_reads_few_frames(
    backend: Backend,
) -> None:
    seqs = dict.fromkeys((f"t{i}" for i in range(6)), 0)

    def two(task_id: str) -> list[events_pb.ExecutionEvent]:
        seqs[task_id] += 2
        return [event(task_id, seqs[task_id] - 1), event(task_id, seqs[task_id])]

    async with backend.opened() as (store, _):
        for round_ in range(6):  # reports of 6 tasks; task "t3" in every 4th round only
            tasks = [f"t{i}" for i in range(6) if i != 3 or round_ % 4 == 0]
            await asyncio.gather(*(store.append("sc", two(t)) for t in tasks))
        everything = await stored(store)
        wanted = frozenset({"t3", "t5"})
        expected = [(e.revision, e.task_id) for e in everything if e.task_id in wanted]
        for after in (0, 1, 7, expected[3][0], everything[-1].revision - 1):
            tail = [pair for pair in expected if pair[0] > after]
            for max_bytes in (1, 200, 1 << 20):
                assert await _all_pages(store, after, max_bytes=max_bytes, task_ids=wanted) == tail
        one_task = await store.read_frames(0, max_bytes=1 << 20, task_ids=frozenset({"t3"}))
        every_frame = await store.read_frames(0, max_bytes=1 << 20)
        nobody = await store.read_frames(0, max_bytes=1 << 20, task_ids=frozenset({"nobody"}))
    assert len(one_task.frames) < len(every_frame.frames) / 3
    assert nobody.frames == [] and nobody.through == everything[-1].revision


async def test_a_cursor_inside_a_frame_is_read_from_the_revision_after_it(
    backend: Backend,
) -> None:
    async with backend.opened() as (store, _):
        await store.append("sc", task_events("a", 8))  # one report: revisions 1..10
        page = await store.read_frames(4, max_bytes=1)
        assert await _all_pages(store, 4, max_bytes=1) == [(r, "a") for r in range(5, 11)]
    assert [(f.first_revision, f.last_revision) for f in page.frames] == [(1, 10)]
    assert page.through == 10


async def test_a_checkpoint_chain_restores_each_task_at_its_latest_link(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execstream_server.domain import checkpoint

    monkeypatch.setattr(checkpoint, "MIN_REBASE_BYTES", 1)  # merge as soon as deltas outgrow
    expected: dict[str, state_pb.TaskState] = {}
    async with backend.opened() as (store, _):
        for round_ in range(1, 8):
            states = [
                state_pb.TaskState(task_id=f"t{i}", last_seq=round_, output_tail="x" * 50 * i)
                for i in range(round_ % 3, 9, 2)
            ]
            await store.checkpoint(blobs(states), round_ * 10)
            expected |= {s.task_id: s for s in states}
    async with backend.opened() as (store, recovery):
        pass
    assert recovery.checkpoint_revision == 70
    assert recovery.tasks == expected


async def test_a_resend_after_a_server_event_in_the_same_group_is_compared(
    backend: Backend,
) -> None:
    """Commits holding a server event first, then the sidecar's, keep finding its seqs."""
    async with backend.opened() as (store, _):
        await store.append("sc", [event("t", 1, "started")])
        for seq in range(2, 6):  # queued together: usually one group, server event first
            await asyncio.gather(
                store.append(SERVER_AUTHOR, [budget_event("t", "sc")]),
                store.append("sc", [event("t", seq, text=f"line {seq}")]),
            )
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("t", 3, text="changed")])
        same = await store.append("sc", [event("t", 3, text="line 3")])
    assert same.duplicates == 1
