"""The engine: folds committed batches into task state and hands them to the hub.

Every reader is fed from one place: batches leave the store in revision order, the engine
folds them (``fold.fold``), updates the totals and publishes to the hub in the same event
loop step, so a snapshot's state and revision, the watchers and the metrics always agree.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.config import ServerConfig
from execstream_server.domain.batch_fold import fold_batch
from execstream_server.domain.errors import (
    DomainError,
    RecoveryFailedError,
    ReplicaFailedError,
    RevisionInFutureError,
    StoreUnavailableError,
)
from execstream_server.domain.events import SERVER_AUTHOR
from execstream_server.domain.fold import fold
from execstream_server.domain.hub import Hub
from execstream_server.domain.label_totals import LabelBreakdowns
from execstream_server.domain.outage_log import OutageLog
from execstream_server.domain.output_fold import OutputFold
from execstream_server.domain.records import CommittedBatch, TaskChange
from execstream_server.domain.totals import TotalsBook
from execstream_server.store.base import LogStore

log = logging.getLogger(__name__)


def describe_exception(exc: BaseException) -> str:
    """``ValueError: Value out of range`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def innermost_frame(exc: BaseException) -> str:
    """Where an exception was raised, as ``file.py:LINE in function`` (for one-line logs)."""
    trace = exc.__traceback__
    if trace is None:
        return "an unknown place"
    while trace.tb_next is not None:
        trace = trace.tb_next
    code = trace.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{trace.tb_lineno} in {code.co_name}"


_FREEZE_AFTER_TASKS = 10_000
# A repeated message entry's tag and length prefix (a length below 2**35).
_ENTRY_OVERHEAD = 6
_REFOLD_PAGE_BYTES = 4 * 1024 * 1024


class EngineObserver(Protocol):
    """Told about every folded batch (metrics implement this; the engine knows no Prometheus).

    ``changes`` holds only the tasks whose state was copied by the fold: output of a running
    task is folded in place and moves none of status, usage, cost or labels, so it is left
    out. What happened per event is in ``batch.events``.
    """

    def on_batch(self, batch: CommittedBatch, changes: Sequence[TaskChange]) -> None: ...

    def on_recovered(self, tasks: Sequence[state_pb.TaskState]) -> None: ...


@dataclass(frozen=True, slots=True)
class SnapshotPage:
    revision: int
    oldest_revision: int
    log_id: str
    tasks: list[state_pb.TaskState]
    totals: state_pb.Totals
    next_task_id: str | None


class Engine:
    """See the module docstring."""

    def __init__(
        self,
        store: LogStore,
        config: ServerConfig,
        *,
        observers: Sequence[EngineObserver] = (),
    ) -> None:
        self.store = store
        self.config = config
        self.tasks: dict[str, state_pb.TaskState] = {}
        self._sorted_ids: list[str] = []
        self.totals = TotalsBook(
            max_models=config.limits.max_totals_models,
            # The totals travel in every snapshot page: they take at most a quarter of it.
            max_bytes=config.limits.max_message_bytes // 4,
        )
        self.label_breakdowns = LabelBreakdowns(max_values=config.limits.max_totals_labels)
        self.hub = Hub(
            queue_bytes=config.limits.watch_queue_bytes,
            total_bytes=config.limits.watch_total_bytes,
        )
        self.log_id = ""
        self.revision = 0
        self._observers = list(observers)
        self._dirty: set[str] = set()
        self._applied = asyncio.Condition()
        self._background: list[asyncio.Task[None]] = []
        self._notifying: set[asyncio.Task[None]] = set()
        self.failure: Exception | None = None
        self.on_failure: list[Callable[[Exception], None]] = []
        self._tail_bytes = config.limits.output_tail_bytes
        # Output of running tasks folds in place; a state's tail is written before a read.
        self._output = OutputFold(self._tail_bytes)
        # Background jobs that retry on their own: failures logged without a flood, and
        # counted (``failures``, exported as metrics).
        self.checkpoints = OutageLog(log, "checkpoints", consequence="restart replay grows")
        self.compactions = OutageLog(
            log, "compactions", consequence="events past --retain-events are kept"
        )
        self._checkpointed_revision = 0

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Open the store, rebuild state (checkpoint + fold of the events after it), go live.

        A bug while rebuilding (anything but the store being unavailable) is reported as
        a live failure is: one ERROR line naming the revisions, then ``RecoveryFailedError``
        (``execstream serve`` exits 1 for its supervisor). The store is closed again.
        """
        recovery = await self.store.open()
        self.log_id = recovery.log_id
        step = f"applying the checkpoint at revision {recovery.checkpoint_revision}"
        try:
            for state in recovery.tasks.values():
                self._put(None, state)
            self.revision = recovery.checkpoint_revision
            self._checkpointed_revision = recovery.checkpoint_revision
            cursor = recovery.checkpoint_revision
            while cursor < recovery.revision:
                page = await self.store.read_frames(cursor, max_bytes=_REFOLD_PAGE_BYTES)
                if not page.frames:
                    break
                step = f"refolding revisions {cursor + 1}..{page.frames[-1].last_revision}"
                events = [e for f in page.frames for e in f.events() if e.revision > cursor]
                self._fold_batch(CommittedBatch(page.frames, events), publish=False)
                cursor = page.frames[-1].last_revision
            self.revision = max(self.revision, recovery.revision)
            step = "handing the recovered state to the metrics"
            self._go_live()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self.store.close()
            if isinstance(exc, StoreUnavailableError):
                raise
            self.failure = exc
            self._log_failure(f"{step} at start", exc, "it never served; exiting for a restart")
            raise RecoveryFailedError(self.revision) from exc
        log.debug("recovered %d tasks at revision %d", len(self.tasks), self.revision)

    def _go_live(self) -> None:
        self.hub.revision = self.revision
        self._output.flush_all(self.tasks.values())
        if len(self.tasks) >= _FREEZE_AFTER_TASKS:
            # Recovered task states live as long as the server: move them out of the
            # collector's reach, or every full collection walks them all (a ~25 ms pause
            # per 100k tasks on 2 cores). Small recoveries (and test servers) skip it.
            gc.collect()
            gc.freeze()
        for observer in self._observers:
            observer.on_recovered(list(self.tasks.values()))
        self._background = [
            asyncio.create_task(self._consume(), name="engine-consume"),
            asyncio.create_task(self._checkpoint_loop(), name="engine-checkpoint"),
            asyncio.create_task(self._compact_loop(), name="engine-compact"),
        ]

    async def stop(self) -> None:
        """Stop background work, write a last checkpoint and close the store."""
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []
        if self.failure is None:  # after a failure the fold may be half-applied: keep the old
            with contextlib.suppress(Exception):
                await self._checkpoint()
        await self.store.close()

    # -- folding -------------------------------------------------------------------------
    def _put(self, old: state_pb.TaskState | None, new: state_pb.TaskState) -> None:
        task_id = new.task_id
        if old is None and task_id not in self.tasks:
            bisect.insort(self._sorted_ids, task_id)
        self.tasks[task_id] = new
        self.totals.update(old, new)

    def _fold_batch(self, batch: CommittedBatch, *, publish: bool) -> None:
        changes, touched = fold_batch(batch, self.tasks, self._output, self._fold)
        for old, new in changes:
            self._put(old, new)
        self._dirty.update(touched)
        if publish:
            self.hub.publish(batch)
            for observer in self._observers:
                observer.on_batch(batch, changes)
        # Last: a batch counts as applied only once folded, published and observed.
        self.revision = batch.last_revision

    def _fold(
        self, state: state_pb.TaskState | None, events: Sequence[events_pb.ExecutionEvent]
    ) -> state_pb.TaskState:
        return fold(state, events, tail_bytes=self._tail_bytes)

    async def _consume(self) -> None:
        """Fold what the log delivers; on any failure, fail the replica loudly (``_fail``)."""
        try:
            await self._fold_from_log()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail("the log reader", exc)

    async def _fold_from_log(self) -> None:
        async for batch in self.store.batches():
            if batch.last_revision <= self.revision:
                continue
            try:
                self._fold_batch(batch, publish=True)
            except Exception as exc:
                # A bug, not an input problem: admission refused bad input before commit.
                # Skipping the batch would hide committed events from every watcher and
                # snapshot; stopping keeps the log the truth and a restart refolds it.
                self._fail(f"folding revisions {batch.first_revision}..{batch.last_revision}", exc)
                return
            async with self._applied:
                self._applied.notify_all()

    def _fail(self, what: str, exc: Exception) -> None:
        """Stop taking work: one ERROR line, then ``on_failure`` (NOT_SERVING, exit).

        Nothing after the failure is folded, published or checkpointed, so no watcher sees
        a revision gap and the checkpoint never holds a half-folded batch.
        """
        self.failure = exc
        self._log_failure(what, exc, "NOT_SERVING, refusing new work and exiting for a restart")
        for task in self._background:
            if task is not asyncio.current_task():
                task.cancel()
        for callback in self.on_failure:
            callback(exc)
        self._wake_waiters()

    def _log_failure(self, what: str, exc: Exception, then: str) -> None:
        """The one ERROR line of a failed replica (the traceback only at debug level)."""
        log.error(
            "replica failed after revision %d: %s raised %s%s; %s",
            self.revision,
            what,
            describe_exception(exc),
            "" if isinstance(exc, DomainError) else f" at {innermost_frame(exc)}",
            then,
        )
        log.debug("replica failure traceback", exc_info=exc)

    def _wake_waiters(self) -> None:
        async def notify() -> None:
            async with self._applied:
                self._applied.notify_all()

        task = asyncio.get_running_loop().create_task(notify())
        self._notifying.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._notifying.discard)

    def write_server_events(self, events: list[events_pb.ExecutionEvent]) -> None:
        """Append events the server writes itself (``budget``), without waiting for them.

        They go through the store like a report, authored by ``SERVER_AUTHOR``; a failure
        (the store unavailable or closing) loses only them, and says so in the log.
        """

        async def write() -> None:
            try:
                await self.store.append(SERVER_AUTHOR, events)
            except Exception as exc:
                log.warning("could not write %d server events: %s", len(events), exc)

        task = asyncio.get_running_loop().create_task(write())
        self._notifying.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._notifying.discard)

    def check_serving(self) -> None:
        """Raise ReplicaFailedError once this replica failed (every RPC asks first)."""
        if self.failure is not None:
            raise ReplicaFailedError(self.revision)

    async def wait_applied(self, revision: int, wait_s: float = 30.0) -> None:
        """Wait until the fold reached ``revision`` (read-your-writes after an append)."""
        if self.revision >= revision:
            return
        async with self._applied:
            await asyncio.wait_for(
                self._applied.wait_for(
                    lambda: self.revision >= revision or self.failure is not None
                ),
                wait_s,
            )
        self.check_serving()

    async def check_resumable(self, after_revision: int, wait_s: float = 10.0) -> None:
        """Refuse a resume point beyond the log's head (REVISION_IN_FUTURE).

        A revision another replica committed but this one has not folded yet is waited for,
        so a watcher moving between replicas is never refused for being ahead of one.
        """
        if after_revision <= self.revision:
            return
        head = await self.store.head_revision()
        if after_revision > head:
            raise RevisionInFutureError(after_revision, head, self.log_id)
        try:
            await self.wait_applied(after_revision, wait_s)
        except TimeoutError:
            raise StoreUnavailableError(
                f"this replica has not applied revision {after_revision} within {wait_s:g}s "
                f"(it is at {self.revision}); retry"
            ) from None

    # -- background ----------------------------------------------------------------------
    async def _checkpoint(self) -> None:
        if self.failure is not None:
            return
        if not self._dirty and self._checkpointed_revision >= self.revision:
            return
        dirty, self._dirty = self._dirty, set()
        revision = self.revision
        # Serialised here, at ``revision``: the fold goes on changing states in place
        # while the store writes them.
        states = [self.tasks[t] for t in dirty]
        self._output.flush_all(states)
        blobs = [state.SerializeToString() for state in states]
        try:
            await self.store.checkpoint(blobs, revision)
        except BaseException:
            self._dirty |= dirty
            raise
        self._checkpointed_revision = revision

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.checkpoint_interval_s)
            try:
                await self._checkpoint()
            except Exception as exc:  # the next round retries; ingest goes on meanwhile
                self.checkpoints.failed(exc)
            else:
                self.checkpoints.passed()

    async def _compact_loop(self) -> None:
        retention = self.config.retention
        if retention.max_events is None and retention.max_age_s is None:
            return
        while True:
            await asyncio.sleep(self.config.compact_interval_s)
            try:
                deleted = await self.store.compact(retention)
            except Exception as exc:  # the next round retries
                self.compactions.failed(exc)
                continue
            self.compactions.passed()
            if deleted:
                log.info(
                    "compacted %d events; oldest revision now %d",
                    deleted,
                    self.store.oldest_revision,
                )

    # -- reads ---------------------------------------------------------------------------
    def snapshot(
        self,
        *,
        task_ids: Sequence[str],
        statuses: frozenset[int],
        page_size: int,
        after_task_id: str,
        owner: str | None = None,
        max_bytes: int | None = None,
        group_by_label: str = "",
    ) -> SnapshotPage:
        """One page of tasks, ordered by id, with the totals, all at ``self.revision``.

        ``owner`` keeps only that sidecar's tasks (what a sidecar token may read), and its
        page carries no totals. ``max_bytes`` bounds the page's tasks and totals together:
        a page ends early (with a next page) before the task that would pass it, and holds
        at least one task, so paging always moves on. ``group_by_label`` adds the totals
        per value of that task label key (a scan).
        """
        totals = self.totals.to_proto()
        if group_by_label:
            rows = self.label_breakdowns.rows(
                self.tasks.values(),
                group_by_label,
                revision=self.revision,
                # What the rest of the totals leave of their quarter of a message.
                max_bytes=self.config.limits.max_message_bytes // 4 - totals.ByteSize(),
            )
            totals.by_label.extend(rows)
        budget = None
        if max_bytes is not None:
            budget = max_bytes - (totals.ByteSize() if owner is None else 0)
        if task_ids:
            candidates: Sequence[str] = sorted(set(task_ids))
        else:
            candidates = self._sorted_ids
        start = bisect.bisect_right(candidates, after_task_id) if after_task_id else 0
        page: list[state_pb.TaskState] = []
        used = 0
        next_id: str | None = None
        for task_id in candidates[start:]:
            state = self.tasks.get(task_id)
            if state is None or (statuses and state.status not in statuses):
                continue
            if owner is not None and state.sidecar_id != owner:
                continue
            self._output.flush(state)
            if len(page) == page_size:
                next_id = page[-1].task_id
                break
            if budget is not None:
                used += state.ByteSize() + _ENTRY_OVERHEAD
                if page and used > budget:
                    next_id = page[-1].task_id
                    break
            page.append(state)
        return SnapshotPage(
            revision=self.revision,
            oldest_revision=self.store.oldest_revision,
            log_id=self.log_id,
            tasks=page,
            totals=totals,
            next_task_id=next_id,
        )
