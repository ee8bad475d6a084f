"""A replica whose log reader dies for good turns unhealthy and exits, one line, status 1.

Redis restarted without persistence has lost acknowledged events: this replica must not go
on answering health checks as SERVING while refusing every report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..support.helpers import report, stub_for, task_events, wait_for
from ..support.processes import ServerProcess
from ..support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def test_a_replica_whose_redis_lost_data_stops_with_one_line(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis", "--appendonly", "no").start()
    replica = ServerProcess.on_store(tmp_path / "replica", redis_server.url).start()
    try:
        channel, stub = stub_for(replica.address)
        report(stub, "sc", task_events("a", 3))
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == 1  # SERVING
        channel.close()
        redis_server.restart()  # comes back empty: acknowledged events are gone
        assert replica.proc is not None
        wait_for(lambda: replica.proc.poll() is not None, timeout=60)  # type: ignore[union-attr]
        assert replica.proc.returncode == 1
        log = replica.log_text()
        errors = [line for line in log.splitlines() if " ERROR " in line or "error:" in line]
        assert len(errors) == 1, log[-3000:]
        assert "replica failed after revision 5: the log reader raised" in errors[0]
        assert "lost acknowledged data" in errors[0]
    finally:
        replica.kill()
        redis_server.kill()
