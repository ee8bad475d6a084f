"""GetSnapshot: paging, filters, totals, and list-then-watch consistency under load."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.fold import fold

from .support.helpers import Stub, event, report, stub_for, task_events
from .support.server_thread import ServerThread


def all_pages(stub: Stub, page_size: int, **kwargs: Any) -> list[service_pb.Snapshot]:
    pages, token = [], ""
    while True:
        page = stub.GetSnapshot(
            service_pb.GetSnapshotRequest(page_size=page_size, page_token=token, **kwargs)
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages


def test_pages_cover_every_task_once_in_id_order(stub: Stub) -> None:
    ids = [f"task-{i:03d}" for i in range(25)]
    report(stub, "sc", [ev for task_id in ids for ev in task_events(task_id, 0, finish=False)])
    pages = all_pages(stub, page_size=7)
    assert [len(p.tasks) for p in pages] == [7, 7, 7, 4]
    assert [t.task_id for p in pages for t in p.tasks] == ids
    assert all(p.totals.tasks == 25 for p in pages)


def test_filters_by_ids_and_status(stub: Stub) -> None:
    report(stub, "sc", task_events("done", 1), task_events("running", 1, finish=False))
    running = stub.GetSnapshot(
        service_pb.GetSnapshotRequest(statuses=[events_pb.TASK_STATUS_RUNNING])
    )
    assert [t.task_id for t in running.tasks] == ["running"]
    by_id = stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=["done", "missing"]))
    assert [t.task_id for t in by_id.tasks] == ["done"]


def test_totals_count_statuses_and_tokens(stub: Stub) -> None:
    usage = events_pb.Usage(
        input_tokens=100, cache_read_tokens=50, output_tokens=20, reasoning_tokens=5
    )
    report(
        stub,
        "sc",
        [event("a", 1, "started"), event("a", 2, "finished", usage=usage)],
        [event("b", 1, "started"), event("b", 2, "finished", outcome=events_pb.OUTCOME_FAILED)],
        [event("c", 1, "started")],
    )
    totals = stub.GetSnapshot(service_pb.GetSnapshotRequest()).totals
    counts = {c.status: c.tasks for c in totals.by_status}
    assert counts == {
        events_pb.TASK_STATUS_RUNNING: 1,
        events_pb.TASK_STATUS_SUCCEEDED: 1,
        events_pb.TASK_STATUS_FAILED: 1,
    }
    assert (totals.usage.input_tokens, totals.usage.cache_read_tokens) == (100, 50)
    assert (totals.usage.output_tokens, totals.usage.reasoning_tokens) == (20, 5)


def test_bad_page_token_and_page_size_are_invalid(stub: Stub) -> None:
    for request in (
        service_pb.GetSnapshotRequest(page_token="%%%"),
        service_pb.GetSnapshotRequest(page_size=10**6),
    ):
        with pytest.raises(grpc.RpcError) as info:
            stub.GetSnapshot(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_then_watch_rebuilds_exactly_what_a_full_watcher_saw(server: ServerThread) -> None:
    """Snapshot + watch(after=snapshot.revision) equals the fold of every event."""
    _, stub = stub_for(server.address)
    full = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0))
    done = threading.Event()

    def produce() -> None:
        _, producer = stub_for(server.address)
        for i in range(30):
            events = task_events(f"t{i % 10}-{i // 10}", 12)
            report(producer, f"sc{i % 2}", events[:5], events[5:])
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    while server.call(lambda: server.engine.revision) < 60:
        pass
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest())
    states = {t.task_id: t for t in snap.tasks}
    thread.join(60)
    total = 30 * 14
    tail = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=snap.revision))
    for message in tail:
        for ev in message.events:
            states[ev.task_id] = fold(states.get(ev.task_id), [ev], tail_bytes=4096)
        if message.events and message.events[-1].revision == total:
            break
    tail.cancel()
    replayed: dict[str, state_pb.TaskState] = {}
    for message in full:
        for ev in message.events:
            replayed[ev.task_id] = fold(replayed.get(ev.task_id), [ev], tail_bytes=4096)
        if message.events and message.events[-1].revision == total:
            break
    full.cancel()
    final = {t.task_id: t for t in stub.GetSnapshot(service_pb.GetSnapshotRequest()).tasks}
    assert states == replayed == final


def test_paged_snapshot_plus_the_documented_watch_recipe_is_exact(stub: Stub) -> None:
    """Pages may be at later revisions; watching from the smallest and skipping each
    listed task's events at or below its last_revision rebuilds the state exactly."""
    report(stub, "sc", [ev for t in "acegik" for ev in task_events(t, 1, finish=False)])
    first = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=3))
    # Between the pages: listed and unlisted tasks move on, new ones appear on both sides.
    report(stub, "sc", [event("a", 3), event("g", 3), *task_events("b", 2, finish=False)])
    report(stub, "sc", task_events("z", 1))
    pages = [first]
    while pages[-1].next_page_token:
        token = pages[-1].next_page_token
        pages.append(stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=3, page_token=token)))
    assert pages[1].revision > first.revision
    states = {t.task_id: t for page in pages for t in page.tasks}
    assert "b" not in states, "a task created behind the first page is not listed"
    report(stub, "sc", [event("c", 3), event("b", 4)])
    head = stub.GetSnapshot(service_pb.GetSnapshotRequest()).revision

    # The recipe, as the Snapshot.revision comment states it.
    after = min(page.revision for page in pages)
    watch = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=after))
    for message in watch:
        for ev in message.events:
            known = states.get(ev.task_id)
            if known is not None and ev.revision <= known.last_revision:
                continue
            states[ev.task_id] = fold(known, [ev], tail_bytes=4096)
        if message.progress.caught_up and message.progress.revision >= head:
            break
    watch.cancel()
    final = {t.task_id: t for t in stub.GetSnapshot(service_pb.GetSnapshotRequest()).tasks}
    assert states == final
