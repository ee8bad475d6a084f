"""Backpressure on ReportProgress: a spent intake budget stops the server reading streams."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from tests.support.helpers import event, wait_for
from tests.support.server_thread import ServerFactory, ServerThread


def _reports(sidecar_id: str, count: int, size: int) -> list[service_pb.ProgressReport]:
    """``count`` reports of ``size`` output events, each event of its own task."""
    return [
        service_pb.ProgressReport(
            sidecar_id=sidecar_id,
            events=[event(f"{sidecar_id}-r{r}-t{i}", 1, "started") for i in range(size)],
        )
        for r in range(count)
    ]


def _hold_the_writer(server: ServerThread) -> threading.Event:
    """Keep the store's one writer thread busy: no commit can end until the event is set."""
    release = threading.Event()
    server.engine.store._writer.submit(release.wait)  # type: ignore[attr-defined]
    return release


def test_a_spent_intake_budget_stops_reading_until_commits_catch_up(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(limits={"intake_max_events": 100})
    intake = server.app._servicer.intake  # type: ignore[union-attr]
    release = _hold_the_writer(server)
    with grpc.insecure_channel(server.address) as channel, ThreadPoolExecutor(1) as pool:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        try:
            sent = pool.submit(stub.ReportProgress, iter(_reports("s1", 40, 50)), timeout=60)
            # Two reports fill the budget; the stream waits before reading a third.
            wait_for(lambda: intake.waiting == 1)
            assert intake.in_flight == 100
            assert not sent.done()
        finally:
            release.set()
        response = sent.result(timeout=60)
    assert response.events_accepted == 2000
    assert intake.in_flight == 0 and intake.waiting == 0


def test_a_report_larger_than_the_budget_is_read_alone(server_factory: ServerFactory) -> None:
    server = server_factory(limits={"intake_max_events": 10})
    with grpc.insecure_channel(server.address) as channel:
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        response = stub.ReportProgress(iter(_reports("s2", 3, 25)), timeout=30)
    assert response.events_accepted == 75
