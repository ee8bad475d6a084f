"""What one ReportProgress stream got committed, for its answer or for its error.

A ReportProgress that fails still tells the sidecar where it stands: the error's
google.rpc.Status details carry a ReportProgressResponse beside the ErrorInfo, with the
events this stream got accepted and, for the tasks the stream touched (the refused
report's first), the last seq the store has committed. Only tasks of the reporting sidecar
are listed (a task created by another sidecar is left out: nothing about it is disclosed).
The details travel in the status trailer, which clients cap at a few KiB, so the list
stops at ``MAX_ERROR_ACK_BYTES``; a sidecar missing a task there reads it from a snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from execstream_server.config import ACK_TASK_BYTES_BESIDE_ID, MAX_ERROR_ACK_BYTES, Limits
from execstream_server.domain.errors import DomainError, LimitExceededError
from execstream_server.domain.validation import check_id
from execstream_server.store.base import AppendResult

# The tasks a stream touched that are remembered for its error (which lists those that fit
# in MAX_ERROR_ACK_BYTES, the refused report's first).
MAX_TASKS_IN_ERROR = 4096


class CommittedSeqs(Protocol):
    async def committed_seqs(self, tasks: Mapping[str, str]) -> dict[str, int]: ...


class ReportTally:
    """Sums what one ReportProgress stream got accepted, and which tasks it touched."""

    def __init__(self) -> None:
        self.response = service_pb.ReportProgressResponse()
        self.last_seq: dict[str, int] = {}
        self.touched: dict[str, str] = {}  # task_id -> the sidecar that reported it
        self.latest: dict[str, str] = {}  # the same, for the last report touched
        self.acknowledged: set[str] = set()  # every task the answer will list

    def take_tasks(self, report: service_pb.ProgressReport, limit: int) -> None:
        """Count a report's tasks into the stream's answer; refuse one that passes ``limit``.

        The answer lists every task the stream reported, after everything is committed:
        a stream past the limit would have its events stored and an answer that cannot
        be sent. So the report that would pass it is refused before it is stored.
        """
        new = {event.task_id for event in report.events} - self.acknowledged
        if len(self.acknowledged) + len(new) > limit:
            raise LimitExceededError(
                f"this stream already reported {len(self.acknowledged)} tasks and this "
                f"report adds {len(new)}; one ReportProgress stream may report {limit} "
                "(--max-tasks-per-stream): nothing of this report was stored; close the "
                "stream and send it on a new one",
                limit="--max-tasks-per-stream",
                value=limit,
            )
        self.acknowledged |= new

    def touch(self, report: service_pb.ProgressReport) -> None:
        """Remember the tasks of a report before it is admitted (refused ones count)."""
        self.latest = {event.task_id: report.sidecar_id for event in report.events}
        if len(self.touched) < MAX_TASKS_IN_ERROR:
            for task_id, sidecar_id in self.latest.items():
                self.touched.setdefault(task_id, sidecar_id)

    def touch_refused(self, report: object, limits: Limits) -> None:
        """Remember the tasks of a report refused before it was admitted (by validation).

        Its error then says where they stand, as for any report the stream touched. Only
        the ids that are valid count (an invalid id names no task), of a report whose
        sidecar id is valid, and no more events than a valid report may hold.
        """
        sidecar_id = getattr(report, "sidecar_id", None)
        events = getattr(report, "events", None)  # absent when the bytes did not decode
        if not isinstance(sidecar_id, str) or events is None or check_id(sidecar_id, "", limits):
            return
        task_ids = dict.fromkeys(
            event.task_id
            for event in events[: limits.max_events_per_report]
            if check_id(event.task_id, "", limits) is None
        )
        ids_only = [events_pb.ExecutionEvent(task_id=task_id) for task_id in task_ids]
        self.touch(service_pb.ProgressReport(sidecar_id=sidecar_id, events=ids_only))

    def add(self, result: AppendResult) -> None:
        self.response.events_accepted += result.accepted
        self.response.duplicates += result.duplicates
        self.response.last_revision = max(self.response.last_revision, result.last_revision)
        self.last_seq.update(result.last_seq)

    def finish(self) -> service_pb.ReportProgressResponse:
        for task_id in sorted(self.last_seq):
            self.response.tasks.add(task_id=task_id, last_seq=self.last_seq[task_id])
        return self.response

    async def committed(self, store: CommittedSeqs) -> service_pb.ReportProgressResponse:
        """The stream's state after an error: read each touched task's seq from the store.

        If the store cannot answer (it is what failed), the seqs this stream saw committed
        are all there is to tell.
        """
        tasks = self._error_tasks()
        try:
            seqs = await store.committed_seqs(tasks)
        except DomainError:
            seqs = {task_id: seq for task_id, seq in self.last_seq.items() if task_id in tasks}
        response = service_pb.ReportProgressResponse()
        response.CopyFrom(self.response)
        for task_id in sorted(seqs):
            response.tasks.add(task_id=task_id, last_seq=seqs[task_id])
        return response

    def _error_tasks(self) -> dict[str, str]:
        """The tasks an error lists: the refused report's first, within the byte bound."""
        room = MAX_ERROR_ACK_BYTES - self.response.ByteSize()
        chosen: dict[str, str] = {}
        for task_id, sidecar_id in (*self.latest.items(), *self.touched.items()):
            if task_id in chosen:
                continue
            room -= len(task_id.encode()) + ACK_TASK_BYTES_BESIDE_ID
            if room < 0:
                break
            chosen[task_id] = sidecar_id
        return chosen
