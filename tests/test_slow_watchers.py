"""A stalled watcher costs bounded memory and never holds up ingest or other watchers."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import error_details, event, report, stub_for
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

CHUNK = "z" * 50_000
REPORTS = 400  # 2 events of 50 kB each: ~40 MB through the server


def test_stalled_watcher_has_bounded_memory_and_others_get_everything(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "slow.db", "--watch-queue-bytes", "1048576", "--watch-write-timeout", "60s"
    ).start()
    try:
        _, stub = stub_for(server.address)
        report(stub, "sc", [event("warm", 1, "stdout", text="x")])
        baseline = server.rss_bytes()
        stalled = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0))
        next(iter(stalled))  # subscribed; from now on this client reads nothing
        received: list[int] = []
        live = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=1))

        def read_live() -> None:
            for message in live:
                received.extend(e.revision for e in message.events)
                if received and received[-1] >= 1 + 2 * REPORTS:
                    return

        reader = threading.Thread(target=read_live)
        reader.start()
        peak = baseline
        for i in range(REPORTS):
            report(
                stub,
                "sc",
                [event(f"t{i}", 1, "stdout", text=CHUNK), event(f"t{i}", 2, "stdout", text=CHUNK)],
            )
            if i % 50 == 0:
                peak = max(peak, server.rss_bytes())
        reader.join(60)
        live.cancel()
        peak = max(peak, server.rss_bytes())
        assert received == list(range(2, 2 + 2 * REPORTS)), "the live watcher missed events"
        growth = peak - baseline
        assert growth < 30 * 1024 * 1024, (
            f"server grew by {growth / 2**20:.1f} MiB for a stalled watcher"
        )
        # The stalled watcher, once it reads again, catches up from the log with no gap.
        revisions: list[int] = []
        for message in stalled:
            revisions.extend(e.revision for e in message.events)
            if revisions and revisions[-1] >= 1 + 2 * REPORTS:
                break
        stalled.cancel()
        assert revisions[-1] == 1 + 2 * REPORTS
        assert revisions == sorted(set(revisions))
    finally:
        server.kill()


@pytest.mark.parametrize("timeout", ["1s"])
def test_watcher_stalled_past_the_write_timeout_is_ended_with_its_resume_revision(
    tmp_path: Path, timeout: str
) -> None:
    server = ServerProcess(tmp_path / "stall.db", "--watch-write-timeout", timeout).start()
    try:
        _, stub = stub_for(server.address)
        stalled = stub.WatchExecution(
            service_pb.WatchExecutionRequest(after_revision=0), timeout=120
        )
        report(stub, "sc", [event("t0", 1, "stdout", text="x")])
        next(iter(stalled))
        for i in range(1, 800):
            report(stub, "sc", [event(f"t{i}", 1, "stdout", text=CHUNK)])
        received: list[int] = []

        def read_all() -> None:
            for message in stalled:
                received.extend(e.revision for e in message.events)
                if message.HasField("progress"):
                    received.append(message.progress.revision)

        with pytest.raises(grpc.RpcError) as info:
            read_all()
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "resume with after_revision=" in info.value.details()
        detail = error_details(info.value)["ErrorInfo"]
        assert detail.reason == "WATCHER_TOO_SLOW"
        # The last revision the watcher was sent: following it neither repeats nor skips.
        assert detail.metadata["resume_revision"] == str(max(received))
        assert max(received) < 800, "the watcher was shed before it could catch up"
        resumed = stub.WatchExecution(
            service_pb.WatchExecutionRequest(after_revision=max(received)), timeout=60
        )
        for message in resumed:
            if message.events:
                assert message.events[0].revision == max(received) + 1
                break
        resumed.cancel()
        log = server.log_text()
        assert "Traceback" not in log and "ERROR" not in log
        assert log.count("shed a watcher") == 1
    finally:
        server.kill()
