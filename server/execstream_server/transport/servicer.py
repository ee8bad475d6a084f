"""gRPC transport only: decode, validate, hand to the domain, encode, map errors.

Handlers are registered by hand (``rpc_handlers``) rather than through the generated
``add_..._to_server``: WatchExecution writes responses assembled from stored bytes, so its
serializer is the identity. Clients use the generated stubs unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from execstream.v1 import service_pb2 as service_pb
from google.protobuf.message import DecodeError

from execstream_server.config import Limits, ServerConfig
from execstream_server.domain.engine import Engine
from execstream_server.domain.errors import (
    ExecstreamError,
    FieldViolation,
    InvalidArgumentError,
    LimitExceededError,
    RateLimitedError,
    WatcherTooSlowError,
)
from execstream_server.domain.events import KIND_BY_BODY
from execstream_server.domain.hub import WatchFilter
from execstream_server.domain.ratelimit import EventRateLimiter
from execstream_server.domain.validation import (
    validate_ids,
    validate_report,
    validate_statuses,
)
from execstream_server.domain.watch import WatchSession
from execstream_server.store.base import AppendResult
from execstream_server.transport.status_map import internal_status, to_rpc_status

log = logging.getLogger(__name__)

SERVICE_NAME = "execstream.v1.ExecutionService"
_MAX_IN_FLIGHT_REPORTS = 8
_KNOWN_KINDS = frozenset(KIND_BY_BODY.values())
T = TypeVar("T")


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> None:
    await context.abort(status.code, status.details, status.trailing_metadata)


_TOKEN_PREFIX = "after:"


def encode_page_token(task_id: str) -> str:
    """Opaque to clients: the last task id of the page (pages are ordered by id)."""
    return base64.urlsafe_b64encode((_TOKEN_PREFIX + task_id).encode()).decode()


def decode_page_token(token: str) -> str:
    if not token:
        return ""
    bad = InvalidArgumentError(
        [FieldViolation("page_token", "is not a token from Snapshot.next_page_token")]
    )
    try:
        text = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad from exc
    if not text.startswith(_TOKEN_PREFIX):
        raise bad
    return text.removeprefix(_TOKEN_PREFIX)


def watch_filter_from(request: service_pb.WatchExecutionRequest, limits: Limits) -> WatchFilter:
    validate_ids(request.task_ids, "task_ids", limits)
    validate_ids(request.sidecar_ids, "sidecar_ids", limits)
    bad = [i for i, kind in enumerate(request.kinds) if kind not in _KNOWN_KINDS]
    if bad:
        raise InvalidArgumentError(
            [FieldViolation(f"kinds[{i}]", "is not a known EventKind") for i in bad]
        )
    return WatchFilter(
        task_ids=frozenset(request.task_ids) or None,
        sidecar_ids=frozenset(request.sidecar_ids) or None,
        kinds=frozenset(request.kinds) or None,
    )


class Undecodable:
    """Stands in for a request whose bytes are not the expected protobuf message.

    The deserializer cannot abort a call, so it returns this and the handler answers
    INVALID_ARGUMENT (grpc-python would otherwise report a bare INTERNAL).
    """

    def __init__(self, message_name: str) -> None:
        self.message_name = message_name

    def error(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            [FieldViolation("request", f"is not a valid {self.message_name} protobuf message")]
        )


def lenient(message_type: Any) -> Callable[[bytes], Any]:
    """A request deserializer that returns ``Undecodable`` instead of raising."""
    name = message_type.DESCRIPTOR.full_name

    def parse(data: bytes) -> Any:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return Undecodable(name)

    return parse


def _reject_undecodable(request: Any) -> None:
    if isinstance(request, Undecodable):
        raise request.error()


class _ReportTally:
    """Sums what one ReportProgress stream got accepted."""

    def __init__(self) -> None:
        self.response = service_pb.ReportProgressResponse()
        self.last_seq: dict[str, int] = {}

    def add(self, result: AppendResult) -> None:
        self.response.events_accepted += result.accepted
        self.response.duplicates += result.duplicates
        self.response.last_revision = max(self.response.last_revision, result.last_revision)
        self.last_seq.update(result.last_seq)

    def finish(self) -> service_pb.ReportProgressResponse:
        for task_id in sorted(self.last_seq):
            self.response.tasks.add(task_id=task_id, last_seq=self.last_seq[task_id])
        return self.response


class IngestObserver(Protocol):
    """Told about refused and duplicate events (metrics implement it)."""

    def on_rejected(self, reason: str, events: int) -> None: ...

    def on_duplicates(self, count: int) -> None: ...


class _NoObserver:
    def on_rejected(self, reason: str, events: int) -> None:
        pass

    def on_duplicates(self, count: int) -> None:
        pass


class ExecutionServicer:
    """The three RPCs of execstream.v1.ExecutionService."""

    def __init__(
        self, engine: Engine, config: ServerConfig, *, observer: IngestObserver | None = None
    ) -> None:
        self._engine = engine
        self._config = config
        self._limits = config.limits
        self._observer = observer or _NoObserver()
        self._rate = EventRateLimiter(
            rate=self._limits.sidecar_events_per_second, burst=self._limits.sidecar_burst_events
        )

    async def _guard(
        self, context: grpc.aio.ServicerContext[Any, Any], work: Awaitable[T]
    ) -> T | None:
        """Run a handler body and map domain errors to status (the one place that does)."""
        try:
            return await work
        except ExecstreamError as exc:
            await abort_with(context, to_rpc_status(exc))
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("internal error")
            await abort_with(context, internal_status("internal error; see the server log"))
        return None

    # -- ReportProgress ------------------------------------------------------------------
    async def report_progress(
        self,
        requests: AsyncIterator[service_pb.ProgressReport],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> service_pb.ReportProgressResponse:
        result = await self._guard(context, self._ingest(requests, self._token_key(context)))
        assert result is not None
        return result

    def _token_key(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The rate-limit key of the caller's bearer token ('' without auth).

        The access interceptor has verified the token already; a digest keys the bucket,
        so tokens never sit in memory longer than the call.
        """
        if not self._config.auth_file:
            return ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                digest = hashlib.blake2b(value.encode(), digest_size=12).hexdigest()
                return f"token:{digest}"
        return ""

    async def _ingest(
        self, requests: AsyncIterator[service_pb.ProgressReport], token_key: str
    ) -> service_pb.ReportProgressResponse:
        tally = _ReportTally()
        in_flight: deque[asyncio.Task[AppendResult]] = deque()
        store = self._engine.store
        sizes: deque[int] = deque()
        try:
            async for report in requests:
                self._engine.check_serving()
                try:
                    _reject_undecodable(report)
                    validate_report(report, self._limits)
                    self._charge(report, token_key)
                except ExecstreamError as exc:
                    events = len(getattr(report, "events", ()))
                    self._observer.on_rejected(exc.reason.lower(), events)
                    raise
                sizes.append(len(report.events))
                in_flight.append(
                    asyncio.ensure_future(store.append(report.sidecar_id, report.events))
                )
                while in_flight and (
                    len(in_flight) > _MAX_IN_FLIGHT_REPORTS or in_flight[0].done()
                ):
                    await self._settle(in_flight, sizes, tally)
            while in_flight:
                await self._settle(in_flight, sizes, tally)
        except BaseException:
            # Let already submitted reports settle so the error reflects a definite state.
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        response = tally.finish()
        if response.last_revision == 0:
            response.last_revision = self._engine.revision
        await self._engine.wait_applied(response.last_revision)
        return response

    def _charge(self, report: service_pb.ProgressReport, token_key: str) -> None:
        """Charge every event to the sidecar's bucket and, with auth on, the token's.

        A report that finishes a task may borrow (see ``ratelimit``), so a sidecar at its
        limit can still end its tasks, but finishing never lifts the sustained rate.
        """
        terminal = any(event.HasField("finished") for event in report.events)
        keys = [f"sidecar:{report.sidecar_id}"]
        if token_key:
            keys.append(token_key)
        decision = self._rate.acquire(keys, len(report.events), terminal=terminal)
        if decision.wait > 0:
            who = f"sidecar {report.sidecar_id!r}" if decision.key == keys[0] else "this token"
            raise RateLimitedError(
                f"{who} exceeds {self._rate.rate:g} events/s (--sidecar-events-per-second, "
                f"burst {self._rate.burst:g}); retry in {decision.wait:.2f}s",
                flag="--sidecar-events-per-second",
                value=self._rate.rate,
                retry_after_s=decision.wait,
            )

    async def _settle(
        self,
        in_flight: deque[asyncio.Task[AppendResult]],
        sizes: deque[int],
        tally: _ReportTally,
    ) -> None:
        events = sizes.popleft()
        try:
            result = await in_flight.popleft()
        except ExecstreamError as exc:
            self._observer.on_rejected(exc.reason.lower(), events)
            raise
        self._observer.on_duplicates(result.duplicates)
        tally.add(result)

    # -- WatchExecution ------------------------------------------------------------------
    async def watch_execution(
        self, request: service_pb.WatchExecutionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        await self._guard(context, self._watch(request, context))

    async def _watch(
        self, request: service_pb.WatchExecutionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        self._engine.check_serving()
        _reject_undecodable(request)
        watch_filter = watch_filter_from(request, self._limits)
        if self._engine.hub.watcher_count >= self._limits.max_watchers:
            raise LimitExceededError(
                f"the server has {self._engine.hub.watcher_count} watchers; the limit is "
                f"{self._limits.max_watchers} (--max-watchers)",
                retry_after_s=1.0,
            )
        after = request.after_revision if request.HasField("after_revision") else None
        session = WatchSession(
            self._engine.hub,
            self._engine.store,
            watch_filter,
            after,
            limits=self._limits,
            heartbeat_s=self._config.heartbeat_interval_s,
        )
        timeout = self._limits.watch_write_timeout_s
        responses = session.responses()  # an async generator: closed explicitly below
        try:
            async for response in responses:
                # asyncio.timeout, not wait_for: on 3.11 wait_for wraps each write in a Task.
                try:
                    async with asyncio.timeout(timeout):
                        await context.write(response)
                except TimeoutError:
                    raise WatcherTooSlowError(session.cursor, timeout) from None
        finally:
            with contextlib.suppress(Exception):
                await responses.aclose()

    # -- GetSnapshot ---------------------------------------------------------------------
    async def get_snapshot(
        self, request: service_pb.GetSnapshotRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> service_pb.Snapshot:
        result = await self._guard(context, self._snapshot(request))
        assert result is not None
        return result

    async def _snapshot(self, request: service_pb.GetSnapshotRequest) -> service_pb.Snapshot:
        limits = self._limits
        self._engine.check_serving()
        _reject_undecodable(request)
        validate_ids(request.task_ids, "task_ids", limits)
        validate_statuses(request.statuses, "statuses")
        if request.page_size > limits.max_page_size:
            raise InvalidArgumentError(
                [
                    FieldViolation(
                        "page_size", f"is {request.page_size}; the limit is {limits.max_page_size}"
                    )
                ]
            )
        page = self._engine.snapshot(
            task_ids=list(request.task_ids),
            statuses=frozenset(request.statuses),
            page_size=request.page_size or limits.default_page_size,
            after_task_id=decode_page_token(request.page_token),
        )
        snapshot = service_pb.Snapshot(revision=page.revision, oldest_revision=page.oldest_revision)
        snapshot.tasks.extend(page.tasks)
        snapshot.totals.CopyFrom(page.totals)
        if page.next_task_id is not None:
            snapshot.next_page_token = encode_page_token(page.next_task_id)
        return snapshot


def _identity(data: bytes) -> bytes:
    return data


def rpc_handlers(servicer: ExecutionServicer) -> grpc.GenericRpcHandler:
    """The generic handler serving execstream.v1.ExecutionService."""
    handlers: dict[str, grpc.RpcMethodHandler] = {
        "ReportProgress": grpc.stream_unary_rpc_method_handler(
            servicer.report_progress,
            request_deserializer=lenient(service_pb.ProgressReport),
            response_serializer=service_pb.ReportProgressResponse.SerializeToString,
        ),
        "WatchExecution": grpc.unary_stream_rpc_method_handler(
            servicer.watch_execution,
            request_deserializer=lenient(service_pb.WatchExecutionRequest),
            response_serializer=_identity,
        ),
        "GetSnapshot": grpc.unary_unary_rpc_method_handler(
            servicer.get_snapshot,
            request_deserializer=lenient(service_pb.GetSnapshotRequest),
            response_serializer=service_pb.Snapshot.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
