"""A loopback TCP proxy that cuts each connection after a random number of bytes."""

from __future__ import annotations

import asyncio
import random
import threading

from .helpers import free_port


class CuttingProxy:
    def __init__(self, target_port: int, *, cut_after: tuple[int, int], seed: int = 0) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.cut_after = cut_after
        self.cuts = 0
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> CuttingProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        budget = [self._rng.randint(*self.cut_after)]

        async def pipe(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool
        ) -> None:
            try:
                while data := await reader.read(4096):
                    if count:
                        budget[0] -= len(data)
                        if budget[0] <= 0:
                            self.cuts += 1
                            writer.write(data[: len(data) // 2])
                            break
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (client_w, server_w):
                    w.transport.abort()

        await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False))

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
