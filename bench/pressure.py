"""How ingest scales: the sidecar and batch-size curves, overload, and each store side by side."""

from __future__ import annotations

import statistics
import threading

from .context import Bench, check, check_acknowledged, ingest_rate, server_revision
from .harness import LoadRun
from .results import Row
from .servers import Process, StoreSetup, redis_available
from .throughput import both, deliver_rate, ingest_once


def sidecar_curve(bench: Bench) -> list[Row]:
    """Durable ingest at 1, 4 and 16 sidecars (the report size of the ingest scenario)."""
    profile = bench.profile
    rows = []
    for sidecars in profile.sidecar_curve:
        rows += ingest_once(
            bench, sidecars, profile.ingest_batch, profile.curve_duration_s, "curve-sidecars"
        )
    return rows


def batch_curve(bench: Bench) -> list[Row]:
    """Durable ingest at 1, 16, 64 and 256 events per report (the ingest scenario's sidecars)."""
    profile = bench.profile
    rows = []
    for batch in profile.batch_curve:
        rows += ingest_once(
            bench, profile.ingest_sidecars, batch, profile.curve_duration_s, "curve-batch"
        )
    return rows


def overload(bench: Bench) -> list[Row]:
    """Many sidecars flat out, each on one long stream: how long until the last ack?

    A sidecar's acknowledgement covers its whole stream and arrives after the server
    committed everything it sent. With no backpressure, transport buffers (HTTP/2 windows,
    socket buffers) hold what the server has not read yet, and the ack lags by however
    long the server needs to drain them: that lag is what this measures.
    """
    profile = bench.profile
    sidecars, duration = profile.overload_sidecars, profile.overload_duration_s
    params = {"S": sidecars, "events/report": profile.ingest_batch, "duration_s": duration}
    bench.say(f"overload: {params}")

    def measure(server: Process, durable: bool) -> tuple[float, float, float, float]:
        before = server.rss_bytes()
        with LoadRun() as run, _PeakRss(server) as peak:
            specs = bench.sidecars(
                server.address, "ovl", sidecars, 10**9, profile.ingest_batch, duration_s=duration
            )
            results = run.run_sidecars(specs)
        sent = check_acknowledged(results, "execstream" if durable else "relay")
        if durable:
            revision, _ = server_revision(server.address)
            check(revision == sent, f"execstream: {sent} events acknowledged, log at {revision}")
        lags = [r.ack_lag_s for r in results]
        grown = (peak.bytes - before) / 1e6
        return max(lags), statistics.median(lags), ingest_rate(results), grown

    measured, baseline = both(bench, measure)
    assert isinstance(measured, tuple) and isinstance(baseline, tuple)
    return [
        Row(
            "overload", params, "ack lag, worst sidecar", "s", measured[0], baseline[0], ("<=", 1.0)
        ),
        Row("overload", params, "ack lag, median sidecar", "s", measured[1], baseline[1]),
        Row("overload", params, "acknowledged", "events/s", measured[2], baseline[2]),
        # Memory the server grew by: what it buffered that its handlers had not read.
        Row("overload", params, "server RSS growth, peak", "MB", measured[3], baseline[3]),
    ]


class _PeakRss:
    """Samples a server's RSS every 50 ms on a thread while the block runs; keeps the peak."""

    def __init__(self, server: Process) -> None:
        self._server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)
        self.bytes = 0

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.bytes = max(self.bytes, self._server.rss_bytes())

    def __enter__(self) -> _PeakRss:
        self.bytes = self._server.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stores(bench: Bench) -> list[Row]:
    """Ingest and fan-out on SQLite and on Redis, against one relay measurement."""
    profile = bench.profile
    if not redis_available():
        note = "stores skipped: redis-server or execstream's redis store missing"
        return [Row("stores", {}, "skipped", "-", None, note=note)]
    sidecars, batch, duration = (
        profile.ingest_sidecars,
        profile.ingest_batch,
        profile.ingest_duration_s,
    )
    k = max(k for k in profile.fanout_ks if k <= 10)
    total = min(profile.fanout_max_events, profile.fanout_delivered // k)
    rows: list[Row] = []
    redis = StoreSetup("redis", bench.store.directory / "stores-redis")
    redis.directory.mkdir(exist_ok=True)
    sqlite = StoreSetup("sqlite", bench.store.directory / "stores-sqlite")
    sqlite.directory.mkdir(exist_ok=True)

    def ingest(server: Process, durable: bool) -> float:
        with LoadRun() as run:
            specs = bench.sidecars(
                server.address, "st", sidecars, 10**9, batch, duration_s=duration
            )
            results = run.run_sidecars(specs)
        check_acknowledged(results, "execstream" if durable else "relay")
        return ingest_rate(results)

    def fanout(server: Process, durable: bool) -> float:
        return deliver_rate(bench, server, durable, k, total)

    try:
        for metric, measure, params in (
            ("durable ingest", ingest, {"S": sidecars, "events/report": batch}),
            ("delivered", fanout, {"K": k, "S": profile.fanout_sidecars, "events": total}),
        ):
            bench.say(f"stores: {metric} {params}")
            with bench.relay() as relay:
                baseline = measure(relay, False)
            for setup in (sqlite, redis):
                with bench.execstream(store=setup) as server:
                    value = measure(server, True)
                rows.append(
                    Row(f"stores-{setup.kind}", params, metric, "events/s", value, baseline)
                )
    finally:
        redis.close()
    return rows
