"""Where each event's server time goes: py-spy samples grouped into pipeline stages.

py-spy (a sampling profiler, from PyPI) records the server process from outside while
sidecars load it, in its raw format: one line per distinct stack with a sample count. Each
stack is attributed to one stage by its innermost frame that a rule recognises (so an
admission helper called from the commit counts as admission, and the commit's own lines as
commit bookkeeping). Samples are turned into microseconds per event: samples / rate over
the events the log gained while sampling.

Native frames are not sampled: time in C (protobuf parsing, SQLite, gRPC core) counts for
the innermost Python frame that called it, and time in the event loop itself (uvloop, gRPC's
completion queue) for the loop.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

# (stage, function name or "*", path fragment): the first rule matching a frame names its stage.
STAGES = (
    "receive+decode",
    "validation+rate limit",
    "admission",
    "revision stamping+serialisation",
    "store writer",
    "commit bookkeeping",
    "fold",
    "fan-out",
    "fan-out: watch sessions",
    "fan-out: writes",
    "timers",
    "metrics/interceptors",
    "checkpoint",
    "event loop and gRPC core",
)
IDLE = "idle"  # a thread waiting (py-spy cannot always tell a wait on a lock from work)
RULES: tuple[tuple[str, str, str], ...] = (
    (IDLE, "select", "selectors.py"),
    (IDLE, "_worker", "concurrent/futures/thread.py"),
    # The interceptors' wrappers await the real receive and write: the C work under them
    # (parsing, gRPC core) shows as these frames, so they count as that work.
    ("fan-out: writes", "write", "transport/grpc_metrics.py"),
    ("receive+decode", "count_requests", "transport/grpc_metrics.py"),
    ("receive+decode", "checked", "transport/access.py"),
    ("metrics/interceptors", "*", "transport/metrics.py"),
    ("metrics/interceptors", "*", "transport/grpc_metrics.py"),
    ("metrics/interceptors", "*", "transport/access.py"),
    ("metrics/interceptors", "*", "prometheus_client/"),
    ("validation+rate limit", "*", "domain/validation.py"),
    ("validation+rate limit", "*", "domain/bounds.py"),
    ("validation+rate limit", "*", "domain/ratelimit.py"),
    ("validation+rate limit", "_charge", "transport/servicer.py"),
    ("admission", "*", "domain/admission.py"),
    ("admission", "*", "domain/lifecycle.py"),
    ("admission", "*", "domain/cost.py"),
    ("admission", "*", "domain/pricing.py"),
    ("checkpoint", "_checkpoint", "domain/engine.py"),
    ("checkpoint", "checkpoint", "store/"),
    ("checkpoint", "_checkpoint_sync", "store/"),
    ("store writer", "_insert_sync", "store/"),
    ("store writer", "*", "redis/"),
    ("store writer", "*", "store/redis_commit.py"),
    ("revision stamping+serialisation", "_commit", "store/"),
    ("revision stamping+serialisation", "kind_of", "domain/events.py"),
    ("revision stamping+serialisation", "*", "domain/records.py"),
    ("revision stamping+serialisation", "*", "domain/frames.py"),
    ("revision stamping+serialisation", "*", "domain/report_keys.py"),
    ("revision stamping+serialisation", "*", "store/group_frames.py"),
    ("commit bookkeeping", "*", "store/group_commit.py"),
    ("commit bookkeeping", "*", "store/"),
    ("fold", "*", "domain/fold.py"),
    ("fold", "*", "domain/totals.py"),
    ("fold", "_fold_batch", "domain/engine.py"),
    ("fold", "_put", "domain/engine.py"),
    ("fold", "*", "bisect"),
    ("timers", "*", "asyncio/timeouts.py"),
    ("fan-out", "*", "domain/hub.py"),
    ("fan-out: watch sessions", "*", "domain/watch.py"),
    ("fan-out: writes", "_watch", "transport/servicer.py"),
    ("fan-out: writes", "watch_execution", "bench/relay.py"),
    ("commit bookkeeping", "wait_applied", "domain/engine.py"),
    ("commit bookkeeping", "_fold_from_log", "domain/engine.py"),
    ("commit bookkeeping", "_settle", "transport/servicer.py"),
    ("commit bookkeeping", "add", "transport/servicer.py"),
    ("commit bookkeeping", "finish", "transport/servicer.py"),
    ("receive+decode", "*", "transport/servicer.py"),
    ("receive+decode", "*", "transport/requests.py"),
    ("receive+decode", "*", "grpc/aio/"),
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


@dataclass
class ThreadSamples:
    """One thread's samples by stage."""

    name: str
    by_stage: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Samples in which the thread was working (not ``IDLE``)."""
        return sum(n for stage, n in self.by_stage.items() if stage != IDLE)


def stage_of(frames: list[str]) -> str:
    """The stage of one stack (root first): its innermost frame that a rule recognises.

    A thread parked in ``select`` or an executor's queue is ``IDLE`` only when that is its
    innermost frame.
    """
    for depth, frame in enumerate(reversed(frames)):
        match = _FRAME.match(frame)
        if match is None:
            continue
        func, path = match["func"], match["path"]
        short = func.rsplit(".", 1)[-1]
        for stage, name, fragment in RULES:
            if fragment in path and (name == "*" or name == short):
                if stage == IDLE and depth:
                    continue
                return stage
    return "event loop and gRPC core"


def thread_kind(name: str) -> str:
    """Group thread names: the event loop, the store's writer, readers, anything else."""
    if name == "MainThread":
        return "event loop"
    if "writer" in name:
        return "store writer thread"
    if name.startswith("sqlite-read"):
        return "store reader threads"
    if "_poll_wrapper" in name:
        return "gRPC poller thread"
    return "other threads"


