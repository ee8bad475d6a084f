"""Several ``execstream serve`` replicas on one real redis-server, faults included.

Each test compares what watchers on other replicas saw, what a snapshot says and what the
reporters were acknowledged: revisions 1..N with no gap and no duplicate, every task's
events exactly once and in seq order, nothing acknowledged missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from ..support.helpers import stub_for, wait_for
from ..support.processes import ServerProcess
from ..support.redis_server import RedisServer
from ..support.replicas import Reporter, Watcher

pytestmark = pytest.mark.redis


@pytest.fixture
def replicas(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Three replicas on the fixture's Redis; killed after the test."""
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b", "c"):
            started.append(ServerProcess.on_store(tmp_path / name, redis_server.url).start())
        yield started
    finally:
        for replica in started:
            replica.kill()


def assert_exact_log(events: list[events_pb.ExecutionEvent], reporters: list[Reporter]) -> None:
    """Revisions 1..N once each; per task seq 1..n in order; every acknowledged seq there."""
    assert [ev.revision for ev in events] == list(range(1, len(events) + 1))
    by_task: dict[str, list[int]] = {}
    for ev in events:
        by_task.setdefault(ev.task_id, []).append(ev.seq)
    for seqs in by_task.values():
        assert seqs == list(range(1, len(seqs) + 1))
    for reporter in reporters:
        for task_id, last_seq in reporter.acked.items():
            assert len(by_task.get(task_id, [])) >= last_seq, f"{task_id} lost acked events"


def snapshot_at(replica: ServerProcess, revision: int) -> service_pb.Snapshot:
    channel, stub = stub_for(replica.address)
    try:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (
                (s := stub.GetSnapshot(service_pb.GetSnapshotRequest())).revision >= revision and s
            ),
            timeout=30,
        )
    finally:
        channel.close()


def test_reports_to_one_replica_reach_watchers_and_snapshots_on_the_others(
    replicas: list[ServerProcess],
) -> None:
    a, b, c = replicas
    watchers = [Watcher(b.address).start(), Watcher(c.address).start()]
    reporters = [
        Reporter("sc-a", [a.address], tasks=6, outputs=20).start(),
        Reporter("sc-b", [b.address], tasks=3, outputs=20).start(),
    ]
    try:
        for reporter in reporters:
            reporter.join()
        total = sum(r.expected_events for r in reporters)
        for watcher in watchers:
            wait_for(lambda w=watcher: w.revision >= total, timeout=30)  # type: ignore[misc]
        snapshot = snapshot_at(c, total)
    finally:
        for watcher in watchers:
            watcher.stop()
    assert all(r.done for r in reporters)
    assert max(r.last_revision for r in reporters) == total
    for watcher in watchers:
        assert_exact_log(watcher.events, reporters)
    assert watchers[0].events == watchers[1].events
    assert snapshot.revision == total
    acked = {task_id: seq for r in reporters for task_id, seq in r.acked.items()}
    assert {t.task_id: t.last_seq for t in snapshot.tasks} == acked
    assert all(t.status == events_pb.TASK_STATUS_SUCCEEDED for t in snapshot.tasks)


def test_each_replica_counts_what_it_ingested_and_the_sum_is_the_total(
    replicas: list[ServerProcess],
) -> None:
    a, _, c = replicas
    reporters = [
        Reporter("sc-a", [a.address], tasks=2, outputs=10).start(),
        Reporter("sc-c", [c.address], tasks=1, outputs=10).start(),
    ]
    for reporter in reporters:
        reporter.join()
    total = sum(r.expected_events for r in reporters)
    # Every replica folded everything: the snapshot totals are global, the same everywhere.
    totals = [snapshot_at(replica, total).totals for replica in replicas]
    assert totals[0].tasks == 3
    assert all(t == totals[0] for t in totals)
    ingested = [r.metric("execstream_events_ingested_total") for r in replicas]
    finished = [r.metric("execstream_tasks_finished_total") for r in replicas]
    assert ingested == [2 * 12, 0, 12]
    assert sum(finished) == 3
    assert finished[1] == 0


