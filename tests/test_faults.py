"""Fault tests on real processes: repeated SIGKILL under load and connections cut mid-stream.

CI runs short versions; EXECSTREAM_LONG_TESTS=1 runs long ones.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import grpc
import pytest

from .support.cutting_proxy import CuttingProxy
from .support.processes import ServerProcess
from .support.sidecar_sim import FAST_RECONNECT, SimSidecar, audit

pytestmark = pytest.mark.server

LONG = os.environ.get("EXECSTREAM_LONG_TESTS") == "1"


def revision_of(address: str) -> int:
    from execstream.v1 import service_pb2 as service_pb
    from execstream.v1 import service_pb2_grpc

    with grpc.insecure_channel(address, options=FAST_RECONNECT) as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        return int(
            stub.GetSnapshot(
                service_pb.GetSnapshotRequest(task_ids=["none"]), timeout=5, wait_for_ready=True
            ).revision
        )


def start_sidecars(
    address: str, count: int, tasks: int, events: int
) -> tuple[list[SimSidecar], list[threading.Thread], threading.Event]:
    sidecars = [
        SimSidecar(f"sc{i}", [f"sc{i}-t{j}" for j in range(tasks)], events, address, seed=i)
        for i in range(count)
    ]
    stop = threading.Event()
    deadline = time.monotonic() + (600 if LONG else 120)
    threads = [threading.Thread(target=s.run, args=(stop, deadline), daemon=True) for s in sidecars]
    for thread in threads:
        thread.start()
    return sidecars, threads, stop


def test_repeated_sigkill_under_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    cycles = 40 if LONG else 10
    server = ServerProcess(tmp_path / "crash.db", "--checkpoint-interval", "200ms").start()
    sidecars, threads, stop = start_sidecars(server.address, 3, 4, 400 if LONG else 150)
    try:
        for _ in range(cycles):
            before = revision_of(server.address)
            deadline = time.monotonic() + 30
            while revision_of(server.address) < before + 40 and time.monotonic() < deadline:
                if all(s.done for s in sidecars):
                    break
                time.sleep(0.01)
            server.kill()
            server.start()
        for thread in threads:
            thread.join(120)
        assert all(s.done for s in sidecars), "sidecars did not finish their tasks"
        counts = audit(server.address, sidecars)
        assert sum(counts.values()) == sum(s.events_per_task * len(s.task_ids) for s in sidecars)
        assert sum(s.failures for s in sidecars) > 0, "the kills never interrupted a sidecar"
    finally:
        stop.set()
        server.kill()


def test_streams_cut_mid_message_are_resent_without_duplicates(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "cut.db").start()
    proxy = CuttingProxy(server.port, cut_after=(2_000, 40_000), seed=7).start()
    try:
        sidecars, threads, stop = start_sidecars(proxy.address, 4, 3, 300 if LONG else 80)
        for thread in threads:
            thread.join(120)
        stop.set()
        assert all(s.done for s in sidecars), "sidecars did not finish through the proxy"
        assert proxy.cuts > 0, "the proxy never cut a connection"
        audit(server.address, sidecars)
    finally:
        proxy.stop()
        server.kill()


@pytest.mark.skipif(not LONG, reason="long soak: EXECSTREAM_LONG_TESTS=1")
def test_long_soak_many_sidecars(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "soak.db").start()
    try:
        sidecars, threads, _ = start_sidecars(server.address, 12, 8, 1000)
        for thread in threads:
            thread.join(600)
        audit(server.address, sidecars)
    finally:
        server.kill()
