"""A real execstream server on a loopback port, run in a thread with its own event loop.

Tests talk to it over gRPC like any client; ``call`` runs a function in the server's loop
so a test can look inside (e.g. the hub's watcher count) without racing it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from execstream_server.app import App
from execstream_server.config import Limits, ServerConfig
from execstream_server.domain.engine import Engine

from . import needs

T = TypeVar("T")


class ServerThread:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.app = App(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.app.port}"

    @property
    def engine(self) -> Engine:
        assert self.app.engine is not None
        return self.app.engine

    def start(self) -> ServerThread:
        needs.check_may_start("an execstream server")
        self._thread.start()
        self.run(self.app.start())
        return self

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)  # type: ignore[no-any-return]

    def stop(self, grace: float = 0.5) -> None:
        if not self.loop.is_running():
            return
        try:
            self.run(self.app.stop(grace), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


ServerFactory = Callable[..., ServerThread]


def make_config(tmp_path: Path, **overrides: Any) -> ServerConfig:
    limits = overrides.pop("limits", {})
    base = ServerConfig(
        port=0,
        db=str(tmp_path / "execstream.db"),
        metrics_port=0,
        http_port=0,
        heartbeat_interval_s=overrides.pop("heartbeat_interval_s", 5.0),
        shutdown_grace_s=0.5,
        limits=dataclasses.replace(Limits(), **limits),
    )
    return dataclasses.replace(base, **overrides)