def test_watchers_add_no_redis_connections_or_log_reads(
    redis_server: RedisServer, replicas: list[ServerProcess]
) -> None:
    a, b, c = replicas
    warm_up = Reporter("warm", [a.address], tasks=1, outputs=5).start()
    warm_up.join()
    snapshot_at(c, warm_up.expected_events)
    redis = redis_server.client()
    clients_before = redis.info("clients")["connected_clients"]
    redis.config_resetstat()
    watchers = [Watcher(r.address, live=True).start() for r in (b, c) for _ in range(10)]
    try:
        for replica in (b, c):
            wait_for(lambda r=replica: r.metric("execstream_watchers") == 10)  # type: ignore[misc]
        reporter = Reporter("sc", [a.address], tasks=3, outputs=20).start()
        reporter.join()
        for watcher in watchers:
            wait_for(lambda w=watcher: len(w.events) == reporter.expected_events)  # type: ignore[misc]
        stats = redis.info("commandstats")
        clients_after = redis.info("clients")["connected_clients"]
    finally:
        for watcher in watchers:
            watcher.stop()
        redis.close()
    assert "cmdstat_xrange" not in stats, "live watchers must not read the log themselves"
    assert clients_after - clients_before < 5, (clients_before, clients_after)


def test_redis_restart_mid_load_fails_calls_unavailable_then_recovers(
    redis_server: RedisServer, replicas: list[ServerProcess]
) -> None:
    a, b, _ = replicas
    # Live: a watch catching up from the log needs Redis and would end with UNAVAILABLE.
    watcher = Watcher(b.address, live=True).start()
    wait_for(lambda: b.metric("execstream_watchers") == 1)
    reporter = Reporter("sc", [a.address], tasks=4, outputs=60, batch=4).start()
    try:
        wait_for(lambda: reporter.last_revision > 20, timeout=30)
        redis_server.kill()
        wait_for(lambda: reporter.unavailable > 0, timeout=30)
        redis_server.start()
        reporter.join()
        wait_for(lambda: watcher.revision >= reporter.expected_events, timeout=30)
        snapshot = snapshot_at(b, reporter.expected_events)
    finally:
        watcher.stop()
    assert reporter.done and reporter.unavailable > 0
    assert watcher.resumes == 0, f"a live watch outlives a Redis restart: {watcher.ended}"
    assert_exact_log(watcher.events, [reporter])
    assert len(watcher.events) == snapshot.revision == reporter.expected_events


def test_a_replica_killed_mid_load_loses_nothing_acknowledged(
    replicas: list[ServerProcess],
) -> None:
    a, b, c = replicas
    watcher = Watcher(b.address).start()
    reporter = Reporter("sc", [a.address, c.address], tasks=4, outputs=60, batch=4).start()
    try:
        wait_for(lambda: reporter.last_revision > 20, timeout=30)
        a.kill()
        reporter.join()
        wait_for(lambda: watcher.revision >= reporter.expected_events, timeout=30)
        snapshot = snapshot_at(c, reporter.expected_events)
    finally:
        watcher.stop()
    assert reporter.done and reporter.unavailable > 0
    assert_exact_log(watcher.events, [reporter])
    assert len(watcher.events) == snapshot.revision == reporter.expected_events
    assert {t.last_seq for t in snapshot.tasks} == {62}


LONG_TESTS = pytest.mark.skipif(
    not os.environ.get("EXECSTREAM_LONG_TESTS"), reason="long variant: EXECSTREAM_LONG_TESTS=1"
)


@pytest.mark.slow
@LONG_TESTS
def test_soak_with_repeated_redis_restarts_and_replica_kills(
    redis_server: RedisServer, replicas: list[ServerProcess]
) -> None:
    """Minutes of load through every replica while Redis and the replicas keep dying."""
    addresses = [r.address for r in replicas]
    watchers = [Watcher(r.address).start() for r in replicas]
    reporters = [
        Reporter(f"sc{i}", addresses[i:] + addresses[:i], tasks=60, outputs=1000, batch=16).start()
        for i in range(3)
    ]
    total = sum(r.expected_events for r in reporters)

    def acked() -> int:
        return sum(sum(r.acked.values()) for r in reporters)

    try:
        for round_ in range(10):
            mark = acked()
            wait_for(lambda m=mark: acked() > m + 10_000, timeout=120)  # type: ignore[misc]
            if round_ % 2 == 0:
                failed = sum(r.unavailable for r in reporters)
                redis_server.kill()
                wait_for(lambda f=failed: sum(r.unavailable for r in reporters) > f, 30)  # type: ignore[misc]
                redis_server.start()
            else:
                victim = replicas[round_ % 3]
                victim.kill()
                victim.start()
        for reporter in reporters:
            reporter.join(timeout=600)
        for watcher in watchers:
            wait_for(lambda w=watcher: w.revision >= total, timeout=120)  # type: ignore[misc]
        snapshot = snapshot_at(replicas[0], total)
    finally:
        for watcher in watchers:
            watcher.stop()
    assert snapshot.revision == total
    for watcher in watchers:
        assert_exact_log(watcher.events, reporters)
        assert len(watcher.events) == total
