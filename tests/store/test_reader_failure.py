"""A replica whose log reader dies for good turns unhealthy and exits, one line, status 1.

Redis restarted without persistence has lost acknowledged events: this replica must not go
on answering health checks as SERVING while refusing every report.
"""

from __future__ import annotations

from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..helpers import report, task_events, wait_for
from .redisserver import RedisServer
from .replicas import Replica


def test_a_replica_whose_redis_lost_data_stops_with_one_line(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis", "--appendonly", "no").start()
    replica = Replica(tmp_path / "replica", redis_server.url).start()
    try:
        channel, stub = replica.stub()
        report(stub, "sc", task_events("a", 3))
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == 1  # SERVING
        channel.close()
        redis_server.restart()  # comes back empty: acknowledged events are gone
        assert replica.proc is not None
        wait_for(lambda: replica.proc.poll() is not None, timeout=60)  # type: ignore[union-attr]
        assert replica.proc.returncode == 1
        errors = [line for line in replica.log_tail().splitlines() if line.startswith("error:")]
        assert len(errors) == 1, replica.log_tail()
        assert errors[0].startswith("error: store unavailable: the log reader stopped:")
        assert "lost acknowledged data" in errors[0]
    finally:
        replica.kill()
        redis_server.kill()
