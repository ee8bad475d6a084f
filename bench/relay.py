"""The baseline: a raw grpc.aio relay of execstream.v1 with no persistence and no logic.

Each ProgressReport's events are re-serialised once as a WatchExecutionResponse and the
bytes are put on every watcher's (unbounded) queue; watchers write them as they come, one
response per report, no coalescing, no revisions, no checks. It is what any durable design
is measured against: the cost of gRPC-Python alone on this machine.

Run as ``python -m bench.relay --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

import grpc
from execstream.v1 import service_pb2 as service_pb

SERVICE = "execstream.v1.ExecutionService"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # execstream's default, so both accept the same loads
# Sent first on every watch so a load generator knows the subscription is live.
SUBSCRIBED = service_pb.WatchExecutionResponse(
    progress=service_pb.Progress(revision=0)
).SerializeToString()


class Relay:
    """Fan-out of reports to watchers, nothing else."""

    def __init__(self) -> None:
        self._watchers: set[asyncio.Queue[bytes]] = set()

    async def report_progress(
        self, requests: AsyncIterator[service_pb.ProgressReport], _context: Any
    ) -> service_pb.ReportProgressResponse:
        accepted = 0
        async for report in requests:
            accepted += len(report.events)
            if self._watchers:
                frame = service_pb.WatchExecutionResponse(events=report.events).SerializeToString()
                for queue in self._watchers:
                    queue.put_nowait(frame)
        return service_pb.ReportProgressResponse(events_accepted=accepted)

    async def watch_execution(
        self, _request: service_pb.WatchExecutionRequest, _context: Any
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            yield SUBSCRIBED
            while True:
                yield await queue.get()
        finally:
            self._watchers.discard(queue)


def _identity(data: bytes) -> bytes:
    return data


def handlers(relay: Relay) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "ReportProgress": grpc.stream_unary_rpc_method_handler(
                relay.report_progress,
                request_deserializer=service_pb.ProgressReport.FromString,
                response_serializer=service_pb.ReportProgressResponse.SerializeToString,
            ),
            "WatchExecution": grpc.unary_stream_rpc_method_handler(
                relay.watch_execution,
                request_deserializer=service_pb.WatchExecutionRequest.FromString,
                response_serializer=_identity,
            ),
        },
    )


async def serve(port: int) -> None:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    server.add_generic_rpc_handlers((handlers(Relay()),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    run = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop  # the same event loop execstream serve picks when installed

        run = uvloop.run
    run(serve(args.port))


if __name__ == "__main__":
    main()
