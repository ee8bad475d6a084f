"""Scenarios run against both servers: ingest, fan-out and end-to-end latency."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from .context import (
    Bench,
    check,
    check_acknowledged,
    check_delivered,
    ingest_rate,
    server_revision,
)
from .harness import LoadRun
from .load import WatcherResult, WatcherSpec
from .results import Row
from .servers import Execstream, Process

RunOn = Callable[[Process, bool], float]


def both(bench: Bench, measure: Callable[[Process, bool], object]) -> tuple[object, object]:
    """``measure(server, durable)`` on a fresh relay, then on a fresh execstream."""
    with bench.relay() as relay:
        baseline = measure(relay, False)
    with bench.execstream() as server:
        measured = measure(server, True)
    return measured, baseline


def _ingest(bench: Bench, batch: int, duration: float, name: str) -> Row:
    profile = bench.profile
    params = {
        "S": profile.ingest_sidecars,
        "events/report": batch,
        "duration_s": duration,
        "watchers": 0,
    }
    bench.say(f"{name}: {params}")

    def measure(server: Process, durable: bool) -> float:
        with LoadRun() as run:
            specs = bench.sidecars(
                server.address, "ing", profile.ingest_sidecars, 10**9, batch, duration_s=duration
            )
            results = run.run_sidecars(specs)
        label = "execstream" if durable else "relay"
        sent = check_acknowledged(results, label)
        if durable:
            revision, _ = server_revision(server.address)
            check(revision == sent, f"execstream: {sent} events acknowledged, log at {revision}")
        return ingest_rate(results)

    measured, baseline = both(bench, measure)
    assert isinstance(measured, float) and isinstance(baseline, float)
    target = ("ratio>=", 0.5) if batch > 1 else None
    return Row(
        name,
        params,
        "durable ingest" if batch > 1 else "ingest",
        "events/s",
        measured,
        baseline,
        target,
    )


def ingest(bench: Bench) -> list[Row]:
    profile = bench.profile
    return [
        _ingest(bench, profile.ingest_batch, profile.ingest_duration_s, "ingest"),
        _ingest(bench, 1, profile.ingest_duration_s / 2, "ingest-single"),
    ]


def watcher_specs(
    bench: Bench,
    address: str,
    streams: int,
    expect: int,
    *,
    durable: bool,
    probes: int = 0,
    skip: int = 0,
) -> list[WatcherSpec]:
    processes = min(streams, bench.profile.watcher_processes)
    share, rest = divmod(streams, processes)
    probe_share, probe_rest = divmod(probes, processes)
    specs = []
    for i in range(processes):
        count = share + (1 if i < rest else 0)
        specs.append(
            WatcherSpec(
                address=address,
                streams=count,
                expect_events=expect,
                check_revisions=durable,
                latency_streams=min(count, probe_share + (1 if i < probe_rest else 0)),
                latency_skip=skip,
            )
        )
    return specs


def subscribe(run: LoadRun, server: Process, streams: int, specs: list[WatcherSpec]) -> None:
    """Start the watchers and wait until the server has them all."""
    run.start_watchers(specs)
    if isinstance(server, Execstream):
        run.wait_until(lambda: server.watchers() >= streams, f"{streams} watch subscriptions")
    else:
        run.wait_until(lambda: run.subscribed.value >= streams, f"{streams} relay subscriptions")


def _deliver(
    bench: Bench,
    server: Process,
    durable: bool,
    k: int,
    total: int,
    batch: int,
    sidecars: int,
    *,
    rate: float | None = None,
    probes: int = 0,
    skip: int = 0,
) -> tuple[float, list[WatcherResult]]:
    label = "execstream" if durable else "relay"
    with LoadRun() as run:
        specs = watcher_specs(
            bench, server.address, k, total, durable=durable, probes=probes, skip=skip
        )
        subscribe(run, server, k, specs)
        sides = bench.sidecars(
            server.address, "fan", sidecars, total, batch, rate=rate, stamp=rate is not None
        )
        results = run.run_sidecars(sides)
        watched = run.finish_watchers()
    check_acknowledged(results, label)
    delivered = check_delivered(watched, total, label)
    last = max(t.last_at for w in watched for t in w.streams)
    first = min(r.started_at for r in results)
    return delivered / (last - first), watched


def fanout(bench: Bench) -> list[Row]:
    profile = bench.profile
    rows = []
    for k in profile.fanout_ks:
        total = min(profile.fanout_max_events, profile.fanout_delivered // k)
        params = {
            "K": k,
            "S": profile.fanout_sidecars,
            "events/report": profile.fanout_batch,
            "events": total,
        }
        bench.say(f"fanout: {params}")

        def measure(server: Process, durable: bool, k: int = k, total: int = total) -> float:
            rate, _ = _deliver(
                bench, server, durable, k, total, profile.fanout_batch, profile.fanout_sidecars
            )
            return rate

        measured, baseline = both(bench, measure)
        assert isinstance(measured, float) and isinstance(baseline, float)
        target = ("ratio>=", 0.5) if k >= 10 else None
        rows.append(Row("fanout", params, "delivered", "events/s", measured, baseline, target))
    return rows


def percentile(histogram: Counter[int], fraction: float) -> float:
    """The value (µs bucket) below which ``fraction`` of the samples fall."""
    total = sum(histogram.values())
    if not total:
        return float("nan")
    rank = fraction * total
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


def latency(bench: Bench) -> list[Row]:
    profile = bench.profile
    rows = []
    for k, rate in profile.latency_loads:
        total = int(rate * profile.latency_duration_s)
        skip = int(rate * profile.latency_warmup_s)
        probes = min(k, profile.latency_probe_streams)
        params = {
            "K": k,
            "offered": f"{rate:g}/s",
            "events/report": profile.latency_batch,
            "duration_s": profile.latency_duration_s,
            "probes": probes,
        }
        bench.say(f"latency: {params}")

        def measure(
            server: Process,
            durable: bool,
            k: int = k,
            rate: float = rate,
            total: int = total,
            skip: int = skip,
            probes: int = probes,
        ) -> Counter[int]:
            _, watched = _deliver(
                bench,
                server,
                durable,
                k,
                total,
                profile.latency_batch,
                1,
                rate=rate,
                probes=probes,
                skip=skip,
            )
            merged: Counter[int] = Counter()
            for result in watched:
                merged.update(result.latency_us)
            return merged

        measured, baseline = both(bench, measure)
        assert isinstance(measured, Counter) and isinstance(baseline, Counter)
        for name, fraction in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
            target = ("ratio<=", 2.0) if name == "p99" else None
            rows.append(
                Row(
                    "latency",
                    params,
                    name,
                    "ms",
                    percentile(measured, fraction) / 1000,
                    percentile(baseline, fraction) / 1000,
                    target,
                )
            )
    return rows
