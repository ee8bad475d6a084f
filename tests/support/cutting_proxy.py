"""A loopback TCP proxy that cuts each connection after a random number of bytes."""

from __future__ import annotations

import asyncio
import random

from .loopback_proxy import LoopbackProxy


class CuttingProxy(LoopbackProxy):
    def __init__(self, target_port: int, *, cut_after: tuple[int, int], seed: int = 0) -> None:
        super().__init__(target_port)
        self.cut_after = cut_after
        self.cuts = 0
        self._rng = random.Random(seed)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        target = await self._connect(client_w)
        if target is None:
            return
        server_r, server_w = target
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
