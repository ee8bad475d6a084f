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
from execstream_server.store.sqlite_index import INDEX_FLUSH_S

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


@pytest.fixture(
    params=["sqlite", "sqlite-index-each-commit", pytest.param("redis", marks=pytest.mark.redis)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Redis, and SQLite twice: with its task index flushed about once a second (within a
    test, reads mostly find events through the reports after the index) and flushed with
    every commit (reads find them through the index)."""
    if request.param.startswith("sqlite"):
        path = str(tmp_path / "store.db")
        flush_s = 0.0 if request.param == "sqlite-index-each-commit" else INDEX_FLUSH_S
        return Backend(
            "sqlite", lambda pricer: SqliteStore(path, pricer=pricer, index_flush_s=flush_s)
        )
    server: RedisServer = request.getfixturevalue("redis_server")

    def make(pricer: Pricer) -> LogStore:
        return RedisStore(server.url, pricer=pricer, heartbeat_s=0.05)

    return Backend("redis", make)
