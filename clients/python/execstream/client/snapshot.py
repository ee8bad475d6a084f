"""Reading every page of a snapshot as one ``Snapshot``.

Pages after the first may be at later revisions; the merged snapshot keeps the first page's
revision, which is the safe one to watch from (later events are skipped per task by
``last_revision``, see ``Snapshot.revision`` in the protocol).
"""

from __future__ import annotations

from collections.abc import Sequence

from execstream.v1 import events_pb2 as pb
from execstream.v1 import service_pb2 as spb
from execstream.v1 import service_pb2_grpc

from .options import ConnectOptions

_TIMEOUT = 30.0


def _request(
    task_ids: Sequence[str], statuses: Sequence[pb.TaskStatus.ValueType], page_size: int, token: str
) -> spb.GetSnapshotRequest:
    return spb.GetSnapshotRequest(
        task_ids=task_ids, statuses=statuses, page_size=page_size, page_token=token
    )


def _merge(merged: spb.Snapshot | None, page: spb.Snapshot) -> spb.Snapshot:
    if merged is None:
        return page
    merged.tasks.extend(page.tasks)
    merged.next_page_token = page.next_page_token
    return merged


def sync_snapshot(
    stub: service_pb2_grpc.ExecutionServiceStub,
    options: ConnectOptions,
    *,
    task_ids: Sequence[str] = (),
    statuses: Sequence[pb.TaskStatus.ValueType] = (),
    page_size: int = 0,
    all_pages: bool = True,
    page_token: str = "",
) -> spb.Snapshot:
    merged: spb.Snapshot | None = None
    while True:
        page = stub.GetSnapshot(
            _request(task_ids, statuses, page_size, page_token),
            metadata=options.metadata,
            timeout=_TIMEOUT,
        )
        merged = _merge(merged, page)
        page_token = page.next_page_token
        if not page_token or not all_pages:
            return merged


async def async_snapshot(
    stub: service_pb2_grpc.ExecutionServiceStub,
    options: ConnectOptions,
    *,
    task_ids: Sequence[str] = (),
    statuses: Sequence[pb.TaskStatus.ValueType] = (),
    page_size: int = 0,
    all_pages: bool = True,
    page_token: str = "",
) -> spb.Snapshot:
    merged: spb.Snapshot | None = None
    while True:
        page = await stub.GetSnapshot(
            _request(task_ids, statuses, page_size, page_token),
            metadata=options.metadata,
            timeout=_TIMEOUT,
        )
        merged = _merge(merged, page)
        page_token = page.next_page_token
        if not page_token or not all_pages:
            return merged
