"""``python -m bench``: run the scenarios, print the table, optionally write JSON.

Exit status: 0 when every scenario ran and execstream delivered every event exactly once;
1 when a check failed or a server died (timings never fail a run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from .context import Bench
from .pressure import batch_curve, overload, sidecar_curve, stores
from .profile import FULL, SMOKE
from .profiling import profile_stages, profile_watch
from .results import Report, Row, markdown, table
from .servers import BenchError, StoreSetup, redis_available
from .state import idle, replay, snapshot
from .throughput import crowd, fanout, ingest, latency

SCENARIOS: dict[str, Callable[[Bench], list[Row]]] = {
    "ingest": ingest,
    "fanout": fanout,
    "latency": latency,
    "crowd": crowd,
    "curve-sidecars": sidecar_curve,
    "curve-batch": batch_curve,
    "overload": overload,
    "stores": stores,
    "replay": replay,  # also measures restart recovery over the same log
    "snapshot": snapshot,
    "idle": idle,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark execstream against a raw grpc.aio relay on this machine.",
    )
    parser.add_argument("--smoke", action="store_true", help="seconds-long tiny run (CI)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write a Markdown table")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "recovery"],
        help="run only this scenario (repeatable; recovery runs with replay)",
    )
    parser.add_argument(
        "--store",
        choices=("sqlite", "redis"),
        default="sqlite",
        help="execstream's store (redis needs redis-server on PATH and the redis store)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy under ingest; print µs/event per stage",
    )
    parser.add_argument("--profile-sidecars", type=int, default=4, metavar="S")
    parser.add_argument("--profile-batch", type=int, default=64, metavar="N")
    parser.add_argument("--profile-seconds", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument(
        "--profile-watchers",
        type=int,
        default=0,
        metavar="K",
        help="profile fan-out instead: K watchers of one sidecar at --profile-rate",
    )
    parser.add_argument("--profile-rate", type=float, default=100.0, metavar="EVENTS_PER_S")
    return parser.parse_args(argv)


def run_profile(args: argparse.Namespace, console: Console, out: Console) -> int:
    """The stage table (Markdown) on stdout and in ``--markdown`` if given."""
    seconds = 1.0 if args.smoke else args.profile_seconds
    with tempfile.TemporaryDirectory(prefix="execstream-bench-") as directory:
        store = StoreSetup(args.store, Path(directory))
        try:
            with console.status("profiling") as status:
                bench = Bench(SMOKE if args.smoke else FULL, store, say=status.update)
                if args.profile_watchers:
                    text = profile_watch(bench, args.profile_watchers, args.profile_rate, seconds)
                else:
                    text = profile_stages(bench, args.profile_sidecars, args.profile_batch, seconds)
        except BenchError as exc:
            console.print(f"[red]profile: {exc}[/]")
            return 1
        finally:
            store.close()
    load = os.getloadavg()[0]
    text += f"\n1-minute load average {load:.1f} after the run ({os.cpu_count()} CPUs).\n"
    out.print(text, markup=False, highlight=False)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    out = Console(width=None if sys.stdout.isatty() else 200)
    if args.profile:
        return run_profile(args, console, out)
    profile = SMOKE if args.smoke else FULL
    names = [("replay" if n == "recovery" else n) for n in args.scenario or SCENARIOS]
    report = Report(mode=profile.name, store=args.store)
    if args.store == "redis" and not redis_available():
        report.notes.append("redis store skipped: redis-server or execstream's redis store missing")
        console.print(f"[yellow]{report.notes[-1]}[/]")
        return _finish(report, args, out)
    failed = False
    with tempfile.TemporaryDirectory(prefix="execstream-bench-") as directory:
        store = StoreSetup(args.store, Path(directory))
        with console.status("starting") as status:
            bench = Bench(profile, store, say=lambda text: status.update(text))
            for name in dict.fromkeys(names):
                started = time.perf_counter()
                load_before = os.getloadavg()[0]
                try:
                    rows = SCENARIOS[name](bench)
                except BenchError as exc:
                    console.print(f"[red]{name}: {exc}[/]")
                    report.notes.append(f"{name} failed: {exc}")
                    failed = True
                    continue
                finally:
                    store.close()
                report.rows.extend(rows)
                # Other work on the machine skews timings; the load average says how much.
                report.notes.append(
                    f"{name}: 1-minute load average {load_before:.1f} before, "
                    f"{os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)"
                )
                console.log(f"{name} done in {time.perf_counter() - started:.1f}s")
    _finish(report, args, out)
    return 1 if failed else 0


def _finish(report: Report, args: argparse.Namespace, out: Console) -> int:
    out.print(table(report))
    for note in report.notes:
        out.print(f"note: {note}")
    if args.json:
        report.write_json(args.json)
    if args.markdown:
        args.markdown.write_text(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
