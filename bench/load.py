"""Load generators, each run in its own process: sidecars that report, watchers that read.

They speak execstream.v1 on the wire (hand-encoded reports, see ``wire``) and work the same
against execstream and the relay. Every worker connects, says it is ready, waits for the
parent's go, runs bounded in time, and sends back one result (never raises across the
process boundary: errors travel in the result).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from execstream.v1 import service_pb2 as service_pb

from .wire import EventSource

_REPORT = "/execstream.v1.ExecutionService/ReportProgress"
_WATCH = "/execstream.v1.ExecutionService/WatchExecution"
_OPEN_BURST = 25  # streams opened at once by one watcher process
_OPEN_PAUSE_S = 0.05
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.use_local_subchannel_pool", 1),  # one TCP connection per channel, like real clients
]


def _identity(data: bytes) -> bytes:
    return data


@dataclass(frozen=True)
class SidecarSpec:
    address: str
    sidecar_id: str
    total_events: int
    events_per_report: int
    task_count: int = 100
    rate: float | None = None  # offered events/s; None sends as fast as the server takes them
    duration_s: float | None = None  # stop sending after this long even if total not reached
    stamp: bool = False  # put the send time in each event (latency probes)
    timeout_s: float = 300.0


@dataclass
class SidecarResult:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    started_at: float = 0.0
    last_sent_at: float = 0.0  # when the last report was handed to gRPC (the stream closed)
    finished_at: float = 0.0  # when the response (the acknowledgement of all) arrived
    error: str = ""

    @property
    def ack_lag_s(self) -> float:
        """From the last send to its acknowledgement: what a sidecar waits under load."""
        return self.finished_at - self.last_sent_at


@dataclass(frozen=True)
class WatcherSpec:
    address: str
    streams: int
    expect_events: int  # per stream; 0 = idle: hold the streams until told to stop
    check_revisions: bool = True  # execstream: revisions 1..expect, no gap, no duplicate
    latency_streams: int = 0  # how many of the streams record per-event latency
    latency_skip: int = 0  # warm-up events per stream not counted in latency
    timeout_s: float = 300.0
    streams_per_connection: int = 50  # gRPC servers commonly cap concurrent streams at 100
    # Active watchers get a connection each (as real viewers) unless this shares them.
    share_connections: bool = False


@dataclass
class StreamTally:
    received: int = 0
    responses: int = 0
    last_revision: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    error: str = ""


@dataclass
class WatcherResult:
    streams: list[StreamTally] = field(default_factory=list)
    latency_us: Counter[int] = field(default_factory=Counter)
    error: str = ""


def run_async(main: Callable[[], Awaitable[Any]]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())  # type: ignore[arg-type]
    return uvloop.run(main())  # type: ignore[arg-type]


async def _wait_go(go: Any) -> None:
    await asyncio.get_running_loop().run_in_executor(None, go.wait)


# -- sidecars ------------------------------------------------------------------------------
async def _report(spec: SidecarSpec, ready: Any, go: Any) -> SidecarResult:
    result = SidecarResult()
    source = EventSource(spec.sidecar_id, spec.task_count)
    async with grpc.aio.insecure_channel(spec.address, options=CHANNEL_OPTIONS) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        method = channel.stream_unary(
            _REPORT,
            request_serializer=_identity,
            response_deserializer=service_pb.ReportProgressResponse.FromString,
        )
        ready.put(spec.sidecar_id)
        await _wait_go(go)
        result.started_at = time.time()
        call = method(timeout=spec.timeout_s)
        interval = spec.events_per_report / spec.rate if spec.rate else 0.0
        next_send = time.monotonic()
        stop_at = next_send + spec.duration_s if spec.duration_s else float("inf")
        while result.sent < spec.total_events and time.monotonic() < stop_at:
            if interval:
                next_send += interval
                delay = next_send - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            count = min(spec.events_per_report, spec.total_events - result.sent)
            await call.write(source.report(count, stamp=spec.stamp))
            result.sent += count
        await call.done_writing()
        result.last_sent_at = time.time()
        response = await call
        result.finished_at = time.time()
        result.accepted, result.duplicates = response.events_accepted, response.duplicates
    return result


def sidecar_main(spec: SidecarSpec, ready: Any, go: Any, results: Any) -> None:
    """Process entry: report ``spec.total_events`` and put a SidecarResult on ``results``."""
    try:
        result = run_async(lambda: _report(spec, ready, go))
    except Exception as exc:
        result = SidecarResult(error=f"sidecar {spec.sidecar_id}: {_describe(exc)}")
        ready.put(spec.sidecar_id)  # never leave the parent waiting for a dead worker
    results.put(result)


# -- watchers ------------------------------------------------------------------------------
def _count(
    response: service_pb.WatchExecutionResponse,
    tally: StreamTally,
    spec: WatcherSpec,
    now_ns: int,
    latency: Counter[int] | None,
    skip: int,
) -> None:
    events = response.events
    count = len(events)
    if not count:
        return
    if spec.check_revisions and not tally.error:
        first, last = events[0].revision, events[-1].revision
        if first != tally.last_revision + 1 or last - first + 1 != count:
            tally.error = (
                f"after revision {tally.last_revision} got {count} events with revisions "
                f"{first}..{last}: a gap or a duplicate"
            )
        tally.last_revision = last
    if latency is not None:
        for index, event in enumerate(events, tally.received):
            if index >= skip:
                stamp = event.time
                sent_ns = stamp.seconds * 1_000_000_000 + stamp.nanos
                latency[(now_ns - sent_ns) // 1000] += 1
    tally.received += count


async def _read(
    call: Any,
    tally: StreamTally,
    spec: WatcherSpec,
    latency: Counter[int] | None,
    subscribed: Any,
) -> None:
    first = True
    async for response in call:
        now_ns = time.time_ns()
        if first:
            first = False
            with subscribed.get_lock():
                subscribed.value += 1
        tally.responses += 1
        if response.events:
            if not tally.first_at:
                tally.first_at = now_ns / 1e9
            tally.last_at = now_ns / 1e9
            _count(response, tally, spec, now_ns, latency, spec.latency_skip)
            if spec.expect_events and tally.received >= spec.expect_events:
                return


async def _watch(spec: WatcherSpec, ready: Any, stop: Any, subscribed: Any) -> WatcherResult:
    result = WatcherResult(streams=[StreamTally() for _ in range(spec.streams)])
    channel_count = max(1, -(-spec.streams // spec.streams_per_connection))
    if spec.expect_events and not spec.share_connections:
        channel_count = spec.streams  # one connection per active watcher, as real viewers
    channels = [
        grpc.aio.insecure_channel(spec.address, options=CHANNEL_OPTIONS)
        for _ in range(channel_count)
    ]
    try:
        for channel in channels:
            await asyncio.wait_for(channel.channel_ready(), 30)
        methods = [
            c.unary_stream(
                _WATCH,
                request_serializer=service_pb.WatchExecutionRequest.SerializeToString,
                response_deserializer=service_pb.WatchExecutionResponse.FromString,
            )
            for c in channels
        ]
        request = service_pb.WatchExecutionRequest(after_revision=0)
        calls: list[Any] = []
        readers: list[asyncio.Task[None]] = []
        for i, tally in enumerate(result.streams):
            if i and i % _OPEN_BURST == 0:
                # A gRPC server queues at most a few thousand calls it has not picked up yet
                # (grpc.server.max_pending_requests*); past that, new streams stall. Real
                # viewers do not all connect in the same millisecond either.
                await asyncio.sleep(_OPEN_PAUSE_S)
            call = methods[i % channel_count](request, timeout=spec.timeout_s)
            calls.append(call)
            latency = result.latency_us if i < spec.latency_streams else None
            readers.append(asyncio.create_task(_read(call, tally, spec, latency, subscribed)))
        ready.put("watcher")
        done = asyncio.gather(*readers, return_exceptions=True)
        while not done.done() and not stop.is_set():
            await asyncio.wait({done}, timeout=0.05)
        for call in calls:
            call.cancel()
        outcomes = await done
        for tally, outcome in zip(result.streams, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not _cancelled(outcome):
                tally.error = tally.error or _describe(outcome)
    finally:
        for channel in channels:
            await channel.close()
    return result


def _cancelled(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.CancelledError):
        return True
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.CANCELLED


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def watcher_main(spec: WatcherSpec, ready: Any, stop: Any, subscribed: Any, results: Any) -> None:
    """Process entry: open ``spec.streams`` watches and put a WatcherResult on ``results``."""
    try:
        result = run_async(lambda: _watch(spec, ready, stop, subscribed))
    except Exception as exc:
        result = WatcherResult(error=f"watcher: {_describe(exc)}")
        with contextlib.suppress(Exception):
            ready.put("watcher")
    results.put(result)
