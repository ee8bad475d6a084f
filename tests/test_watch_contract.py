"""The shape of a watch stream: a first Progress at once, one caught-up marker, the log's
identity, and a refused resume point beyond the head."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import Stub, error_details, report, stub_for, task_events, wait_for
from .support.server_thread import ServerThread, make_config

Response = service_pb.WatchExecutionResponse


def opened(stub: Stub, after_revision: int | None = None) -> Iterator[Response]:
    request = service_pb.WatchExecutionRequest(after_revision=after_revision)
    call: Iterator[Response] = stub.WatchExecution(request, timeout=20)
    return call


def test_a_live_watch_opens_at_once_with_a_caught_up_progress(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(heartbeat_interval_s=3600)  # no heartbeat could stand in for it
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 2))
    first = next(opened(stub))
    snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
    assert not first.events
    assert (first.progress.revision, first.progress.caught_up) == (4, True)
    assert first.progress.log_id == snapshot.log_id != ""
    assert first.progress.time.seconds > 0


def test_a_replay_opens_with_its_start_and_marks_caught_up_once(
    server_factory: Callable[..., ServerThread],
) -> None:
    server = server_factory(heartbeat_interval_s=3600)
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 3))  # revisions 1..5
    call = opened(stub, after_revision=2)
    first = next(call)
    assert (first.progress.revision, first.progress.caught_up, list(first.events)) == (2, False, [])
    seen: list[int] = []
    marks: list[tuple[int, int]] = []  # (revision, events seen before it)
    for message in call:
        seen.extend(e.revision for e in message.events)
        if message.progress.caught_up:
            marks.append((message.progress.revision, len(seen)))
            report(stub, "sc", task_events("later", 1))  # revisions 6..8, live
        if len(seen) == 6:
            break
    assert seen == [3, 4, 5, 6, 7, 8]
    assert marks == [(5, 3)], "one marker, right after the replay reached the head"


def test_a_replay_with_nothing_to_replay_is_caught_up_on_its_first_message(stub: Stub) -> None:
    report(stub, "sc", task_events("t", 1))
    first = next(opened(stub, after_revision=3))
    assert (first.progress.revision, first.progress.caught_up) == (3, True)


def test_a_resume_point_beyond_the_head_is_out_of_range(stub: Stub) -> None:
    report(stub, "sc", task_events("t", 1))
    log_id = stub.GetSnapshot(service_pb.GetSnapshotRequest()).log_id
    with pytest.raises(grpc.RpcError) as info:
        next(opened(stub, after_revision=1_000_000_000))
    assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
    detail = error_details(info.value)["ErrorInfo"]
    assert (detail.reason, dict(detail.metadata)) == (
        "REVISION_IN_FUTURE",
        {"after_revision": "1000000000", "head_revision": "3", "log_id": log_id},
    )


def test_a_compacted_resume_point_names_it_and_the_oldest_revision(
    server_factory: Callable[..., ServerThread],
) -> None:
    from execstream_server.config import Retention

    server = server_factory(
        retention=Retention(max_events=2), checkpoint_interval_s=0.02, compact_interval_s=0.02
    )
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 6))
    wait_for(lambda: server.call(lambda: server.engine.store.oldest_revision) == 7)
    with pytest.raises(grpc.RpcError) as info:
        next(opened(stub, after_revision=0))
    detail = error_details(info.value)["ErrorInfo"]
    assert (detail.reason, dict(detail.metadata)) == (
        "REVISION_COMPACTED",
        {"after_revision": "0", "oldest_revision": "7"},
    )


def test_the_log_id_survives_a_restart_and_differs_for_another_store(tmp_path: Path) -> None:
    def log_id_of(config_dir: Path) -> str:
        server = ServerThread(make_config(config_dir)).start()
        try:
            _, stub = stub_for(server.address)
            return str(next(opened(stub)).progress.log_id)
        finally:
            server.stop()

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = log_id_of(tmp_path / "a")
    assert log_id_of(tmp_path / "a") == first
    assert log_id_of(tmp_path / "b") != first


pytestmark = pytest.mark.server
