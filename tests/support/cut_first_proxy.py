"""A loopback TCP proxy that closes its first connections at once, then forwards.

A client's first call through it fails as a lost connection does (UNAVAILABLE, no
ErrorInfo); the calls after reach the real server behind it. Whether a client retried is
then plain: the call succeeded, or it raised.
"""

from __future__ import annotations

import asyncio

from .loopback_proxy import LoopbackProxy


class CutFirstProxy(LoopbackProxy):
    def __init__(self, target_port: int, *, cut: int = 1) -> None:
        super().__init__(target_port)
        self.to_cut = cut
        self.cuts = 0

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
