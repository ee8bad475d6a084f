"""The part every test TCP proxy shares: a free loopback port served from its own thread.

Each proxy decides what happens to a connection (``_handle``); this class runs the event
loop in a daemon thread so synchronous tests and gRPC's own threads can use the proxy,
listens on ``address`` and forwards to ``target_port`` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from .helpers import free_port


class LoopbackProxy:
    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _connect(
        self, client_w: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the target; None (the client's closed) when it refuses."""
        try:
            return await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return None

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        raise NotImplementedError
