"""Reading every page of a snapshot as one ``Snapshot``, each page retried by the shared rules.

Pages after the first may be at later revisions; the merged snapshot keeps the first page's
revision, which is the safe one to watch from (later events are skipped per task by
``last_revision``, see ``Snapshot.revision`` in the protocol).

One page is one unary call, tried up to the table's ``maxAttempts`` (5) times: again after a
backoff when ``retrying.decide`` says so (UNAVAILABLE, a stream reset, a rate or count limit
with its ``RetryInfo`` floor), otherwise the error is raised. This loop is the only retry:
the client's channels leave gRPC's own retries off, as every execstream client does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence

import grpc
import grpc.aio

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .backoff import Attempts, Backoff
from .errors import status_of
from .options import ConnectOptions
from .retrying import Action, decide
from .service_config import retry_policy

_TIMEOUT = 30.0
_METHOD = "GetSnapshot"


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


class _Tries:
    """The tries of one page: how long to wait before the next, or None to give up."""

    def __init__(self) -> None:
        self.policy = retry_policy(_METHOD)
        self.tried = 0
        self.attempts = Attempts(Backoff(give_up_after=None))

    def wait_after(self, error: grpc.RpcError) -> float | None:
        self.tried += 1
        decision = decide(_METHOD, status_of(error))
        if decision.action is not Action.RETRY or self.tried >= self.policy.max_attempts:
            return None
        return self.attempts.next_delay(at_least=decision.wait)


def sync_page(
    stub: service_pb2_grpc.ExecutionServiceStub,
    options: ConnectOptions,
    request: service_pb.GetSnapshotRequest,
) -> service_pb.Snapshot:
    """One page, retried as the shared rules say; raises the last ``grpc.RpcError``."""
    tries = _Tries()
    while True:
        try:
            page: service_pb.Snapshot = stub.GetSnapshot(
                request, metadata=options.metadata, timeout=_TIMEOUT
            )
            return page
        except grpc.RpcError as error:
            delay = tries.wait_after(error)
            if delay is None:
                raise
            time.sleep(delay)


async def async_page(
    stub: service_pb2_grpc.ExecutionServiceStub,
    options: ConnectOptions,
    request: service_pb.GetSnapshotRequest,
) -> service_pb.Snapshot:
    """As ``sync_page``, for asyncio."""
    tries = _Tries()
    while True:
        try:
            page: service_pb.Snapshot = await stub.GetSnapshot(
                request, metadata=options.metadata, timeout=_TIMEOUT
            )
            return page
        except grpc.aio.AioRpcError as error:
            delay = tries.wait_after(error)
            if delay is None:
                raise
            await asyncio.sleep(delay)


def sync_snapshot(
    stub: service_pb2_grpc.ExecutionServiceStub, options: ConnectOptions, query: SnapshotQuery
) -> service_pb.Snapshot:
    while True:
        page = sync_page(stub, options, query.request())
        if (snapshot := query.add(page)) is not None:
            return snapshot


async def async_snapshot(
    stub: service_pb2_grpc.ExecutionServiceStub, options: ConnectOptions, query: SnapshotQuery
) -> service_pb.Snapshot:
    while True:
        page = await async_page(stub, options, query.request())
        if (snapshot := query.add(page)) is not None:
            return snapshot
