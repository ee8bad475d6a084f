"""Checkpoints and compactions that keep failing are seen (an ERROR, a gauge), never a flood.

A checkpoint that failed for good once logged one WARNING and nothing more, while every
restart replayed more of the log; a failing compaction logged a WARNING every interval
for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from execstream_server.config import Retention
from execstream_server.domain.outage_log import OutageLog

from .support.helpers import event, report, stub_for, wait_for
from .support.redis_server import RedisServer
from .support.server_thread import ServerThread

LOGGER = "execstream_server.domain.engine"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _levels(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.levelname for r in caplog.records if r.name == "test.outage"]


def test_an_outage_logs_its_start_an_error_then_rarely_and_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    outage = OutageLog(
        logging.getLogger("test.outage"),
        "checkpoints",
        consequence="replay grows",
        error_after=3,
        repeat_s=60,
        clock=clock,
    )
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(50):  # 50 failures within 49 s: a WARNING, then the ERROR at 3
            outage.failed(OSError("disk full"))
            clock.now += 1
        assert _levels(caplog) == ["WARNING", "ERROR"]
        assert outage.failures == 50
        clock.now += 60
        outage.failed(OSError("disk full"))  # an hour-long outage shows every 60 s
        outage.failed(OSError("disk full"))
        assert _levels(caplog) == ["WARNING", "ERROR", "ERROR"]
        assert "still failing after 51 attempts" in caplog.records[-1].getMessage()
        outage.passed()
        outage.passed()
        assert _levels(caplog) == ["WARNING", "ERROR", "ERROR", "INFO"]
        assert outage.failures == 0


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
        return
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        yield redis_server.url
    finally:
        redis_server.kill()


def _gauge(server: ServerThread, job: str) -> float:
    assert server.app.metrics is not None
    registry = server.app.metrics.registry
    value = registry.get_sample_value("execstream_background_failures", {"job": job})
    return value or 0.0


@pytest.mark.parametrize("job", ["checkpoint", "compaction"])
def test_a_job_failing_for_good_is_an_error_and_a_gauge_not_a_flood(
    store_url: str,
    job: str,
    server_factory: Callable[..., ServerThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = server_factory(
        store=store_url,
        checkpoint_interval_s=0.01,
        compact_interval_s=0.01,
        retention=Retention(max_events=1),
    )
    store = server.engine.store
    name = "checkpoint" if job == "checkpoint" else "compact"
    working = getattr(store, name)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("planted: the disk is on fire")

    channel, stub = stub_for(server.address)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        server.call(lambda: setattr(store, name, broken))
        report(stub, "sc", [event("t", 1), event("t", 2)])  # something to checkpoint
        wait_for(lambda: _gauge(server, job) >= 40, timeout=30)
        lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
        assert [level for level, _ in lines] == ["WARNING", "ERROR"], lines
        assert "have failed 10 times in a row" in lines[1][1]
        assert "the disk is on fire" in lines[1][1]
        server.call(lambda: setattr(store, name, working))
        wait_for(lambda: _gauge(server, job) == 0, timeout=30)
        assert any("pass again" in r.getMessage() for r in caplog.records if r.name == LOGGER)
    channel.close()
