"""Scenarios about state and memory: replay and restart over a big log, snapshots, idle watchers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import grpc
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .context import Bench, check, check_acknowledged, check_delivered, server_revision, wait_ready
from .harness import LoadRun
from .results import Row
from .servers import Execstream, Process
from .throughput import watcher_specs

_LOG_BATCH = 256


def _restart_s(server: Execstream) -> float:
    """SIGKILL ``server`` and start it again: seconds until GetSnapshot answers."""
    server.kill()
    started = time.perf_counter()
    # A refold of a big log on a busy machine can take minutes before the port opens.
    server.start(timeout=600)
    wait_ready(server.address, timeout=600)
    return time.perf_counter() - started


def replay(bench: Bench) -> list[Row]:
    """Fill a log, replay it to one watcher from revision 0, then restart it after SIGKILL.

    Twice: first with checkpoints off (the restart refolds every event, the worst case),
    then with the default checkpoints on the same log plus a tail of fresh events, killed
    right after the tail's acknowledgement (the restart refolds what the last checkpoint
    missed, as after a crash in production).
    """
    events = bench.profile.replay_events
    tail = bench.profile.restart_tail_events
    params = {"events": events, "events/report": _LOG_BATCH, "checkpoints": "off"}
    bench.say(f"replay and recovery: {params}")
    with bench.execstream("--checkpoint-interval", "3600s") as server:
        with LoadRun() as run:
            specs = bench.sidecars(server.address, "log", 4, events, _LOG_BATCH)
            check_acknowledged(run.run_sidecars(specs), "execstream")
            run.start_watchers(watcher_specs(bench, server.address, 1, events, durable=True))
            watched = run.finish_watchers()
        check_delivered(watched, events, "execstream replay")
        tally = watched[0].streams[0]
        replay_rate = events / max(tally.last_at - tally.first_at, 1e-6)
        recovery_s = _restart_s(server)
        revision, _ = server_revision(server.address)
        check(
            revision == events,
            f"execstream: {events} events acknowledged, {revision} after restart",
        )
        store_flags = server.store_flags
    bench.say(f"restart with checkpoints: {events} events + a tail of {tail}")
    with bench.execstream(store_flags=store_flags) as server:
        with LoadRun() as run:
            specs = bench.sidecars(server.address, "tail", 4, tail, _LOG_BATCH)
            check_acknowledged(run.run_sidecars(specs), "execstream")
        checkpointed_s = _restart_s(server)
        revision, _ = server_revision(server.address)
        check(
            revision == events + tail,
            f"execstream: {events + tail} events acknowledged, {revision} after restart",
        )
    with bench.execstream() as empty:
        empty.stop()
        started = time.perf_counter()
        empty.start()
        wait_ready(empty.address)
        empty_s = time.perf_counter() - started
    return [
        Row("replay", params, "catch-up from revision 0", "events/s", replay_rate),
        Row(
            "recovery",
            params,
            "restart after SIGKILL, refolding all, until serving",
            "s",
            recovery_s,
            note=f"an empty log restarts in {empty_s:.2f}s (process start and imports)",
        ),
        Row(
            "recovery",
            {"events": events + tail, "tail": tail, "checkpoints": "on"},
            "restart after SIGKILL, checkpointed, until serving",
            "s",
            checkpointed_s,
            target=("<", 2.0),
        ),
        Row("recovery", {}, "restart of an empty log", "s", empty_s),
    ]


def _read_all(stub: service_pb2_grpc.ExecutionServiceStub, page: int) -> tuple[float, int]:
    started = time.perf_counter()
    token, tasks = "", 0
    while True:
        snapshot = stub.GetSnapshot(
            service_pb.GetSnapshotRequest(page_size=page, page_token=token), timeout=60
        )
        tasks += len(snapshot.tasks)
        token = snapshot.next_page_token
        if not token:
            return time.perf_counter() - started, tasks


def snapshot(bench: Bench) -> list[Row]:
    """GetSnapshot of every task, page by page, at growing task counts."""
    profile = bench.profile
    rows = []
    # Each of 4 sidecars opens a quarter of the tasks on one stream: up to 22,500.
    with bench.execstream("--max-tasks-per-stream", "50000") as server:
        have = 0
        for size in profile.snapshot_sizes:
            params = {"tasks": size, "page_size": profile.snapshot_page}
            bench.say(f"snapshot: {params}")
            fresh = size - have
            with LoadRun() as run:
                # One event (started) per task: each sidecar opens ``fresh / 4`` tasks.
                specs = [
                    replace(spec, task_count=spec.total_events)
                    for spec in bench.sidecars(server.address, f"snap{size}", 4, fresh, 500)
                ]
                check_acknowledged(run.run_sidecars(specs), "execstream")
            have = size
            with grpc.insecure_channel(
                server.address, options=[("grpc.max_receive_message_length", 64 << 20)]
            ) as channel:
                stub = service_pb2_grpc.ExecutionServiceStub(channel)
                reads = [_read_all(stub, profile.snapshot_page) for _ in range(3)]
            for _, tasks in reads:
                check(tasks == size, f"execstream: snapshot listed {tasks} of {size} tasks")
            seconds = statistics.median(s for s, _ in reads)
            target = ("<", 0.3) if size >= 100_000 else None
            rows.append(
                Row("snapshot", params, "all pages (median of 3)", "s", seconds, target=target)
            )
    return rows


def _settled(count: Callable[[], int], target: int, *, quiet_s: float = 3.0) -> int:
    """Poll ``count`` until it reaches ``target`` or stops growing for ``quiet_s``."""
    last, since = -1, time.monotonic()
    deadline = since + 120
    while time.monotonic() < deadline:
        now = count()
        if now >= target:
            return now
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return now
        time.sleep(0.1)
    return count()


def idle(bench: Bench) -> list[Row]:
    """Resident memory of the server holding many idle watch streams.

    The figures use the number of streams each server actually holds (load processes open
    them in small bursts; see ``load._OPEN_BURST``), and extrapolate if some never arrived.
    """
    profile = bench.profile
    streams = profile.idle_watchers
    bench.say(f"idle watchers: {streams}")

    def measure(server: Process) -> tuple[float, float, int]:
        before = server.rss_bytes()
        with LoadRun() as run:
            run.start_watchers(watcher_specs(bench, server.address, streams, 0, durable=False))
            if isinstance(server, Execstream):
                held = _settled(server.watchers, streams)
            else:
                held = _settled(lambda: int(run.subscribed.value), streams)
            time.sleep(0.5)  # let allocations settle (no condition to wait on)
            after = server.rss_bytes()
            run.finish_watchers(stop=True)
        return after / 1e6, (after - before) / max(held, 1) / 1e3, held

    with bench.relay() as relay:
        base_total, base_each, base_held = measure(relay)
    with bench.execstream() as server:
        total, each, held = measure(server)
    params = {"watchers": streams, "held": held, "relay_held": base_held}
    target = ("<", 400.0) if held >= 10_000 else None
    rows = [
        Row("idle", params, "server RSS", "MB", total, base_total, target),
        Row("idle", params, "RSS per watcher", "KB", each, base_each),
    ]
    if held < streams:
        extrapolated = total + (streams - held) * each / 1e3
        rows.append(
            Row(
                "idle",
                {"watchers": streams},
                "RSS extrapolated from per-watcher",
                "MB",
                extrapolated,
                target=("<", 400.0),
                note="measured RSS plus the per-watcher RSS times the streams not held",
            )
        )
    return rows
