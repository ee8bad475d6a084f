"""gRPC transport only: decode, validate, hand to the domain, encode, map errors.

Handlers are registered by hand (``rpc_handlers``) rather than through the generated
``add_..._to_server``: WatchExecution writes responses assembled from stored bytes, so its
serializer is the identity. Clients use the generated stubs unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from google.protobuf.message import Message

from execstream_server.config import SNAPSHOT_MARGIN_BYTES, ServerConfig
from execstream_server.domain.engine import Engine
from execstream_server.domain.errors import (
    DomainError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    LimitExceededError,
    RateLimitedError,
    WatcherTooSlowError,
)
from execstream_server.domain.intake import IntakeBudget
from execstream_server.domain.ratelimit import EventRateLimiter
from execstream_server.domain.validation import (
    validate_ids,
    validate_report,
    validate_statuses,
)
from execstream_server.domain.watch import WatchSession
from execstream_server.store.base import AppendResult
from execstream_server.transport.access import current_principal
from execstream_server.transport.auth import Role
from execstream_server.transport.drain import Drain, EndOfStream
from execstream_server.transport.report_tally import ReportTally
from execstream_server.transport.requests import (
    decode_page_token,
    encode_page_token,
    first_request,
    lenient,
    reject_undecodable,
    watch_filter_from,
)
from execstream_server.transport.status_map import to_rpc_status
from execstream_server.transport.write_watchdog import WriteWatchdog

log = logging.getLogger(__name__)

SERVICE_NAME = "execstream.v1.ExecutionService"
_MAX_IN_FLIGHT_REPORTS = 8
# A repeated message entry's tag and length prefix (a length below 2**35).
_ENTRY_OVERHEAD = 6
T = TypeVar("T")


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> None:
    await context.abort(status.code, status.details, status.trailing_metadata)


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
        self,
        engine: Engine,
        config: ServerConfig,
        *,
        observer: IngestObserver | None = None,
        budgets: Callable[[], list[state_pb.BudgetStatus]] | None = None,
    ) -> None:
        self._engine = engine
        self._budgets = budgets
        self._config = config
        self._limits = config.limits
        self._observer = observer or _NoObserver()
        self.drain = Drain()
        # Events read but not yet committed, over every stream: spent, streams stop reading.
        self.intake = IntakeBudget(self._limits.intake_max_events)
        self._writes = WriteWatchdog(self._limits.watch_write_timeout_s)
        self._rate = EventRateLimiter(
            rate=self._limits.sidecar_events_per_second, burst=self._limits.sidecar_burst_events
        )

    async def close(self) -> None:
        """Stop background work once the gRPC server has stopped (the write watchdog)."""
        await self._writes.close()

    async def _guard(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        work: Awaitable[T],
        details: Callable[[], Awaitable[Message]] | None = None,
    ) -> T | None:
        """Run a handler body and map domain errors to status (the one place that does).

        ``details`` adds a message of the handler's own to the error's status details.
        """
        try:
            return await work
        except DomainError as exc:
            error: DomainError = exc
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("internal error")
            error = InternalError("internal error; see the server log")
        extra = [await details()] if details is not None else []
        await abort_with(context, to_rpc_status(error, extra))
        return None

    # -- ReportProgress ------------------------------------------------------------------
    async def report_progress(
        self,
        requests: AsyncIterator[service_pb.ProgressReport],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> service_pb.ReportProgressResponse:
        tally = ReportTally()

        async def committed() -> Message:
            return await tally.committed(self._engine.store)

        work = self._ingest(requests, tally, self._token_key())
        with self.drain.stream():
            result = await self._guard(context, work, committed)
        assert result is not None
        return result

    @staticmethod
    def _token_key() -> str:
        """The rate-limit key of the caller's token ('' without auth).

        The token's id as the access interceptor verified it, never the header's bytes: a
        header respelled (spaces, the scheme's case) is the same token and the same bucket.
        """
        principal = current_principal.get()
        return f"token:{principal.token_id}" if principal is not None else ""

    async def _ingest(
        self,
        requests: AsyncIterator[service_pb.ProgressReport],
        tally: ReportTally,
        token_key: str,
    ) -> service_pb.ReportProgressResponse:
        in_flight: deque[asyncio.Task[AppendResult]] = deque()
        store = self._engine.store
        sizes: deque[int] = deque()
        try:
            while True:
                try:
                    report = await self.drain.next_request(requests)
                except EndOfStream:
                    break
                self._engine.check_serving()
                try:
                    reject_undecodable(report)
                    validate_report(report, self._limits, tally.acknowledged)
                    tally.touch(report)
                    tally.take_tasks(report, self._limits.stream_task_limit)
                    self._charge(report, token_key)
                except DomainError as exc:
                    tally.touch_refused(report, self._limits)
                    events = len(getattr(report, "events", ()))
                    self._observer.on_rejected(exc.reason.lower(), events)
                    raise
                count = len(report.events)
                # Not reading the next message while the budget is spent is the backpressure:
                # the sidecar's HTTP/2 window fills and its writes wait.
                await self.intake.acquire(count)
                sizes.append(count)
                appended = asyncio.ensure_future(store.append(report.sidecar_id, report.events))
                self.intake.release_after(appended, count)
                in_flight.append(appended)
                while in_flight and (
                    len(in_flight) > _MAX_IN_FLIGHT_REPORTS or in_flight[0].done()
                ):
                    await self._settle(in_flight, sizes, tally)
            while in_flight:
                await self._settle(in_flight, sizes, tally)
        except BaseException:
            # Let already submitted reports settle so the error reflects a definite state.
            for result in await asyncio.gather(*in_flight, return_exceptions=True):
                if isinstance(result, AppendResult):
                    tally.add(result)
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
        tally: ReportTally,
    ) -> None:
        events = sizes.popleft()
        try:
            result = await in_flight.popleft()
        except DomainError as exc:
            self._observer.on_rejected(exc.reason.lower(), events)
            raise
        self._observer.on_duplicates(result.duplicates)
        tally.add(result)

    # -- WatchExecution ------------------------------------------------------------------
    async def watch_execution(
        self, request: service_pb.WatchExecutionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        with self.drain.stream():
            await self._guard(context, self._watch(request, context))

    async def watch_execution_stream(
        self,
        requests: AsyncIterator[service_pb.WatchExecutionRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        """WatchExecution as served (see ``rpc_handlers``): its one request, then the watch."""

        async def watch() -> None:
            request = await first_request(requests, "execstream.v1.WatchExecutionRequest")
            await self._watch(request, context)

        with self.drain.stream():
            await self._guard(context, watch())

    async def _watch(
        self, request: service_pb.WatchExecutionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        self._engine.check_serving()
        reject_undecodable(request)
        watch_filter = watch_filter_from(request, self._limits)
        if self._engine.hub.watcher_count >= self._limits.max_watchers:
            raise LimitExceededError(
                f"the server has {self._engine.hub.watcher_count} watchers; the limit is "
                f"{self._limits.max_watchers} (--max-watchers)",
                limit="--max-watchers",
                value=self._limits.max_watchers,
                retry_after_s=1.0,
            )
        after = request.after_revision if request.HasField("after_revision") else None
        if after is not None:
            await self._engine.check_resumable(after)
        session = WatchSession(
            self._engine.hub,
            self._engine.store,
            watch_filter,
            after,
            limits=self._limits,
            heartbeat_s=self._config.heartbeat_interval_s,
            log_id=self._engine.log_id,
        )
        await self._send_all(session, context)

    async def _send_all(
        self, session: WatchSession, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Write every response; a peer that stops reading past the timeout is shed.

        A timed-out write was already handed to gRPC, which delivers it before the status,
        so the resume revision is the one that response covers to: what the client has.
        """
        timeout = self._limits.watch_write_timeout_s
        responses = session.responses()  # an async generator: closed explicitly below
        try:
            async for response, through in responses:
                # One sweep over all writes, not a timer per write (see write_watchdog).
                try:
                    await self._writes.write(context.write(response))
                except TimeoutError:
                    log.info(
                        "shed a watcher (%s) that read nothing for %gs; it may resume after %d",
                        context.peer(),
                        timeout,
                        through,
                    )
                    raise WatcherTooSlowError(through, timeout) from None
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

    async def get_snapshot_stream(
        self,
        requests: AsyncIterator[service_pb.GetSnapshotRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> service_pb.Snapshot:
        """GetSnapshot as served (see ``rpc_handlers``): its one request, then the snapshot."""

        async def snapshot() -> service_pb.Snapshot:
            request = await first_request(requests, "execstream.v1.GetSnapshotRequest")
            return await self._snapshot(request)

        result = await self._guard(context, snapshot())
        assert result is not None
        return result

    async def _snapshot(self, request: service_pb.GetSnapshotRequest) -> service_pb.Snapshot:
        limits = self._limits
        self._engine.check_serving()
        reject_undecodable(request)
        validate_ids(request.task_ids, "task_ids", limits)
        validate_statuses(request.statuses, "statuses")
        if len(request.group_by_label) > limits.max_label_key_length:
            problem = (
                f"is {len(request.group_by_label)} characters; the limit is "
                f"{limits.max_label_key_length} (a label key's)"
            )
            violation = FieldViolation("group_by_label", problem, limit=limits.max_label_key_length)
            raise InvalidArgumentError([violation])
        if request.page_size > limits.max_page_size:
            raise InvalidArgumentError(
                [
                    FieldViolation(
                        "page_size",
                        f"is {request.page_size}; the limit is {limits.max_page_size}",
                        limit=limits.max_page_size,
                    )
                ]
            )
        principal = current_principal.get()
        # A sidecar token reads its own tasks only, and no totals (they cover every task).
        owner = principal.sidecar_id if principal and principal.role is Role.SIDECAR else None
        # The budgets travel in the page beside the tasks: the tasks leave room for them.
        budgets = self._budgets() if owner is None and self._budgets is not None else []
        budgets_bytes = sum(status.ByteSize() + _ENTRY_OVERHEAD for status in budgets)
        page = self._engine.snapshot(
            task_ids=list(request.task_ids),
            statuses=frozenset(request.statuses),
            page_size=request.page_size or min(limits.default_page_size, limits.max_page_size),
            after_task_id=decode_page_token(request.page_token),
            owner=owner,
            max_bytes=limits.max_message_bytes - SNAPSHOT_MARGIN_BYTES - budgets_bytes,
            group_by_label=request.group_by_label if owner is None else "",
        )
        snapshot = service_pb.Snapshot(
            revision=page.revision, oldest_revision=page.oldest_revision, log_id=page.log_id
        )
        snapshot.tasks.extend(page.tasks)
        if owner is None:
            snapshot.totals.CopyFrom(page.totals)
            snapshot.budgets.extend(budgets)
        if page.next_task_id is not None:
            snapshot.next_page_token = encode_page_token(page.next_task_id)
        return snapshot


def _identity(data: bytes) -> bytes:
    return data


def rpc_handlers(servicer: ExecutionServicer) -> grpc.GenericRpcHandler:
    """The generic handler serving execstream.v1.ExecutionService.

    GetSnapshot and WatchExecution take one request, yet are served by request-streaming
    handlers (identical on the wire): grpc-python answers nothing at all when a
    unary-request call ends before a complete message arrived (a JSON body, or fewer bytes
    than the 5-byte length prefix announced), so such a client waited for its deadline
    while the call held server resources. A request-streaming handler sees the stream end
    and answers INVALID_ARGUMENT (MALFORMED_MESSAGE) at once. ``methods.declared_type``
    keeps metrics labels and stream caps on the declared types.
    """

    handlers: dict[str, grpc.RpcMethodHandler] = {
        "ReportProgress": grpc.stream_unary_rpc_method_handler(
            servicer.report_progress,
            request_deserializer=lenient(service_pb.ProgressReport),
            response_serializer=service_pb.ReportProgressResponse.SerializeToString,
        ),
        "WatchExecution": grpc.stream_stream_rpc_method_handler(
            servicer.watch_execution_stream,
            request_deserializer=lenient(service_pb.WatchExecutionRequest),
            response_serializer=_identity,
        ),
        "GetSnapshot": grpc.stream_unary_rpc_method_handler(
            servicer.get_snapshot_stream,
            request_deserializer=lenient(service_pb.GetSnapshotRequest),
            response_serializer=service_pb.Snapshot.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
