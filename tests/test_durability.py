"""Restart durability with a real server process killed by SIGKILL after acknowledging."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from execstream.v1 import service_pb2 as service_pb

from .helpers import free_port, report, stub_for, task_events, wait_for


class ServerProcess:
    """``execstream serve`` as a child process on a free loopback port."""

    def __init__(self, db: Path, *extra: str) -> None:
        self.db = db
        self.extra = extra
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        args = [
            sys.executable,
            "-m",
            "execstream",
            "serve",
            "--port",
            str(self.port),
            "--db",
            str(self.db),
            "--metrics-port",
            "0",
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(channel).result(timeout=30)
        channel.close()
        return self

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


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
    assert server.proc is not None and server.proc.stderr is not None
    assert b"Traceback" not in server.proc.stderr.read()
    server.proc.stderr.close()
    server.start()
    try:
        channel, stub = stub_for(server.address)
        wait_for(lambda: stub.GetSnapshot(service_pb.GetSnapshotRequest()).revision == 7)
        channel.close()
    finally:
        server.kill()
    assert os.path.exists(tmp_path / "x.db")
