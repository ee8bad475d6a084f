"""A loopback TCP proxy that closes its first connections at once, then forwards.

A client's first call through it fails as a lost connection does (UNAVAILABLE, no
ErrorInfo); the calls after reach the real server behind it. Whether a client retried is
then plain: the call succeeded, or it raised.
"""

from __future__ import annotations

import asyncio
import threading

from .helpers import free_port


class CutFirstProxy:
    def __init__(self, target_port: int, *, cut: int = 1) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.to_cut = cut
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> CutFirstProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.cuts < self.to_cut:
            self.cuts += 1
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (client_w, server_w):
                    w.transport.abort()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
