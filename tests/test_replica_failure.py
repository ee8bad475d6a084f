"""A bug after admission fails the replica loudly: never a wedge, never a revision gap.

If committing, folding or fanning out a batch raises, the replica turns NOT_SERVING, logs
one ERROR line naming the revision, refuses every new call with UNAVAILABLE
(REPLICA_FAILED) and, as ``execstream serve``, exits 1 for its supervisor. Watchers see
every revision up to the failure and none after it; a restart refolds the intact log.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.domain import engine as engine_module
from execstream_server.domain.fold import fold
from execstream_server.domain.hub import Hub
from execstream_server.store import redis as redis_module
from execstream_server.store import sqlite as sqlite_module
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .support import faulty_serve
from .support.helpers import error_details, report, stub_for, task_events, wait_for
from .support.processes import ChildProcess, ServerProcess, free_port
from .support.processes import ChildProcessError as ChildDied
from .support.redis_server import RedisServer
from .support.server_thread import ServerThread

pytestmark = pytest.mark.server
POISON = "poison-1"


def _fold_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(state: Any, events: Iterable[events_pb.ExecutionEvent], **kw: Any) -> Any:
        events = list(events)
        if events[0].task_id == POISON:
            raise ValueError("planted fold bug")
        return fold(state, events, **kw)

    monkeypatch.setattr(engine_module, "fold", buggy)


def _fan_out_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    publish = Hub.publish

    def buggy(self: Hub, batch: Any) -> None:
        if batch.frames[0].keys.task_ids[0] == POISON:
            raise RuntimeError("planted fan-out bug")
        publish(self, batch)

    monkeypatch.setattr(Hub, "publish", buggy)


def _commit_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    batch_type = sqlite_module.CommittedBatch  # type: ignore[attr-defined]

    def buggy(frames: Any, events: Any, *args: Any) -> Any:
        if frames[0].keys.task_ids[0] == POISON:
            raise RuntimeError("planted commit bug")
        return batch_type(frames, events, *args)

    monkeypatch.setattr(sqlite_module, "CommittedBatch", buggy)


class Watch:
    """A watcher from revision 0 in a thread, keeping every event and heartbeat revision."""

    def __init__(self, address: str) -> None:
        self.channel, stub = stub_for(address)
        self.call = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0))
        self.revisions: list[int] = []
        self.progress: list[int] = []
        self.error: grpc.RpcError | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for response in self.call:
                self.revisions += [e.revision for e in response.events]
                if response.HasField("progress"):
                    self.progress.append(response.progress.revision)
        except grpc.RpcError as exc:
            self.error = exc


def _assert_replica_failed(error: grpc.RpcError, revision: int) -> None:
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
    info = error_details(error)["ErrorInfo"]
    assert info.reason == "REPLICA_FAILED"
    assert info.metadata["revision"] == str(revision)


@pytest.mark.parametrize(
    "plant", [_fold_bug, _fan_out_bug, _commit_bug], ids=["fold", "fan-out", "commit"]
)
def test_a_bug_after_admission_fails_the_replica_loudly_without_a_gap(
    server_factory: Callable[..., ServerThread],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    plant: Callable[[pytest.MonkeyPatch], None],
) -> None:
    plant(monkeypatch)
    server = server_factory()
    channel, stub = stub_for(server.address)
    watch = Watch(server.address)
    report(stub, "sc", task_events("a", 1))  # revisions 1..3
    wait_for(lambda: watch.revisions == [1, 2, 3])
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        with pytest.raises(grpc.RpcError) as info:
            report(stub, "sc", task_events(POISON, 1), timeout=10)
        _assert_replica_failed(info.value, 3)
        health = health_pb2_grpc.HealthStub(channel)
        wait_for(
            lambda: (
                health.Check(health_pb2.HealthCheckRequest()).status
                == health_pb2.HealthCheckResponse.NOT_SERVING
            )
        )
        assert server.app.metrics is not None
        assert server.app.metrics.registry.get_sample_value("execstream_serving") == 0
        for call in (
            lambda: report(stub, "sc", task_events("b", 1), timeout=10),
            lambda: stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=10),
            lambda: next(stub.WatchExecution(service_pb.WatchExecutionRequest(), timeout=10)),
        ):
            with pytest.raises(grpc.RpcError) as info:
                call()
            _assert_replica_failed(info.value, 3)
        watch.thread.join(10)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "replica failed after revision 3" in errors[0].getMessage()
    assert "\n" not in errors[0].getMessage()
    assert watch.revisions == [1, 2, 3], "a watcher saw past the failure or a gap"
    assert watch.error is not None and watch.error.code() == grpc.StatusCode.UNAVAILABLE
    assert watch.progress[-1] == 3
    channel.close()


def _redis_commit_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    settle = redis_module.settle  # type: ignore[attr-defined]

    def buggy(plan: Any, first_revision: int, committed_ms: int) -> Any:
        if any(sub.events[0].task_id == POISON for sub, _ in plan.outcomes):
            raise RuntimeError("planted commit bug")
        return settle(plan, first_revision, committed_ms)

    monkeypatch.setattr(redis_module, "settle", buggy)


@pytest.mark.redis
@pytest.mark.parametrize("plant", [_fold_bug, _redis_commit_bug], ids=["fold", "commit"])
def test_a_bug_fails_a_redis_replica_loudly_without_a_gap(
    server_factory: Callable[..., ServerThread],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    plant: Callable[[pytest.MonkeyPatch], None],
) -> None:
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        plant(monkeypatch)
        server = server_factory(store=redis_server.url)
        channel, stub = stub_for(server.address)
        watch = Watch(server.address)
        report(stub, "sc", task_events("a", 1))
        wait_for(lambda: watch.revisions == [1, 2, 3])
        caplog.clear()
        with caplog.at_level(logging.ERROR), pytest.raises(grpc.RpcError) as info:
            report(stub, "sc", task_events(POISON, 1), timeout=10)
        # Redis holds the poison report either way; this replica's log reader may have
        # applied it before the failure (3 or 6): no gap, and nothing after, is what counts.
        applied = int(error_details(info.value)["ErrorInfo"].metadata["revision"])
        assert applied in (3, 6)
        _assert_replica_failed(info.value, applied)
        with pytest.raises(grpc.RpcError) as info:
            stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=10)
        _assert_replica_failed(info.value, applied)
        watch.thread.join(10)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert f"replica failed after revision {applied}" in errors[0]
        seen = len(watch.revisions)  # ended at a revision it had, resumable with no gap
        assert 3 <= seen <= applied
        assert watch.revisions == list(range(1, seen + 1))
        assert watch.progress[-1] == seen
        channel.close()
        server.stop()
    finally:
        redis_server.kill()


def faulty_server(db: Path, store_url: str = "") -> ChildProcess:
    """``execstream serve`` on ``db`` (or ``store_url``) with the fold bug planted
    (tests/support/faulty_serve)."""
    port = free_port()
    store = ["--store", store_url] if store_url else ["--db", str(db)]
    args = [
        sys.executable,
        faulty_serve.__file__,
        "serve",
        "--port",
        str(port),
        *store,
        "--metrics-port",
        "0",
        "--http-port",
        "0",
    ]
    return ChildProcess(args, port, db.parent / f"faulty-{port}.log")


def test_serve_exits_1_after_one_error_line_and_a_restart_refolds_the_log(
    tmp_path: Path,
) -> None:
    db = tmp_path / "failing.db"
    server = faulty_server(db).start()
    try:
        channel, stub = stub_for(server.address)
        report(stub, "sc", task_events("a", 1))
        with pytest.raises(grpc.RpcError) as info:
            report(stub, "sc", task_events(f"{faulty_serve.POISON_PREFIX}-x", 1), timeout=20)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()
        assert server.proc is not None
        wait_for(lambda: server.proc.poll() is not None, timeout=60)  # type: ignore[union-attr]
        assert server.proc.returncode == 1
        lines = server.log_text().splitlines()
        errors = [line for line in lines if " ERROR " in line or line.startswith("error")]
        assert len(errors) == 1, "\n".join(lines[-20:])
        assert "replica failed after revision 3" in errors[0]
        assert "planted fold bug" in errors[0]
        assert not any(line.startswith("Traceback") for line in lines)
    finally:
        server.kill()
    healthy = ServerProcess(db).start()
    try:
        channel, stub = stub_for(healthy.address)
        snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=10)
        assert snap.revision == 6
        assert [(t.task_id, t.last_seq) for t in snap.tasks] == [
            ("a", 3),
            (f"{faulty_serve.POISON_PREFIX}-x", 3),
        ]
        channel.close()
    finally:
        healthy.kill()


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


def test_a_bug_while_refolding_at_start_is_one_error_line_and_exit_1(
    tmp_path: Path, store_url: str
) -> None:
    """The log after the checkpoint holds a task the (buggy) fold raises on."""
    db = tmp_path / "recovering.db"
    no_checkpoint = ("--checkpoint-interval", "1h")
    if store_url:
        healthy = ServerProcess.on_store(tmp_path / "first", store_url, *no_checkpoint)
    else:
        healthy = ServerProcess(db, *no_checkpoint)
    healthy.start()
    channel, stub = stub_for(healthy.address)
    report(stub, "sc", task_events("a", 1), task_events(f"{faulty_serve.POISON_PREFIX}-x", 1))
    channel.close()
    healthy.kill()  # no checkpoint: a restart refolds revisions 1..6
    faulty = faulty_server(db, store_url)
    with pytest.raises(ChildDied):
        faulty.start()
    assert faulty.proc is not None
    assert faulty.proc.wait(30) == 1
    lines = faulty.log_text().splitlines()
    errors = [line for line in lines if " ERROR " in line or line.startswith("error")]
    assert len(errors) == 1, "\n".join(lines[-20:])
    assert "replica failed after revision 0: refolding revisions 1..6 at start raised" in errors[0]
    assert "planted fold bug" in errors[0] and "exiting for a restart" in errors[0]
    assert not any(line.startswith("Traceback") for line in lines)
    if store_url:
        restarted = ServerProcess.on_store(tmp_path / "again", store_url)
    else:
        restarted = ServerProcess(db)
    restarted.start()
    try:
        channel, stub = stub_for(restarted.address)
        snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(), timeout=10)
        assert snap.revision == 6 and len(snap.tasks) == 2
        channel.close()
    finally:
        restarted.kill()
