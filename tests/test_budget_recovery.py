"""A crossing whose ``budget`` event a stop lost is written at the next start, once.

A log where the cost is committed and no crossing was written is what a stop between the
commit and the event's write leaves; a server run without the budgets file leaves the
same log, deterministically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .support.helpers import event, report, stub_for
from .support.redis_server import RedisServer
from .support.server_thread import ServerThread, make_config
from .test_budgets_server import BUDGETS, crossings, out, started, stream

pytestmark = pytest.mark.server


def spend_without_budgets(tmp_path: Path, **overrides: Any) -> None:
    """research spends 102 % of its monthly budget; i1 150 % of the per-task amount."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    server = ServerThread(make_config(tmp_path, **overrides)).start()
    channel, stub = stub_for(server.address)
    with channel:
        report(
            stub, "side-a", [started("r1", "research"), event("r1", 2, "usage", usage=out(2000))]
        )
        report(
            stub, "side-a", [started("r2", "research"), event("r2", 2, "usage", usage=out(3100))]
        )
        report(
            stub, "side-b", [started("i1", "infra"), event("i1", 2, "finished", usage=out(11_250))]
        )
    server.stop()


def with_budgets(tmp_path: Path, **overrides: Any) -> ServerThread:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "budgets.toml"
    path.write_text(BUDGETS)
    return ServerThread(make_config(tmp_path, budgets=str(path), **overrides)).start()


EXPECTED = {
    "r1": [],
    "r2": [("research-monthly", 80), ("research-monthly", 100)],  # the latest to spend
    "i1": [("each-task", 80), ("each-task", 100)],
}


def written(stub: Any) -> dict[str, list[tuple[str, int]]]:
    return {task: crossings(stream(stub, task)) for task in EXPECTED}


def test_a_lost_crossing_is_written_at_the_next_start_and_only_once(tmp_path: Path) -> None:
    spend_without_budgets(tmp_path)
    for _ in range(2):  # the second start finds them written
        server = with_budgets(tmp_path)
        try:
            channel, stub = stub_for(server.address)
            with channel:
                assert written(stub) == EXPECTED
        finally:
            server.stop()


@pytest.mark.redis
def test_one_replica_of_a_shared_store_writes_them(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        spend_without_budgets(tmp_path / "before", store=redis.url)
        replicas = [with_budgets(tmp_path / name, store=redis.url) for name in ("a", "b")]
        try:
            for replica in replicas:
                channel, stub = stub_for(replica.address)
                with channel:
                    assert written(stub) == EXPECTED
            store = replicas[1].engine.store
            claim = replicas[1].run(store.claim("budget-crossings", 60))
            assert claim is False, "the first replica holds the claim"
        finally:
            for replica in replicas:
                replica.stop()
    finally:
        redis.kill()
