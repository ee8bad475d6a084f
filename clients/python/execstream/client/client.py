"""``Client`` (blocking) and ``AsyncClient`` (asyncio): the same methods, the same meaning."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import grpc
import grpc.aio

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .backoff import Backoff
from .errors import ExecstreamError, ReportRefused, status_of, translate, unreachable
from .options import ConnectOptions
from .reporter import DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_BATCH, AsyncReporter
from .snapshot import SnapshotQuery, async_snapshot, sync_snapshot
from .sync_reporter import Reporter
from .watch import AsyncWatch, OnRelist, ServerTraits, Watch, WatchCursor

# A single ReportProgress call is bounded like a reporter's: it returns after a commit.
_REPORT_TIMEOUT = 30.0


def _report_error(target: str, error: grpc.RpcError) -> ExecstreamError:
    if status_of(error).code == grpc.StatusCode.UNAVAILABLE:
        return unreachable(target, error)
    return ReportRefused(status_of(error))


class Client:
    """A blocking client. Watches and reporters open their own connections; close() the rest."""

    def __init__(self, options: ConnectOptions | None = None, **kwargs: str | bool) -> None:
        self.options = options or ConnectOptions.from_env(**kwargs)
        self._channel = self.options.channel()
        self._stub = service_pb2_grpc.ExecutionServiceStub(self._channel)
        self._traits = ServerTraits()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def snapshot(
        self,
        *,
        task_ids: Sequence[str] = (),
        statuses: Sequence[events_pb.TaskStatus.ValueType] = (),
        page_size: int = 0,
        all_pages: bool = True,
        page_token: str = "",
        group_by_label: str = "",
    ) -> service_pb.Snapshot:
        """Every task matching the filters (all pages, unless ``all_pages=False``).

        ``group_by_label="team"`` also groups the totals by that task label's values.
        """
        try:
            return sync_snapshot(
                self._stub,
                self.options,
                SnapshotQuery(
                    task_ids=task_ids,
                    statuses=statuses,
                    page_size=page_size,
                    all_pages=all_pages,
                    page_token=page_token,
                    group_by_label=group_by_label,
                ),
            )
        except grpc.RpcError as error:
            raise translate(self.options.target, error) from None

    def watch(
        self,
        *,
        task_ids: Sequence[str] = (),
        sidecar_ids: Sequence[str] = (),
        kinds: Sequence[events_pb.EventKind.ValueType] = (),
        after_revision: int | None = None,
        log_id: str = "",
        on_relist: OnRelist | None = None,
        backoff: Backoff | None = None,
    ) -> Watch:
        """Events in revision order, forever; reconnects and resumes with no gap or duplicate.

        ``after_revision`` None watches live from now, 0 replays everything retained; pass the
        snapshot's ``log_id`` with its revision so a replaced store is noticed. When the watch
        cannot resume (compacted away, a revision in the future, another log) it raises
        ``ResyncRequired``, or, given ``on_relist``, passes that a fresh snapshot and
        continues from the snapshot's revision.
        """
        cursor = WatchCursor(
            task_ids=task_ids,
            sidecar_ids=sidecar_ids,
            kinds=kinds,
            after_revision=after_revision,
            log_id=log_id,
            traits=self._traits,
        )
        return Watch(self.options, cursor, backoff=backoff or Backoff(), on_relist=on_relist)

    def report(
        self, sidecar_id: str, events: Sequence[events_pb.ExecutionEvent]
    ) -> service_pb.ReportProgressResponse:
        """One ReportProgress call with events numbered by the caller, not retried.

        For sidecars that keep their own seqs. The events travel as one ProgressReport, so
        all of them are stored or none. A refusal raises ``ReportRefused`` with the server's
        reason (``SEQ_GAP``, ``SEQ_CONFLICT``, ...) and metadata; UNAVAILABLE (no server,
        or ``SHUTTING_DOWN``) raises ``Unreachable``, whose ``status`` keeps the decoded
        error, what the call got committed included.
        """
        report = service_pb.ProgressReport(sidecar_id=sidecar_id, events=events)
        try:
            response: service_pb.ReportProgressResponse = self._stub.ReportProgress(
                iter([report]), metadata=self.options.metadata, timeout=_REPORT_TIMEOUT
            )
            return response
        except grpc.RpcError as error:
            raise _report_error(self.options.target, error) from None

    def reporter(
        self,
        sidecar_id: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        backoff: Backoff | None = None,
    ) -> Reporter:
        """A context manager that batches ``sidecar_id``'s events and commits each exactly once."""
        return Reporter(
            self.options,
            sidecar_id,
            max_batch=max_batch,
            flush_interval=flush_interval,
            backoff=backoff,
        )


class AsyncClient:
    """The asyncio client; create it inside the running loop."""

    def __init__(self, options: ConnectOptions | None = None, **kwargs: str | bool) -> None:
        self.options = options or ConnectOptions.from_env(**kwargs)
        self._channel = self.options.aio_channel()
        self._stub = service_pb2_grpc.ExecutionServiceStub(self._channel)
        self._traits = ServerTraits()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def snapshot(
        self,
        *,
        task_ids: Sequence[str] = (),
        statuses: Sequence[events_pb.TaskStatus.ValueType] = (),
        page_size: int = 0,
        all_pages: bool = True,
        page_token: str = "",
        group_by_label: str = "",
    ) -> service_pb.Snapshot:
        """Every task matching the filters (all pages, unless ``all_pages=False``).

        ``group_by_label="team"`` also groups the totals by that task label's values.
        """
        try:
            return await async_snapshot(
                self._stub,
                self.options,
                SnapshotQuery(
                    task_ids=task_ids,
                    statuses=statuses,
                    page_size=page_size,
                    all_pages=all_pages,
                    page_token=page_token,
                    group_by_label=group_by_label,
                ),
            )
        except grpc.aio.AioRpcError as error:
            raise translate(self.options.target, error) from None

    def watch(
        self,
        *,
        task_ids: Sequence[str] = (),
        sidecar_ids: Sequence[str] = (),
        kinds: Sequence[events_pb.EventKind.ValueType] = (),
        after_revision: int | None = None,
        log_id: str = "",
        on_relist: OnRelist | None = None,
        backoff: Backoff | None = None,
    ) -> AsyncWatch:
        """As ``Client.watch``, as an async iterator."""
        cursor = WatchCursor(
            task_ids=task_ids,
            sidecar_ids=sidecar_ids,
            kinds=kinds,
            after_revision=after_revision,
            log_id=log_id,
            traits=self._traits,
        )
        return AsyncWatch(self.options, cursor, backoff=backoff or Backoff(), on_relist=on_relist)

    async def report(
        self, sidecar_id: str, events: Sequence[events_pb.ExecutionEvent]
    ) -> service_pb.ReportProgressResponse:
        """As ``Client.report``."""
        report = service_pb.ProgressReport(sidecar_id=sidecar_id, events=events)
        try:
            answer: service_pb.ReportProgressResponse = await self._stub.ReportProgress(
                iter([report]), metadata=self.options.metadata, timeout=_REPORT_TIMEOUT
            )
            return answer
        except grpc.aio.AioRpcError as error:
            raise _report_error(self.options.target, error) from None

    def reporter(
        self,
        sidecar_id: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        backoff: Backoff | None = None,
    ) -> AsyncReporter:
        """An async context manager: as ``Client.reporter``."""
        return AsyncReporter(
            self.options,
            sidecar_id,
            max_batch=max_batch,
            flush_interval=flush_interval,
            backoff=backoff,
        )
