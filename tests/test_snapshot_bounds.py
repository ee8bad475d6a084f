"""A snapshot page always fits in one message, whatever clients named or wrote.

Client-chosen (backend, model) pairs are summed into a bounded ``by_model``; task pages are
filled up to a byte budget, not only a task count. Before these bounds, 26,000 distinct
model names (or 70 tasks with 64 KiB messages) made every GetSnapshot fail with
RESOURCE_EXHAUSTED, for everyone, and a restart rebuilt the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import SNAPSHOT_MARGIN_BYTES

from .support.helpers import Stub, event, report, stub_for
from .support.redis_server import RedisServer
from .support.server_thread import ServerThread

pytestmark = pytest.mark.server
MESSAGE_BYTES = 256 * 1024


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
        return
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        yield redis_server.url
    finally:
        redis_server.kill()


def _pair_tasks(count: int) -> list[events_pb.ExecutionEvent]:
    """``count`` finished tasks, each on its own (backend, model) with a 256-byte model."""
    events = []
    for i in range(count):
        model = f"{i:05d}".ljust(256, "m")
        usage = events_pb.Usage(input_tokens=i + 1, output_tokens=1)
        events += [
            event(f"t{i:05d}", 1, "started", backend=f"bk{i % 7}", model=model),
            event(f"t{i:05d}", 2, "finished", usage=usage),
        ]
    return events


def _totals(stub: Stub) -> state_pb.Totals:
    snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=1), timeout=30)
    assert snapshot.ByteSize() <= MESSAGE_BYTES
    totals: state_pb.Totals = snapshot.totals
    return totals


def test_by_model_stays_bounded_through_a_restart(
    store_url: str, server_factory: Callable[..., ServerThread]
) -> None:
    pairs = 1200  # about 350 KB of by_model rows: more than a 256 KiB message holds
    limits = {"max_message_bytes": MESSAGE_BYTES}
    server = server_factory(store=store_url, limits=limits)
    channel, stub = stub_for(server.address)
    events = _pair_tasks(pairs)
    for start in range(0, len(events), 400):
        report(stub, "sc", events[start : start + 400])
    totals = _totals(stub)
    *rows, other = totals.by_model
    assert (other.backend, other.model) == ("other", "other")
    assert other.folded_models == pairs - len(rows) > 0
    assert all(row.folded_models == 0 for row in rows)
    assert sum(row.tasks for row in totals.by_model) == pairs
    assert sum(row.usage.input_tokens for row in totals.by_model) == totals.usage.input_tokens
    # The costliest pairs keep their rows (here: the most input tokens, on one price).
    assert min(row.usage.input_tokens for row in rows) > max(
        i + 1 for i in range(pairs) if f"{i:05d}".ljust(256, "m") not in {r.model for r in rows}
    )
    assert [(r.backend, r.model) for r in rows] == sorted((r.backend, r.model) for r in rows)
    channel.close()
    server.stop()
    restarted = server_factory(store=store_url, limits=limits)
    channel, stub = stub_for(restarted.address)
    assert _totals(stub) == totals, "a restart must show the same rows"
    channel.close()


def _big_tasks(count: int, text_bytes: int) -> list[list[events_pb.ExecutionEvent]]:
    """Per task: started, a status message and an error of ``text_bytes`` each."""
    text = "x" * text_bytes
    return [
        [
            event(f"big{i:03d}", 1, "started"),
            event(f"big{i:03d}", 2, "status", message=text),
            event(f"big{i:03d}", 3, "error", message=text),
        ]
        for i in range(count)
    ]


def _pages(stub: Stub, page_size: int = 0) -> list[service_pb.Snapshot]:
    pages, token = [], ""
    while True:
        request = service_pb.GetSnapshotRequest(page_token=token, page_size=page_size)
        page = stub.GetSnapshot(request, timeout=30)
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages


def test_snapshot_pages_are_filled_up_to_the_message_limit_not_past_it(
    server_factory: Callable[..., ServerThread],
) -> None:
    limit = 1024 * 1024
    server = server_factory(limits={"max_message_bytes": limit})
    channel, stub = stub_for(server.address)
    count = 20  # 20 x 128 KiB: 2.5 MiB of task state, in the default page of 1000 tasks
    for events in _big_tasks(count, 64 * 1024):
        report(stub, "sc", events)
    pages = _pages(stub)
    assert len(pages) > 1
    assert [t.task_id for p in pages for t in p.tasks] == [f"big{i:03d}" for i in range(count)]
    budget = limit - SNAPSHOT_MARGIN_BYTES
    for page, following in itertools.pairwise(pages):
        assert page.ByteSize() <= limit
        tasks = sum(task.ByteSize() + 6 for task in page.tasks)
        assert page.totals.ByteSize() + tasks <= budget
        # Full: the next page's first task would have passed the budget.
        assert page.totals.ByteSize() + tasks + following.tasks[0].ByteSize() + 6 > budget
    channel.close()


def test_a_task_larger_than_the_page_budget_still_gets_a_page_of_its_own(
    server_factory: Callable[..., ServerThread],
) -> None:
    limit = 96 * 1024  # one 2 x 40 KiB task passes the page budget with the next one
    server = server_factory(limits={"max_message_bytes": limit})
    channel, stub = stub_for(server.address)
    for events in _big_tasks(3, 40 * 1024):
        report(stub, "sc", events)
    pages = _pages(stub, page_size=10)
    assert [[t.task_id for t in p.tasks] for p in pages] == [["big000"], ["big001"], ["big002"]]
    channel.close()


def test_a_later_started_replaces_the_labels_so_they_never_pile_up(
    store_url: str, server_factory: Callable[..., ServerThread]
) -> None:
    server = server_factory(store=store_url)
    channel, stub = stub_for(server.address)
    last = {}
    seq = 1
    for round_ in range(20):  # 20 started events of 32 labels each, each set new
        last = {f"r{round_}-k{j}": "v" * 256 for j in range(32)}
        report(stub, "sc", [event("lbl", seq, "started", labels=last)])
        seq += 1
    report(stub, "sc", [event("lbl", seq, "started", model="m")])  # no labels: kept

    def labels(stub: Stub) -> dict[str, str]:
        request = service_pb.GetSnapshotRequest(task_ids=["lbl"])
        return dict(stub.GetSnapshot(request, timeout=10).tasks[0].labels)

    assert labels(stub) == last
    channel.close()
    server.stop()
    restarted = server_factory(store=store_url)
    channel, stub = stub_for(restarted.address)
    assert labels(stub) == last
    channel.close()
