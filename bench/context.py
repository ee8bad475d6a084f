"""What every scenario gets: the profile, fresh servers, the load harness, checks, progress."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .load import SidecarResult, SidecarSpec, WatcherResult
from .profile import Profile
from .servers import (
    BenchError,
    Execstream,
    Process,
    StoreSetup,
    execstream_process,
    relay_process,
)


class CorrectnessError(BenchError):
    """execstream lost, duplicated or reordered events: the bench fails whatever the timings."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CorrectnessError(message)


class Bench:
    def __init__(
        self, profile: Profile, store: StoreSetup, *, say: Callable[[str], None] = print
    ) -> None:
        self.profile = profile
        self.store = store
        self.say = say

    @contextmanager
    def execstream(
        self, *extra: str, store_flags: list[str] | None = None, store: StoreSetup | None = None
    ) -> Iterator[Execstream]:
        """A fresh server on a fresh log (or on ``store_flags``, to reopen a log)."""
        flags = store_flags if store_flags is not None else (store or self.store).fresh()
        server = execstream_process(flags, *extra)
        server.start()
        try:
            yield server
            server.check_alive()
        finally:
            server.stop()

    @contextmanager
    def relay(self) -> Iterator[Process]:
        server = relay_process().start()
        try:
            yield server
            server.check_alive()
        finally:
            server.stop()

    def sidecars(
        self, address: str, prefix: str, count: int, total_events: int, batch: int, **extra: object
    ) -> list[SidecarSpec]:
        """``count`` sidecars sharing ``total_events`` (ids unique per prefix)."""
        share, rest = divmod(total_events, count)
        return [
            SidecarSpec(
                address=address,
                sidecar_id=f"{prefix}-s{i}",
                total_events=share + (1 if i < rest else 0),
                events_per_report=batch,
                **extra,  # type: ignore[arg-type]
            )
            for i in range(count)
        ]


def ingest_rate(results: list[SidecarResult]) -> float:
    sent = sum(r.sent for r in results)
    span = max(r.finished_at for r in results) - min(r.started_at for r in results)
    return sent / span if span > 0 else 0.0


def check_acknowledged(results: list[SidecarResult], server: str) -> int:
    """Every event sent was acknowledged once; returns the count."""
    sent = sum(r.sent for r in results)
    accepted = sum(r.accepted for r in results)
    duplicates = sum(r.duplicates for r in results)
    check(
        accepted == sent and duplicates == 0,
        f"{server}: sent {sent} events, {accepted} accepted, {duplicates} duplicates",
    )
    return sent


def check_delivered(results: list[WatcherResult], expected: int, server: str) -> int:
    """Every stream got exactly ``expected`` events (and no gap/duplicate); returns the total."""
    streams = [tally for result in results for tally in result.streams]
    for index, tally in enumerate(streams):
        check(not tally.error, f"{server} watcher {index}: {tally.error}")
        check(
            tally.received == expected,
            f"{server} watcher {index}: received {tally.received} of {expected} events",
        )
    return sum(t.received for t in streams)


def server_revision(address: str) -> tuple[int, int]:
    """(revision, task count on the first page) from GetSnapshot."""
    with grpc.insecure_channel(address) as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=1), timeout=60)
        return snapshot.revision, len(snapshot.tasks)


def wait_ready(address: str, timeout: float = 120.0) -> float:
    """Seconds until GetSnapshot answers (the server finished recovery and serves)."""
    start = time.perf_counter()
    with grpc.insecure_channel(address) as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        stub.GetSnapshot(
            service_pb.GetSnapshotRequest(page_size=1), timeout=timeout, wait_for_ready=True
        )
    return time.perf_counter() - start
