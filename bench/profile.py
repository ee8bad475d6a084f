"""How big each scenario is: the full run, and the seconds-long smoke run for CI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    ingest_sidecars: int
    ingest_batch: int
    ingest_duration_s: float
    fanout_ks: tuple[int, ...]
    fanout_sidecars: int
    fanout_batch: int
    fanout_delivered: int  # events delivered in total per run; the sent count is this / K
    fanout_max_events: int
    # (K watchers, offered events/s): K=100 at 10k/s is 1M deliveries/s, the relay's own
    # ceiling here, so it measures queueing, not latency; 1k/s keeps both below saturation.
    latency_loads: tuple[tuple[int, float], ...]
    latency_batch: int
    latency_duration_s: float
    latency_warmup_s: float
    latency_probe_streams: int  # per run at most, so clients do not become the bottleneck
    replay_events: int
    snapshot_sizes: tuple[int, ...]
    snapshot_page: int
    idle_watchers: int
    watcher_processes: int
    # Curves: ingest at S sidecars (events/report = ingest_batch), and at B events/report (S =
    # ingest_sidecars), each for curve_duration_s.
    sidecar_curve: tuple[int, ...]
    batch_curve: tuple[int, ...]
    curve_duration_s: float
    # Many viewers of a modest stream: crowd_watchers streams sharing connections of 50.
    crowd_watchers: int
    crowd_rate: float
    crowd_duration_s: float
    crowd_probes: int
    # Events per report: 10 makes every watcher take 10 writes/s (20k/s for 2,000, about a
    # grpc.aio server's whole capacity on one core here); 50 keeps writes well inside it.
    crowd_batches: tuple[int, ...]
    # Overload: sidecars sending flat out; what matters is how long the last ack takes.
    overload_sidecars: int
    overload_duration_s: float
    # Restart with checkpoints on: events sent after the log was checkpointed, then SIGKILL.
    restart_tail_events: int


FULL = Profile(
    name="full",
    ingest_sidecars=4,
    ingest_batch=64,
    ingest_duration_s=8.0,
    fanout_ks=(1, 10, 100),
    fanout_sidecars=2,
    fanout_batch=64,
    fanout_delivered=10_000_000,
    fanout_max_events=500_000,
    latency_loads=((1, 1_000.0), (10, 1_000.0), (100, 1_000.0), (10, 10_000.0)),
    latency_batch=10,
    latency_duration_s=10.0,
    latency_warmup_s=1.0,
    latency_probe_streams=20,
    replay_events=1_000_000,
    snapshot_sizes=(10_000, 100_000),
    snapshot_page=10_000,
    idle_watchers=10_000,
    watcher_processes=4,
    sidecar_curve=(1, 4, 16),
    batch_curve=(1, 16, 64, 256),
    curve_duration_s=6.0,
    crowd_watchers=2_000,
    crowd_rate=100.0,
    crowd_duration_s=10.0,
    crowd_probes=40,
    crowd_batches=(10, 50),
    overload_sidecars=16,
    overload_duration_s=8.0,
    restart_tail_events=50_000,
)

SMOKE = Profile(
    name="smoke",
    ingest_sidecars=2,
    ingest_batch=16,
    ingest_duration_s=0.3,
    fanout_ks=(1, 3),
    fanout_sidecars=2,
    fanout_batch=16,
    fanout_delivered=6_000,
    fanout_max_events=2_000,
    latency_loads=((2, 2_000.0),),
    latency_batch=10,
    latency_duration_s=0.5,
    latency_warmup_s=0.1,
    latency_probe_streams=2,
    replay_events=5_000,
    snapshot_sizes=(300, 1_000),
    snapshot_page=250,
    idle_watchers=20,
    watcher_processes=2,
    sidecar_curve=(1,),
    batch_curve=(4,),
    curve_duration_s=0.3,
    crowd_watchers=20,
    crowd_rate=100.0,
    crowd_duration_s=0.5,
    crowd_probes=4,
    crowd_batches=(10,),
    overload_sidecars=2,
    overload_duration_s=0.3,
    restart_tail_events=500,
)
