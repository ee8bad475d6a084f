"""The asyncio reporter: batches a sidecar's events and gets each one committed exactly once.

Each flush is one ``ReportProgress`` call: its single response arrives only after the server
has durably committed the batch, so an acknowledged event is never lost. When the stream
breaks (the server restarted, a replica died), the reporter asks a snapshot for each pending
task's ``last_seq``, drops what the server already has and resends the rest: the server's
per-task seq dedupe makes a resend harmless, and the snapshot keeps it short.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from types import TracebackType

import grpc
import grpc.aio

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .backoff import Attempts, Backoff
from .errors import ExecstreamError, ReportRefused, status_of, translate, unreachable
from .options import ConnectOptions
from .retrying import Action, decide
from .snapshot import SnapshotQuery, async_snapshot
from .task import TaskReporter

# The server's default cap is 4096 events per ProgressReport; a batch stays well under it.
DEFAULT_MAX_BATCH = 1000
# Long enough to coalesce a burst of tokens into one commit, short enough to stay live.
DEFAULT_FLUSH_INTERVAL = 0.01
_RPC_TIMEOUT = 30.0
# The server refuses messages over 8 MiB by default (--max-message-bytes); an event's text is
# at most 64 KiB, so 1 MiB messages and 4 MiB calls stay far inside it.
_MESSAGE_BYTES = 1 << 20
_RPC_BYTES = 4 << 20


class AsyncReporter:
    """``async with client.reporter("sidecar-1") as r: t = r.task("t1"); t.started(...)``."""

    def __init__(
        self,
        options: ConnectOptions,
        sidecar_id: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        backoff: Backoff | None = None,
    ) -> None:
        if not sidecar_id:
            raise ValueError("sidecar_id must not be empty")
        if not 1 <= max_batch <= 4096:
            raise ValueError(f"max_batch must be 1..4096, not {max_batch}")
        self.options = options
        self.sidecar_id = sidecar_id
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.backoff = backoff or Backoff()
        self._pending: list[events_pb.ExecutionEvent] = []
        self._tasks: dict[str, TaskReporter] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()  # set whenever events are settled or the sender stops
        self._queued = 0  # events ever queued
        self._settled = 0  # events ever acknowledged or found committed
        self._failure: ExecstreamError | None = None
        self._closing = False  # stops the sender
        self._refusing = False  # close() began: no new events
        self._channel: grpc.aio.Channel | None = None
        self._sender: asyncio.Task[None] | None = None
        self.committed = 0  # events the server acknowledged (new or duplicate)
        # Of those: stored by this reporter's calls, and acknowledged as already stored
        # (someone reported that task and seq before, or a resend after a lost answer).
        self.stored = 0
        self.duplicates = 0
        self.last_revision = 0
        # Each task's last seq the server said it has committed (from answers and resyncs).
        self.committed_seqs: dict[str, int] = {}

    # -- lifecycle --------------------------------------------------------------------
    async def __aenter__(self) -> AsyncReporter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close(flush=exc_type is None or not issubclass(exc_type, ExecstreamError))

    async def start(self) -> None:
        if self._sender is None:
            self._channel = self.options.aio_channel()
            self._sender = asyncio.create_task(self._run(), name=f"reporter-{self.sidecar_id}")

    async def close(self, *, flush: bool = True) -> None:
        """Send what is queued (unless ``flush=False``), then release the connection.

        Events queued after close began are refused, never silently dropped.
        """
        self._refusing = True
        try:
            if flush and self._sender is not None:
                await self.flush()
        finally:
            self._closing = True
            self._wake.set()
            if self._sender is not None:
                self._sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sender
                self._sender = None
            if self._channel is not None:
                await self._channel.close()
                self._channel = None
        if flush and self._pending:
            raise ExecstreamError(f"the reporter closed with {len(self._pending)} events unsent")

    # -- queueing ---------------------------------------------------------------------
    def task(self, task_id: str, *, next_seq: int = 1) -> TaskReporter:
        """The handle for one task; ``next_seq`` > 1 continues a task reported before."""
        handle = self._tasks.get(task_id)
        if handle is None:
            handle = TaskReporter(task_id, self.sidecar_id, self._enqueue, next_seq)
            self._tasks[task_id] = handle
        return handle

    async def resume_task(self, task_id: str) -> TaskReporter:
        """A handle that continues after the task's last committed seq (a restarted sidecar)."""
        if task_id in self._tasks:
            await self.flush()  # the snapshot must not miss events still in flight
        try:
            last = await self.last_seqs([task_id])
        except grpc.aio.AioRpcError as error:
            raise translate(self.options.target, error) from None
        self._tasks.pop(task_id, None)
        return self.task(task_id, next_seq=last.get(task_id, 0) + 1)

    @property
    def failure(self) -> ExecstreamError | None:
        """What stopped the reporter, if anything did."""
        return self._failure

    def _enqueue(self, event: events_pb.ExecutionEvent) -> None:
        if self._failure is not None:
            raise self._failure
        if self._refusing:
            raise ExecstreamError("the reporter is closed: the event was not queued")
        self._enqueue_quiet(event)

    def _enqueue_quiet(self, event: events_pb.ExecutionEvent) -> None:
        """Queue without checks (the sync reporter checks on its own thread first)."""
        self._pending.append(event)
        self._queued += 1
        self._wake.set()

    @property
    def pending(self) -> int:
        """Events queued or in flight, not yet acknowledged."""
        return len(self._pending)

    async def flush(self) -> None:
        """Wait until every event queued before this call is committed; raise what stopped us.

        Events queued while waiting are not waited for, so a busy producer cannot hold a
        flush (or a close) forever.
        """
        if self._sender is None:
            raise RuntimeError("the reporter is not started (use it as an async context manager)")
        target = self._queued
        self._wake.set()
        while self._settled < target and self._failure is None and not self._sender.done():
            self._progress.clear()
            waiter = asyncio.ensure_future(self._progress.wait())
            await asyncio.wait({waiter, self._sender}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        if self._failure is not None:
            raise self._failure
        if self._settled < target:
            raise ExecstreamError(f"the reporter stopped with {len(self._pending)} events unsent")

    # -- sending ----------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while not self._closing:
                await self._wake.wait()
                self._wake.clear()
                if self._pending and len(self._pending) < self.max_batch and self.flush_interval:
                    await asyncio.sleep(self.flush_interval)  # let a burst join the batch
                while self._pending:
                    await self._send_pending()
        except ExecstreamError as exc:
            self._failure = exc
        except Exception as exc:  # never stop silently: flush() must not report success
            self._failure = ExecstreamError(f"the reporter stopped: {exc!r}")
        finally:
            self._progress.set()

    def _take_batch(self) -> list[events_pb.ExecutionEvent]:
        """The next RPC's events: bounded in count and bytes so one commit stays quick."""
        batch: list[events_pb.ExecutionEvent] = []
        size = 0
        for event in self._pending[: self.max_batch * 4]:
            size += event.ByteSize()
            if batch and size > _RPC_BYTES:
                break
            batch.append(event)
        return batch

    def _messages(
        self, batch: Sequence[events_pb.ExecutionEvent]
    ) -> Iterator[service_pb.ProgressReport]:
        """Split into ProgressReports well under the server's message size limit."""
        start = size = 0
        for end, event in enumerate(batch):
            size += event.ByteSize()
            if end > start and (end - start >= self.max_batch or size > _MESSAGE_BYTES):
                yield service_pb.ProgressReport(sidecar_id=self.sidecar_id, events=batch[start:end])
                start, size = end, event.ByteSize()
        yield service_pb.ProgressReport(sidecar_id=self.sidecar_id, events=batch[start:])

    async def _send_pending(self) -> None:
        attempts = self.backoff.start()
        while self._pending:
            batch = self._take_batch()
            try:
                assert self._channel is not None
                stub = service_pb2_grpc.ExecutionServiceStub(self._channel)
                response = await stub.ReportProgress(
                    self._messages(batch), metadata=self.options.metadata, timeout=_RPC_TIMEOUT
                )
            except grpc.aio.AioRpcError as error:
                delay = self._retry_delay(attempts, error)
                if delay is None:
                    raise unreachable(self.options.target, error) from None
                await asyncio.sleep(delay)
                await self._drop_committed(status_of(error).committed)
                continue  # nothing left when the lost answer was for a committed batch
            del self._pending[: len(batch)]
            self._settle(len(batch))
            self.last_revision = max(self.last_revision, response.last_revision)
            self.stored += response.events_accepted
            self.duplicates += response.duplicates
            self._note_committed({ack.task_id: ack.last_seq for ack in response.tasks})
            return

    def _retry_delay(self, attempts: Attempts, error: grpc.aio.AioRpcError) -> float | None:
        """The wait before resending after ``error``; raise when resending cannot help.

        The shared rules (``retrying``) decide, with one addition: this call's own deadline
        passing is a lost answer, not the caller's deadline, and resending is safe (the
        server skips the seqs it has).
        """
        status = status_of(error)
        decision = decide("ReportProgress", status)
        if status.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return attempts.next_delay()
        if decision.action is not Action.RETRY:
            raise ReportRefused(status) from None
        return attempts.next_delay(at_least=decision.wait)

    def _note_committed(self, seqs: dict[str, int]) -> None:
        for task_id, seq in seqs.items():
            self.committed_seqs[task_id] = max(self.committed_seqs.get(task_id, 0), seq)

    def _settle(self, count: int) -> None:
        self.committed += count
        self._settled += count
        self._progress.set()

    async def _drop_committed(self, told: service_pb.ReportProgressResponse | None) -> None:
        """After a broken stream: forget pending events the server committed before it broke.

        A refusal says what is committed per task (``told``); a stream that broke without a
        word is asked a snapshot instead.
        """
        task_ids = sorted({event.task_id for event in self._pending})
        told_seqs = {ack.task_id: ack.last_seq for ack in told.tasks} if told else {}
        try:
            if set(task_ids) <= set(told_seqs):
                last = told_seqs
            else:
                last = await self.last_seqs(task_ids)
        except grpc.aio.AioRpcError:
            return  # still down: the resend's dedupe covers it
        self._note_committed(last)
        kept = [e for e in self._pending if e.seq > last.get(e.task_id, 0)]
        dropped = len(self._pending) - len(kept)
        self._pending[:] = kept
        self.stored += dropped  # committed by the call whose answer was lost
        self._settle(dropped)

    async def last_seqs(self, task_ids: Sequence[str]) -> dict[str, int]:
        """Each task's last committed seq, from a snapshot (absent: never reported)."""
        channel = self._channel or self.options.aio_channel()
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        try:
            snapshot = await async_snapshot(stub, self.options, SnapshotQuery(task_ids=task_ids))
            return {state.task_id: state.last_seq for state in snapshot.tasks}
        finally:
            if channel is not self._channel:
                await channel.close()
