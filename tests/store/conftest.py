"""Fixtures for the store conformance suite: the same tests on SQLite and on Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from execstream_server.domain.cost import Pricer
from execstream_server.store.base import LogStore, Recovery
from execstream_server.store.redis import RedisStore
from execstream_server.store.sqlite import SqliteStore

from ..support.flat_pricer import FlatPricer
from ..support.redis_server import RedisServer

T = TypeVar("T")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server (AOF, fsync always) on a free loopback port; stopped after."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


class Backend:
    """Opens stores of one kind on the same durable storage, as a restart or a replica would."""

    def __init__(self, name: str, make: Callable[[Pricer], LogStore]) -> None:
        self.name = name
        self._make = make
        self.pricer: Pricer = FlatPricer()

    def new(self) -> LogStore:
        return self._make(self.pricer)

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[tuple[LogStore, Recovery]]:
        store = self.new()
        recovery = await store.open()
        try:
            yield store, recovery
        finally:
            await store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = str(tmp_path / "store.db")
        return Backend("sqlite", lambda pricer: SqliteStore(path, pricer=pricer))
    server: RedisServer = request.getfixturevalue("redis_server")

    def make(pricer: Pricer) -> LogStore:
        return RedisStore(server.url, pricer=pricer, heartbeat_s=0.05)

    return Backend("redis", make)
