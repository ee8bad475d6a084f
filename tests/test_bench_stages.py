"""The profile's stage attribution: py-spy raw stacks to µs per event per stage."""

from __future__ import annotations

from bench.stages import IDLE, StageTable, parse_raw, stage_of

_LOOP = "thread (1): MainThread;run (asyncio/runners.py:118);_run (asyncio/events.py:84)"
_COMMIT = "SqliteStore._commit (execstream_server/store/sqlite.py:180)"
_ADMIT = "admit (execstream_server/domain/admission.py:160)"
_GATE = "next_status (execstream_server/domain/lifecycle.py:30)"
RAW = [
    f"{_LOOP};{_COMMIT};{_ADMIT};{_GATE} 30",
    f"{_LOOP};{_COMMIT} 20",
    f"{_LOOP};Engine._fold_batch (execstream_server/domain/engine.py:120);"
    "fold (execstream_server/domain/fold.py:48) 40",
    f"{_LOOP} 10",
    "thread (2): sqlite-writer_0;Thread.run (threading.py:982);_worker "
    "(concurrent/futures/thread.py:81);_WorkItem.run (concurrent/futures/thread.py:58);"
    "SqliteStore._insert_sync (execstream_server/store/sqlite.py:220) 25",
    "thread (2): sqlite-writer_0;Thread.run (threading.py:982);_worker "
    "(concurrent/futures/thread.py:81) 99",
    "thread (3): Thread-2 (serve_forever);BaseServer.serve_forever (socketserver.py:233);"
    "_PollLikeSelector.select (selectors.py:415) 50",
]


def test_the_innermost_recognised_frame_names_the_stage() -> None:
    frames = _LOOP.split(";")[1:]
    assert stage_of([*frames, _COMMIT, _ADMIT, _GATE]) == "admission"
    assert stage_of([*frames, _COMMIT]) == "revision stamping+serialisation"
    assert stage_of(frames) == "event loop and gRPC core"
    # An interceptor's wrapper awaiting the real write counts as the write, its counter as metrics.
    write = "_CountingContext.write (execstream_server/transport/grpc_metrics.py:48)"
    inc = "MutexValue.inc (prometheus_client/values.py:20)"
    assert stage_of([*frames, write]) == "fan-out: writes"
    assert stage_of([*frames, write, inc]) == "metrics/interceptors"


def test_a_parked_thread_is_idle_only_when_parked_is_its_innermost_frame() -> None:
    threads = parse_raw(RAW)
    writer = threads["store writer thread"]
    assert writer.by_stage == {"store writer": 25, IDLE: 99}
    assert writer.total == 25
    assert threads["other threads"].total == 0


def test_microseconds_per_event_leave_idle_out() -> None:
    table = StageTable(events=1_000, seconds=1.0, rate_hz=100, threads=parse_raw(RAW))
    stages = {stage: us for stage, _, us in table.stages()}
    # 30 samples at 100 Hz = 0.3 s over 1,000 events = 300 µs per event.
    assert stages["admission"] == 300.0
    assert stages["fold"] == 400.0
    assert stages["store writer"] == 250.0
    assert IDLE not in stages
    assert "| **total** | 100 % | **1250.00** |" in table.markdown("t")
