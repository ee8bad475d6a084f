"""The Python client follows the rules every execstream client shares (docs/api.md, Retrying).

- A snapshot page is retried by the client's own loop (the channel leaves gRPC's retries
  off); a single report is one call, never retried, and an UNAVAILABLE it ends with keeps
  its decoded status (SHUTTING_DOWN, what was committed).
- Only the first ErrorInfo of the domain execstream.v1 gives the reason.
- A slow watcher resumes from its own cursor; after a re-list it skips what the snapshot's
  later pages already hold.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from execstream.client import Client, ConnectOptions, Unreachable
from execstream.client import watch as watch_module
from execstream.client.cursor import WatchCursor
from execstream.client.errors import status_of
from execstream.client.snapshot import SnapshotQuery, sync_snapshot
from execstream.v1 import service_pb2 as service_pb
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from .support.cut_first_proxy import CutFirstProxy
from .support.helpers import event, report, stub_for
from .support.server_thread import ServerThread


class Failed(grpc.RpcError):  # type: ignore[misc]
    """A failed call's status as grpc hands it to the client (the value, no call)."""

    def __init__(self, code: grpc.StatusCode, *details: object) -> None:
        self._code = code
        packed = []
        for detail in details:
            holder = any_pb2.Any()
            holder.Pack(detail)  # type: ignore[arg-type]
            packed.append(holder)
        blob = status_pb2.Status(code=code.value[0], details=packed).SerializeToString()
        self._trailers = (("grpc-status-details-bin", blob),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "refused"

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailers


def info(domain: str, reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(domain=domain, reason=reason, metadata=metadata)


def test_only_the_first_error_info_of_execstream_gives_the_reason() -> None:
    status = status_of(
        Failed(
            grpc.StatusCode.FAILED_PRECONDITION,
            info("proxy.example.com", "UPSTREAM_RESET", hop="1"),
            info("execstream.v1", "SEQ_GAP", task_id="t", expected_seq="3", last_seq="2"),
            info("execstream.v1", "TASK_FINISHED", task_id="t"),
        )
    )
    assert (status.domain, status.reason) == ("execstream.v1", "SEQ_GAP")
    assert dict(status.metadata) == {"task_id": "t", "expected_seq": "3", "last_seq": "2"}
    foreign = status_of(Failed(grpc.StatusCode.UNAVAILABLE, info("proxy.example.com", "X")))
    assert (foreign.domain, foreign.reason, dict(foreign.metadata)) == ("", "", {})


def test_a_slow_watcher_resumes_from_its_own_cursor() -> None:
    slow = Failed(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        info("execstream.v1", "WATCHER_TOO_SLOW", resume_revision="7"),
    )
    cursor = WatchCursor(after_revision=10)
    assert cursor.failed(slow, None) is None  # at once
    assert cursor.revision == 10, "never back before what the watch has"
    live = WatchCursor()  # has not heard where it starts
    live.failed(slow, None)
    assert live.revision == 7


@pytest.fixture
def proxy(server: ServerThread) -> Iterator[CutFirstProxy]:
    cutting = CutFirstProxy(int(server.address.rsplit(":", 1)[1])).start()
    yield cutting
    cutting.stop()


def test_a_snapshot_page_is_retried_after_a_lost_connection(
    server: ServerThread, proxy: CutFirstProxy
) -> None:
    _, stub = stub_for(server.address)
    report(stub, "sc", [event("t", 1)])
    with Client(ConnectOptions(target=proxy.address)) as client:
        snapshot = client.snapshot()
    assert proxy.cuts == 1
    assert [task.task_id for task in snapshot.tasks] == ["t"]


def test_a_single_report_is_one_call_never_retried(proxy: CutFirstProxy) -> None:
    with Client(ConnectOptions(target=proxy.address)) as client:
        with pytest.raises(Unreachable) as lost:
            client.report("sc", [event("t", 1)])
        assert lost.value.status is not None
        assert lost.value.status.code == grpc.StatusCode.UNAVAILABLE
        assert client.snapshot(task_ids=["t"]).tasks == [], "nothing was resent"


def test_a_report_refused_while_draining_keeps_its_decoded_status(server: ServerThread) -> None:
    server.run(server.app.drain(grace=5))  # what a stop does before the gRPC server stops
    with (
        Client(ConnectOptions(target=server.address)) as client,
        pytest.raises(Unreachable) as draining,
    ):
        client.report("sc", [event("late", 1)])
    status = draining.value.status
    assert status is not None
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
    assert status.committed is not None and status.committed.events_accepted == 0


def test_after_a_relist_the_events_a_later_page_holds_are_skipped(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, stub = stub_for(server.address)
    report(stub, "sc", [event("a", 1)], [event("b", 1)])  # revisions 1, 2
    real = sync_snapshot

    def paged(stub_: object, options: ConnectOptions, query: SnapshotQuery) -> service_pb.Snapshot:
        """The real snapshot, one task a page, with commits between the pages."""
        query.page_size = 1
        query.all_pages = False
        real(stub_, options, query)  # type: ignore[arg-type]  # page 1: task a, at revision 2
        report(stub, "sc", [event("b", 2)])  # revision 3: on page 2, in the snapshot
        report(stub, "sc", [event("a", 2)])  # revision 4: after page 1, not in it
        query.all_pages = True
        merged = real(stub_, options, query)  # type: ignore[arg-type]
        return merged

    monkeypatch.setattr(watch_module, "sync_snapshot", paged)
    relisted: list[service_pb.Snapshot] = []
    with Client(ConnectOptions(target=server.address)) as client:
        watch = client.watch(after_revision=1000, on_relist=relisted.append)  # beyond the head
        delivered = next(watch)
        report(stub, "sc", [event("a", 3)])  # revision 5
        after = next(watch)
        watch.close()
    states = {task.task_id: task.last_revision for task in relisted[0].tasks}
    assert (relisted[0].revision, states) == (2, {"a": 1, "b": 3})
    assert [(e.task_id, e.seq, e.revision) for e in (delivered, after)] == [
        ("a", 2, 4),
        ("a", 3, 5),
    ]