def parse_raw(lines: Iterable[str]) -> dict[str, ThreadSamples]:
    """py-spy ``--format raw --threads`` output, grouped by thread kind and stage."""
    threads: dict[str, ThreadSamples] = {}
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = stack.split(";")
        head = frames[0]
        thread_name = head.split(": ", 1)[1] if head.startswith("thread (") else "MainThread"
        kind = thread_kind(thread_name)
        samples = threads.setdefault(kind, ThreadSamples(kind))
        samples.by_stage[stage_of(frames[1:])] += int(count_text)
    return threads


@dataclass
class StageTable:
    """Microseconds per event by stage (all threads), and how busy each thread was."""

    events: int
    seconds: float
    rate_hz: int
    threads: dict[str, ThreadSamples]

    def us_per_event(self, samples: int) -> float:
        return samples / self.rate_hz * 1e6 / max(self.events, 1)

    def stages(self) -> list[tuple[str, int, float]]:
        """(stage, samples, µs/event) over all threads, in pipeline order, empty ones left out."""
        totals: Counter[str] = Counter()
        for samples in self.threads.values():
            totals.update(samples.by_stage)
        totals.pop(IDLE, None)
        return [(s, totals[s], self.us_per_event(totals[s])) for s in STAGES if totals[s]]

    def busy(self) -> list[tuple[str, float]]:
        """(thread kind, share of the sampled time it was running)."""
        possible = self.seconds * self.rate_hz
        return [(kind, t.total / possible) for kind, t in sorted(self.threads.items())]

    def markdown(self, title: str) -> str:
        stages = self.stages()
        total = sum(n for _, n, _ in stages)
        lines = [
            f"{title}: {self.events:,} events in {self.seconds:.1f} s "
            f"({self.events / self.seconds:,.0f} events/s), py-spy at {self.rate_hz} Hz",
            "",
            "| stage | share | µs per event |",
            "|---|---:|---:|",
        ]
        for stage, samples, us in stages:
            lines.append(f"| {stage} | {100 * samples / max(total, 1):.1f} % | {us:.2f} |")
        lines.append(f"| **total** | 100 % | **{self.us_per_event(total):.2f}** |")
        lines.append("")
        busy = ", ".join(f"{kind} {100 * share:.0f} %" for kind, share in self.busy())
        lines.append(f"Threads busy (share of the sampled time): {busy}.")
        return "\n".join(lines) + "\n"
