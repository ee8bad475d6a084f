"""What one ReportProgress stream got committed, for its answer or for its error.

A ReportProgress that fails still tells the sidecar where it stands: the error's
google.rpc.Status details carry a ReportProgressResponse beside the ErrorInfo, with the
events this stream got accepted and, for every task the stream touched (the refused
report's too), the last seq the store has committed. Only tasks of the reporting sidecar
are listed (a task created by another sidecar is left out: nothing about it is disclosed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from execstream.v1 import service_pb2 as service_pb

from execstream_server.domain.errors import ExecstreamError
from execstream_server.store.base import AppendResult

# A stream may touch any number of tasks; its error lists at most this many.
MAX_TASKS_IN_ERROR = 4096


class CommittedSeqs(Protocol):
    async def committed_seqs(self, tasks: Mapping[str, str]) -> dict[str, int]: ...


class ReportTally:
    """Sums what one ReportProgress stream got accepted, and which tasks it touched."""

    def __init__(self) -> None:
        self.response = service_pb.ReportProgressResponse()
        self.last_seq: dict[str, int] = {}
        self.touched: dict[str, str] = {}  # task_id -> the sidecar that reported it

    def touch(self, report: service_pb.ProgressReport) -> None:
        """Remember the tasks of a report before it is admitted (refused ones count)."""
        if len(self.touched) >= MAX_TASKS_IN_ERROR:
            return
        for event in report.events:
            self.touched.setdefault(event.task_id, report.sidecar_id)

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
        tasks = dict(list(self.touched.items())[:MAX_TASKS_IN_ERROR])
        try:
            seqs = await store.committed_seqs(tasks)
        except ExecstreamError:
            seqs = {task_id: seq for task_id, seq in self.last_seq.items() if task_id in tasks}
        response = service_pb.ReportProgressResponse()
        response.CopyFrom(self.response)
        for task_id in sorted(seqs):
            response.tasks.add(task_id=task_id, last_seq=seqs[task_id])
        return response
