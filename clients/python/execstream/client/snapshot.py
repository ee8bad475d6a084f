"""Reading every page of a snapshot as one ``Snapshot``.

Pages after the first may be at later revisions; the merged snapshot keeps the first page's
revision, which is the safe one to watch from (later events are skipped per task by
``last_revision``, see ``Snapshot.revision`` in the protocol).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .options import ConnectOptions

_TIMEOUT = 30.0


@dataclasses.dataclass(slots=True, kw_only=True)
class SnapshotQuery:
    """Which tasks, and the paging state while the pages are read."""

    task_ids: Sequence[str] = ()
    statuses: Sequence[events_pb.TaskStatus.ValueType] = ()
    page_size: int = 0
    all_pages: bool = True
    page_token: str = ""
    group_by_label: str = ""  # totals also by this task label key's values (Totals.by_label)
    merged: service_pb.Snapshot | None = None

    def request(self) -> service_pb.GetSnapshotRequest:
        return service_pb.GetSnapshotRequest(
            task_ids=self.task_ids,
            statuses=self.statuses,
            page_size=self.page_size,
            page_token=self.page_token,
            group_by_label=self.group_by_label,
        )

    def add(self, page: service_pb.Snapshot) -> service_pb.Snapshot | None:
        """Fold in one page; return the whole snapshot once there is nothing more to read."""
        if self.merged is None:
            self.merged = page
        else:
            self.merged.tasks.extend(page.tasks)
            self.merged.next_page_token = page.next_page_token
        self.page_token = page.next_page_token
        return self.merged if not self.page_token or not self.all_pages else None


def sync_snapshot(
    stub: service_pb2_grpc.ExecutionServiceStub, options: ConnectOptions, query: SnapshotQuery
) -> service_pb.Snapshot:
    while True:
        page = stub.GetSnapshot(query.request(), metadata=options.metadata, timeout=_TIMEOUT)
        if (snapshot := query.add(page)) is not None:
            return snapshot


async def async_snapshot(
    stub: service_pb2_grpc.ExecutionServiceStub, options: ConnectOptions, query: SnapshotQuery
) -> service_pb.Snapshot:
    while True:
        page = await stub.GetSnapshot(query.request(), metadata=options.metadata, timeout=_TIMEOUT)
        if (snapshot := query.add(page)) is not None:
            return snapshot
