"""Restart durability with a real server process killed by SIGKILL after acknowledging."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import report, stub_for, task_events, wait_for
from .support.processes import ServerProcess

pytestmark = pytest.mark.server


def test_acknowledged_events_survive_sigkill_and_revisions_continue(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "x.db", "--checkpoint-interval", "3600s").start()
    try:
        channel, stub = stub_for(server.address)
        acked = report(stub, "sc", task_events("a", 50), task_events("b", 20, finish=False))
        before = stub.GetSnapshot(service_pb.GetSnapshotRequest())
        channel.close()
        server.kill()
        server.start()
        channel, stub = stub_for(server.address)
        after = stub.GetSnapshot(service_pb.GetSnapshotRequest())
        assert after.revision == acked.last_revision == 52 + 21
        assert list(after.tasks) == list(before.tasks), "state must be the fold of the log"
        more = report(stub, "sc", [task_events("b", 20)[-1]])
        assert more.last_revision == 74
        channel.close()
    finally:
        server.kill()


def test_sigterm_stops_cleanly_and_checkpoints(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "x.db").start()
    channel, stub = stub_for(server.address)
    report(stub, "sc", task_events("a", 5))
    channel.close()
    assert server.terminate() == 0
    assert "Traceback" not in server.log_text()
    server.start()
    try:
        channel, stub = stub_for(server.address)
        wait_for(lambda: stub.GetSnapshot(service_pb.GetSnapshotRequest()).revision == 7)
        channel.close()
    finally:
        server.kill()
    assert os.path.exists(tmp_path / "x.db")
