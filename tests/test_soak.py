"""Soak: kill -9 the server again and again under load while watchers resume at random.

Checks the six watch guarantees against the final log: ordered, unique, atomic (a report's
events are all visible or none: they hold consecutive revisions and no bookmark falls
inside them), reliable (no acknowledged event missing), resumable (resuming from any
revision gives exactly the rest) and bookmarkable (a progress revision is a valid resume
point). CI runs a short variant in seconds; EXECSTREAM_LONG_TESTS=1 runs a long one, on
Redis too (with redis-server killed as well).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .support.helpers import wait_for
from .support.processes import ServerProcess
from .support.redis_server import RedisServer
from .support.resuming_watcher import ResumingWatcher, Seen, check_sessions
from .support.sidecar_sim import FAST_RECONNECT, SimSidecar, audit, read_log

pytestmark = pytest.mark.server
LONG = os.environ.get("EXECSTREAM_LONG_TESTS") == "1"


@dataclass
class AckedReport:
    last_revision: int
    events: list[tuple[str, int]]


@dataclass
class OneReportSidecar(SimSidecar):
    """Sends one report per call, so each acknowledgement names that report's revisions."""

    reports: list[AckedReport] = field(default_factory=list)

    def run(self, stop: threading.Event, deadline: float) -> None:
        channel = grpc.insecure_channel(self.address, options=FAST_RECONNECT)
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        needs_resync = False
        while not self.done and not stop.is_set() and time.monotonic() < deadline:
            try:
                if needs_resync:
                    self._resync(stub)
                    needs_resync = False
                    continue
                message = self._messages()[0]
                fresh = [
                    (e.task_id, e.seq) for e in message.events if e.seq > self.acked[e.task_id]
                ]
                response = stub.ReportProgress(iter([message]), timeout=5, wait_for_ready=True)
                for ack in response.tasks:
                    self.acked[ack.task_id] = max(self.acked[ack.task_id], ack.last_seq)
                    self.next_seq[ack.task_id] = ack.last_seq + 1
                if response.events_accepted:
                    assert response.events_accepted == len(fresh)
                    self.reports.append(AckedReport(response.last_revision, fresh))
            except grpc.RpcError:
                self.failures += 1
                needs_resync = True
                time.sleep(0.02)  # a sidecar's retry pause, not a wait for state
        channel.close()


def _head(address: str) -> int:
    with grpc.insecure_channel(address, options=FAST_RECONNECT) as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        request = service_pb.GetSnapshotRequest(task_ids=["none"])
        return int(stub.GetSnapshot(request, timeout=10, wait_for_ready=True).revision)


def _check_atomic(
    sidecars: list[OneReportSidecar], log: dict[int, Seen], watchers: list[ResumingWatcher]
) -> int:
    """Each acknowledged report holds consecutive revisions, and no bookmark splits one."""
    inside: set[int] = set()
    count = 0
    for sidecar in sidecars:
        for acked in sidecar.reports:
            first = acked.last_revision - len(acked.events) + 1
            stored = {log[r][:2] for r in range(first, acked.last_revision + 1)}
            assert stored == set(acked.events), f"report ending at {acked.last_revision} split"
            inside.update(range(first, acked.last_revision))
            count += 1
    for watcher in watchers:
        for session in watcher.sessions:
            for bookmark, received in session.bookmarks:
                if received == 0 and bookmark == session.after:
                    continue  # the opening Progress echoes the resume point the client chose
                assert bookmark not in inside, f"bookmark {bookmark} inside a report"
    return count


def _soak(
    server: ServerProcess, cycles: int, events: int, restart_redis: RedisServer | None
) -> None:
    sidecars = [
        OneReportSidecar(
            f"sc{i}", [f"sc{i}-t{j}" for j in range(3)], events, server.address, seed=i
        )
        for i in range(3)
    ]
    watchers = [ResumingWatcher(server.address, seed=100 + i) for i in range(3)]
    stop = threading.Event()
    deadline = time.monotonic() + (900 if LONG else 120)
    threads = [threading.Thread(target=s.run, args=(stop, deadline), daemon=True) for s in sidecars]
    threads += [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in watchers]
    for thread in threads:
        thread.start()
    try:
        for cycle in range(cycles):
            target = _head(server.address) + 30
            wait_until = time.monotonic() + 30
            while _head(server.address) < target and time.monotonic() < wait_until:
                if all(s.done for s in sidecars):
                    break
                time.sleep(0.02)  # polling the head; the condition is what we wait for
            server.kill()
            if restart_redis is not None and cycle % 3 == 2:
                restart_redis.kill()
                restart_redis.start()
            server.start()
        for thread in threads[: len(sidecars)]:
            thread.join(600 if LONG else 120)
        assert all(s.done for s in sidecars), "sidecars did not finish their tasks"
        # Watch the settled log: each watcher finishes another session and reaches its head.
        settled = _head(server.address)
        marks = [len(w.sessions) for w in watchers]
        wait_for(
            lambda: all(
                len(w.sessions) >= mark + 2 and w.reached >= settled
                for w, mark in zip(watchers, marks, strict=True)
            ),
            timeout=60,
        )
    finally:
        stop.set()
        for thread in threads[len(sidecars) :]:
            thread.join(10)
    counts = audit(
        server.address, list[SimSidecar](sidecars)
    )  # reliable, unique, ordered, state == fold(log)
    assert sum(counts.values()) == sum(s.events_per_task * len(s.task_ids) for s in sidecars)
    head = _head(server.address)
    log: dict[int, Seen] = {
        e.revision: (e.task_id, e.seq, str(e.WhichOneof("body") or ""))
        for e in read_log(server.address, head)
    }
    sessions, seen = check_sessions(watchers, log, head)
    reports = _check_atomic(sidecars, log, watchers)
    assert sum(s.failures for s in sidecars) > 0, "the kills never interrupted a sidecar"
    assert sessions > 3 * cycles and seen > 0 and reports > 0
    assert any(
        w.sessions and any(s.ended_by == "UNAVAILABLE" for s in w.sessions) for w in watchers
    )


def test_soak_kill_9_with_resuming_watchers_keeps_every_watch_guarantee(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "soak.db", "--checkpoint-interval", "200ms").start()
    try:
        _soak(server, cycles=25 if LONG else 4, events=400 if LONG else 60, restart_redis=None)
    finally:
        server.kill()


@pytest.mark.redis
@pytest.mark.skipif(not LONG, reason="long soak: EXECSTREAM_LONG_TESTS=1")
def test_long_soak_on_redis_with_redis_killed_too(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis").start()
    server = ServerProcess.on_store(tmp_path / "replica", redis_server.url).start()
    try:
        _soak(server, cycles=15, events=300, restart_redis=redis_server)
    finally:
        server.kill()
        redis_server.kill()
