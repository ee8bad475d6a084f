"""A full disk: clients hear UNAVAILABLE "the disk is full", one log line, nothing lost.

SQLite's ``PRAGMA max_page_count`` on the store's writer connection produces a real
SQLITE_FULL without filling a real disk (and without root).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.store.sqlite import SqliteStore

from .support.helpers import collect_watch, error_details, event, report, stub_for, task_events
from .support.server_thread import ServerThread

pytestmark = pytest.mark.server
BIG = [event("big", seq, "stdout", text="x" * 60_000) for seq in range(1, 30)]


def cap_pages(server: ServerThread, pages: int | None) -> None:
    """Limit the store's file to its current size (None), or to ``pages`` pages."""
    store = server.engine.store
    assert isinstance(store, SqliteStore)

    def set_cap() -> None:
        conn = store._conn()  # the writer thread's connection: the pragma is per connection
        limit = conn.execute("PRAGMA page_count").fetchone()[0] if pages is None else pages
        conn.execute(f"PRAGMA max_page_count={limit}")

    server.run(store._run(store._writer, set_cap))


def test_a_full_disk_is_said_once_loses_nothing_and_passes(
    server_factory: Callable[..., ServerThread], caplog: pytest.LogCaptureFixture
) -> None:
    server = server_factory()
    channel, stub = stub_for(server.address)
    report(stub, "sc", task_events("small", 3))  # revisions 1..5, acknowledged
    cap_pages(server, None)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as info:
                report(stub, "sc", BIG, timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "the disk is full" in info.value.details()
            assert "no transaction is active" not in info.value.details()
            assert error_details(info.value)["ErrorInfo"].reason == "STORE_UNAVAILABLE"
        snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=10)
        assert snap.revision == 5, "reads go on while writes fail"
        cap_pages(server, 1_073_741_823)  # space is back
        done = report(stub, "sc", BIG, timeout=10)
        assert (done.events_accepted, done.last_revision) == (29, 34)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "the disk is full" in errors[0], errors
    assert any("takes writes again" in r.getMessage() for r in caplog.records)
    channel.close()
    server.stop()
    again = server_factory()  # the same file
    channel, stub = stub_for(again.address)
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=10)
    assert {t.task_id: t.last_seq for t in snap.tasks} == {"small": 5, "big": 29}
    watch = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0), timeout=30)
    seen = collect_watch(watch, lambda evs: len(evs) >= 34)
    watch.cancel()
    assert [e.revision for e in seen] == list(range(1, 35))
    channel.close()
