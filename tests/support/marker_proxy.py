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

from .helpers import free_port


class MarkerProxy:
    def __init__(
        self,
        target_port: int,
        marker: bytes,
        *,
        side: Literal["request", "response"],
        cuts: int = 1,
        hold: bool = False,
    ) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.marker = marker
        self.side = side
        self.cuts_left = cuts
        self.hold = hold
        self.cut = threading.Event()  # set once a connection has been cut
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> MarkerProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return

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
