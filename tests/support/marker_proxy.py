"""A loopback TCP proxy that cuts a connection when chosen bytes pass, ``cuts`` times.

It loses a message at a precise point of a call: ``side="request"`` drops client bytes
holding ``marker`` (the server never sees them), ``side="response"`` drops server bytes
holding it (the server did the work; the client never hears so). Either way both
connections are aborted, as a dying proxy or network would. After ``cuts`` such losses
everything passes untouched (gRPC retries a call itself a few times before the caller
sees it fail, so losing each of those tries makes the caller's own resend the one that
passes). With ``hold=True`` the connection is not aborted but goes silent: the bytes and
everything after them are swallowed, as by a network path that stopped delivering. A task
id makes a good marker: gRPC sends the protobuf strings of a message as they are.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

from .loopback_proxy import LoopbackProxy


class MarkerProxy(LoopbackProxy):
    def __init__(
        self,
        target_port: int,
        marker: bytes,
        *,
        side: Literal["request", "response"],
        cuts: int = 1,
        hold: bool = False,
    ) -> None:
        super().__init__(target_port)
        self.marker = marker
        self.side = side
        self.cuts_left = cuts
        self.hold = hold
        self.cut = threading.Event()  # set once a connection has been cut

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        target = await self._connect(client_w)
        if target is None:
            return
        server_r, server_w = target

        def abort() -> None:
            for writer in (client_w, server_w):
                writer.transport.abort()

        async def pipe(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: str
        ) -> None:
            try:
                silent = False
                while data := await reader.read(65536):
                    if side == self.side and self.marker in data and self.cuts_left:
                        self.cuts_left -= 1
                        self.cut.set()
                        if not self.hold:
                            break
                        silent = True
                    if not silent:
                        writer.write(data)
                        await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                abort()

        await asyncio.gather(
            pipe(client_r, server_w, "request"), pipe(server_r, client_w, "response")
        )
