"""``python -m bench --profile``: sample the server under ingest and print the stage table.

The server (execstream on a fresh log, and the relay for the floor of gRPC alone) runs
under S sidecars flat out; after a warm-up py-spy samples it for a few seconds from
outside. The table (``stages.StageTable``) divides samples by the events committed
meanwhile (the log's revision before and after; for the relay, its rate over the run).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .context import Bench, ingest_rate, server_revision
from .harness import LoadRun
from .load import SidecarResult
from .servers import BenchError, Execstream, Process
from .stages import StageTable, parse_raw
from .throughput import deliver_at

RATE_HZ = 250


def py_spy() -> str:
    path = shutil.which("py-spy")
    if path is None:
        raise BenchError("py-spy is not installed (pip install py-spy; scripts/dev-setup does)")
    return path


def _record(pid: int, seconds: float, out: Path) -> None:
    command = [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(RATE_HZ),
        "--threads",
        "--format",
        "raw",
        "--duration",
        str(max(1, round(seconds))),
        "--output",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0 or not out.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"py-spy failed: {last}")


def sample(
    bench: Bench, server: Process, sidecars: int, batch: int, warmup_s: float, seconds: float
) -> StageTable:
    """Load ``server`` for warm-up + sampling + a margin; sample it in the middle."""
    total = warmup_s + seconds + 2.0
    results: list[SidecarResult] = []
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            with LoadRun() as run:
                specs = bench.sidecars(
                    server.address, "prof", sidecars, 10**9, batch, duration_s=total
                )
                results.extend(run.run_sidecars(specs))
        except BaseException as exc:  # reported below, in the calling thread
            failure.append(exc)

    loader = threading.Thread(target=drive, name="bench-load")
    loader.start()
    time.sleep(warmup_s + 0.5)  # workers start in well under 0.5 s
    durable = isinstance(server, Execstream)
    before = server_revision(server.address)[0] if durable else 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="execstream-profile-") as directory:
        out = Path(directory) / "raw.txt"
        _record(server.pid, seconds, out)
        elapsed = time.perf_counter() - started
        after = server_revision(server.address)[0] if durable else 0
        threads = parse_raw(out.read_text().splitlines())
    loader.join()
    if failure:
        raise failure[0]
    events = after - before if durable else round(ingest_rate(results) * elapsed)
    return StageTable(events=events, seconds=elapsed, rate_hz=RATE_HZ, threads=threads)


def sample_watch(
    bench: Bench, server: Process, watchers: int, rate: float, warmup_s: float, seconds: float
) -> StageTable:
    """K watchers (sharing connections) of one sidecar offering ``rate``; sample mid-run.

    Events are counted as offered (each delivered K times): the table reads as server time
    per event ingested and fanned out to every watcher.
    """
    total_s = warmup_s + seconds + 2.0
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            deliver_at(bench, server, watchers, rate, total_s)
        except BaseException as exc:  # reported below, in the calling thread
            failure.append(exc)

    loader = threading.Thread(target=drive, name="bench-watch-load")
    loader.start()
    # Subscribing thousands of streams takes a while; wait for it before sampling.
    time.sleep(warmup_s + 0.5)
    if isinstance(server, Execstream):
        deadline = time.monotonic() + 120
        while server.watchers() < watchers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(warmup_s)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="execstream-profile-") as directory:
        out = Path(directory) / "raw.txt"
        _record(server.pid, seconds, out)
        elapsed = time.perf_counter() - started
        threads = parse_raw(out.read_text().splitlines())
    loader.join()
    if failure:
        raise failure[0]
    return StageTable(
        events=round(rate * elapsed), seconds=elapsed, rate_hz=RATE_HZ, threads=threads
    )


def profile_watch(bench: Bench, watchers: int, rate: float, seconds: float) -> str:
    """Markdown: execstream's and the relay's stage tables under a fan-out load."""
    warmup = min(2.0, seconds)
    py_spy()
    with bench.execstream() as server:
        measured = sample_watch(bench, server, watchers, rate, warmup, seconds)
    with bench.relay() as relay:
        baseline = sample_watch(bench, relay, watchers, rate, warmup, seconds)
    load = f"K={watchers} watchers, {rate:g} events/s offered"
    return (
        measured.markdown(f"execstream ({bench.store.kind}), {load}")
        + "\n"
        + baseline.markdown(f"relay, {load}")
    )


def profile_stages(bench: Bench, sidecars: int, batch: int, seconds: float) -> str:
    """Markdown: execstream's stage table, then the relay's under the same load."""
    warmup = min(2.0, seconds)
    py_spy()
    with bench.execstream() as server:
        measured = sample(bench, server, sidecars, batch, warmup, seconds)
    with bench.relay() as relay:
        baseline = sample(bench, relay, sidecars, batch, warmup, seconds)
    load = f"S={sidecars} sidecars x {batch} events/report"
    return (
        measured.markdown(f"execstream ({bench.store.kind}), {load}")
        + "\n"
        + baseline.markdown(f"relay, {load}")
    )
