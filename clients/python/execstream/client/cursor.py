"""A watch's cursor: the request to (re)open with, and how far the caller has been served.

The cursor is the highest revision delivered to the caller, or announced by a ``Progress``
(everything matching the watch up to it was sent). Every watch opens with a Progress naming
the revision it starts after, so even a live watch ("from now") has an exact start point
before any event: resuming with ``after_revision = cursor`` neither repeats nor skips one.
A server that does not open with a Progress (an older one) is remembered per client, and
later live watches pin "now" with a snapshot before opening instead.

The Progress also names the log (``log_id``). A watch that sees it change, or whose resume
point the server refuses (OUT_OF_RANGE: compacted, or beyond the head), cannot resume: it
raises ``ResyncRequired``, or re-lists through ``on_relist`` and continues after the
snapshot, skipping what the snapshot already holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import grpc

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .errors import LOG_ID_CHANGED, ResyncRequired, ServerRefused, status_of
from .retrying import Action, decide

OnRelist = Callable[[service_pb.Snapshot], None]
# A one-task page: the cheapest read of the head, for a watch that pins "now".
NOW = service_pb.GetSnapshotRequest(page_size=1)


class ServerTraits:
    """What a client learned about its server: does a watch open with a Progress?"""

    def __init__(self) -> None:
        self.opens_with_progress: bool | None = None  # None: not known yet


class WatchCursor:
    """The request to (re)open with, and how far the caller has been served."""

    def __init__(
        self,
        *,
        task_ids: Sequence[str] = (),
        sidecar_ids: Sequence[str] = (),
        kinds: Sequence[events_pb.EventKind.ValueType] = (),
        after_revision: int | None = None,
        log_id: str = "",
        traits: ServerTraits | None = None,
    ) -> None:
        self.task_ids = list(task_ids)
        self.sidecar_ids = list(sidecar_ids)
        self.kinds = list(kinds)
        self.revision = after_revision  # None: live, until the first Progress says from where
        self.log_id = log_id  # the log this watch is on ("" until a Progress names it)
        self.caught_up = False  # the replay (if any) is complete and the stream is live
        self.traits = traits or ServerTraits()
        self.needs_relist = False
        # After a re-list: each listed task's last_revision above the snapshot's revision
        # (a later page was read later); its events up to there are in the snapshot.
        self.listed_through: dict[str, int] = {}
        self._listed_until = 0
        self.started = threading.Event()  # the start point is known
        self.on_started: list[Callable[[], None]] = []
        self._fresh_stream = False
        if after_revision is not None:
            self.started.set()

    def _mark_started(self) -> None:
        if not self.started.is_set():
            self.started.set()
            for callback in self.on_started:
                callback()

    def request(self) -> service_pb.WatchExecutionRequest:
        self._fresh_stream = True
        request = service_pb.WatchExecutionRequest(
            task_ids=self.task_ids, sidecar_ids=self.sidecar_ids, kinds=self.kinds
        )
        if self.revision is not None:
            request.after_revision = self.revision
        return request

    @property
    def needs_pin(self) -> bool:
        """A live watch on a server known not to open with a Progress: pin "now" first."""
        return self.revision is None and self.traits.opens_with_progress is False

    def pinned(self, snapshot: service_pb.Snapshot) -> None:
        self.revision = snapshot.revision
        self.log_id = self.log_id or snapshot.log_id
        self._mark_started()

    def accept(self, response: service_pb.WatchExecutionResponse) -> list[events_pb.ExecutionEvent]:
        """The response's events the caller has not seen; advances the cursor."""
        has_progress = response.HasField("progress")
        if self._fresh_stream:
            self._fresh_stream = False
            self.traits.opens_with_progress = has_progress
        if has_progress:
            self._check_log(response.progress.log_id)
            self.caught_up = self.caught_up or response.progress.caught_up
        fresh = self._fresh(response.events)
        if has_progress:
            self.revision = max(self.revision or 0, response.progress.revision)
        if self.revision is not None:
            self._mark_started()
        return fresh

    def _fresh(self, events: Sequence[events_pb.ExecutionEvent]) -> list[events_pb.ExecutionEvent]:
        """The events past the cursor, less those a re-listed snapshot holds."""
        fresh: list[events_pb.ExecutionEvent] = []
        for event in events:
            if self.revision is not None and event.revision <= self.revision:
                continue  # delivered before a reconnect
            self.revision = event.revision
            if event.revision <= self.listed_through.get(event.task_id, 0):
                continue  # in the snapshot on_relist was given
            fresh.append(event)
        if self.listed_through and (self.revision or 0) >= self._listed_until:
            self.listed_through = {}
        return fresh

    def _check_log(self, log_id: str) -> None:
        if not log_id:
            return
        if self.log_id and log_id != self.log_id:
            raise ResyncRequired(
                self.revision or 0,
                LOG_ID_CHANGED,
                f"the server's log is now {log_id}, not {self.log_id}",
            )
        self.log_id = log_id

    def relisted(self, snapshot: service_pb.Snapshot, on_relist: OnRelist) -> None:
        """Continue from a fresh snapshot (all its pages), which ``on_relist`` was given.

        The watch resumes after the snapshot's revision, its first page's. A later page
        may have been read at a later revision: for each listed task, the events at or
        below its ``last_revision`` are in the snapshot, and are skipped.
        """
        on_relist(snapshot)
        self.revision = snapshot.revision
        self.log_id = snapshot.log_id
        self.listed_through = {
            task.task_id: task.last_revision
            for task in snapshot.tasks
            if task.last_revision > snapshot.revision
        }
        self._listed_until = max(self.listed_through.values(), default=0)
        self.needs_relist = False
        self._mark_started()

    def failed(self, error: grpc.RpcError, on_relist: OnRelist | None) -> float | None:
        """Classify a broken stream: the least wait before reconnecting (None: reconnect at
        once, without backing off); raise to give up."""
        status = status_of(error)
        decision = decide("WatchExecution", status)
        if decision.action is Action.RETRY:
            return decision.wait
        if decision.action is Action.RESUME:
            # The cursor is exact: what this watch received and what a Progress promised.
            # resume_revision, the last revision the server wrote to the stream, can be past
            # it by what was in flight when the stream was cut: it only serves a watch that
            # has no cursor yet.
            if self.revision is None:
                self.revision = decision.resume_revision
            return None
        if decision.action is Action.RELIST:
            self.relist_or_raise(
                ResyncRequired(self.revision or 0, status.reason, status.message, status),
                on_relist,
            )
            return None
        raise ServerRefused(status) from None

    def relist_or_raise(self, exc: ResyncRequired, on_relist: OnRelist | None) -> None:
        if on_relist is None:
            raise exc
        self.needs_relist = True
