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


def ingest_once(bench: Bench, sidecars: int, batch: int, duration: float, name: str) -> list[Row]:
    """Sidecars stream reports as fast as the server takes them, for ``duration``.

    Two rows: events acknowledged per second, and the server's CPU per event (all threads,
    from /proc), both against the relay.
    """
    params = {"S": sidecars, "events/report": batch, "duration_s": duration, "watchers": 0}
    bench.say(f"{name}: {params}")

    def measure(server: Process, durable: bool) -> tuple[float, float]:
        with LoadRun() as run:
            specs = bench.sidecars(
                server.address, "ing", sidecars, 10**9, batch, duration_s=duration
            )
            cpu_before = server.cpu_seconds()
            results = run.run_sidecars(specs)
            cpu = server.cpu_seconds() - cpu_before
        label = "execstream" if durable else "relay"
        sent = check_acknowledged(results, label)
        if durable:
            revision, _ = server_revision(server.address)
            check(revision == sent, f"execstream: {sent} events acknowledged, log at {revision}")
        return ingest_rate(results), cpu * 1e6 / max(sent, 1)

    measured, baseline = both(bench, measure)
    assert isinstance(measured, tuple) and isinstance(baseline, tuple)
    target = ("ratio>=", 0.25) if batch > 1 else ("ratio>=", 0.5)
    metric = "durable ingest" if batch > 1 else "ingest"
    return [
        Row(name, params, metric, "events/s", measured[0], baseline[0], target),
        Row(name, params, "server CPU", "us/event", measured[1], baseline[1]),
    ]


def ingest(bench: Bench) -> list[Row]:
    profile = bench.profile
    sidecars, duration = profile.ingest_sidecars, profile.ingest_duration_s
    return [
        *ingest_once(bench, sidecars, profile.ingest_batch, duration, "ingest"),
        *ingest_once(bench, sidecars, 1, duration / 2, "ingest-single"),
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
    share_connections: bool = False,
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
                share_connections=share_connections,
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
    share_connections: bool = False,
) -> tuple[float, list[WatcherResult]]:
    label = "execstream" if durable else "relay"
    with LoadRun() as run:
        specs = watcher_specs(
            bench,
            server.address,
            k,
            total,
            durable=durable,
            probes=probes,
            skip=skip,
            share_connections=share_connections,
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


def deliver_rate(bench: Bench, server: Process, durable: bool, k: int, total: int) -> float:
    """Delivered events/s: K watchers, the fan-out sidecars sending ``total`` flat out."""
    profile = bench.profile
    rate, _ = _deliver(
        bench, server, durable, k, total, profile.fanout_batch, profile.fanout_sidecars
    )
    return rate


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
            return deliver_rate(bench, server, durable, k, total)

        measured, baseline = both(bench, measure)
        assert isinstance(measured, float) and isinstance(baseline, float)
        target = ("ratio>=", 1.0) if k >= 10 else None
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


def deliver_at(bench: Bench, server: Process, k: int, rate: float, duration: float) -> None:
    """K watchers sharing connections, one sidecar offering ``rate`` for ``duration``."""
    _deliver(
        bench,
        server,
        isinstance(server, Execstream),
        k,
        int(rate * duration),
        bench.profile.latency_batch,
        1,
        rate=rate,
        share_connections=True,
    )


def latency_rows(
    bench: Bench,
    name: str,
    k: int,
    rate: float,
    duration: float,
    *,
    probes: int,
    batch: int | None = None,
    share_connections: bool = False,
) -> list[Row]:
    """p50/p99/p999 of send-to-receive per event, K watchers, one sidecar at ``rate``."""
    profile = bench.profile
    batch = batch or profile.latency_batch
    total = int(rate * duration)
    skip = int(rate * profile.latency_warmup_s)
    probes = min(k, probes)
    params = {
        "K": k,
        "offered": f"{rate:g}/s",
        "events/report": batch,
        "duration_s": duration,
        "probes": probes,
    }
    bench.say(f"{name}: {params}")

    def measure(server: Process, durable: bool) -> Counter[int]:
        _, watched = _deliver(
            bench,
            server,
            durable,
            k,
            total,
            batch,
            1,
            rate=rate,
            probes=probes,
            skip=skip,
            share_connections=share_connections,
        )
        merged: Counter[int] = Counter()
        for result in watched:
            merged.update(result.latency_us)
        return merged

    measured, baseline = both(bench, measure)
    assert isinstance(measured, Counter) and isinstance(baseline, Counter)
    rows = []
    for metric, fraction in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
        target = ("ratio<=", 2.0) if metric == "p99" else None
        rows.append(
            Row(
                name,
                params,
                metric,
                "ms",
                percentile(measured, fraction) / 1000,
                percentile(baseline, fraction) / 1000,
                target,
            )
        )
    return rows


def latency(bench: Bench) -> list[Row]:
    profile = bench.profile
    rows = []
    for k, rate in profile.latency_loads:
        rows += latency_rows(
            bench,
            "latency",
            k,
            rate,
            profile.latency_duration_s,
            probes=profile.latency_probe_streams,
        )
    return rows


def crowd(bench: Bench) -> list[Row]:
    """Many viewers of a modest stream (2,000 at 100 events/s in the full run).

    Streams share connections (50 each): the watcher processes could not hold one TCP
    connection and channel per stream at this count without becoming the bottleneck.
    """
    profile = bench.profile
    rows: list[Row] = []
    for batch in profile.crowd_batches:
        found = latency_rows(
            bench,
            "crowd",
            profile.crowd_watchers,
            profile.crowd_rate,
            profile.crowd_duration_s,
            probes=profile.crowd_probes,
            batch=batch,
            share_connections=True,
        )
        p99 = next(row for row in found if row.metric == "p99")
        found.append(
            Row("crowd", p99.params, "p99, absolute", "ms", p99.execstream, None, ("<=", 50.0))
        )
        rows += found
    return rows
