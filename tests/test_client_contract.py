"""The Python client on the watch and error contract, against a real server.

Every refusal comes decoded (ErrorInfo reason and metadata, BadRequest violations); a watch
starts at the server's first Progress and re-lists, or raises ResyncRequired with the reason,
when it cannot resume.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from execstream.client import Client, ConnectOptions, ReportRefused, ResyncRequired, pb
from execstream.client.errors import LOG_ID_CHANGED
from google.protobuf.timestamp_pb2 import Timestamp

from tests.support.helpers import wait_for
from tests.support.server_thread import ServerThread

pytestmark = pytest.mark.server


@pytest.fixture
def client(server: ServerThread) -> Iterator[Client]:
    with Client(ConnectOptions(target=server.address)) as connected:
        yield connected


def stdout(task_id: str, seq: int, text: str) -> pb.ExecutionEvent:
    event = pb.ExecutionEvent(task_id=task_id, seq=seq, time=Timestamp(seconds=1))
    event.stdout.text = text
    return event


def test_a_seq_gap_is_refused_with_its_reason_and_expected_seq(client: Client) -> None:
    with pytest.raises(ReportRefused) as refused:
        client.report("sc-1", [stdout("gap", 2, "x")])
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.reason == "SEQ_GAP"
    assert refused.value.status.domain == "execstream.v1"
    assert refused.value.metadata["expected_seq"] == "1"
    assert refused.value.metadata["task_id"] == "gap"
    committed = refused.value.status.committed
    assert committed is not None
    assert [(t.task_id, t.last_seq) for t in committed.tasks] == [("gap", 0)]


def test_a_resend_with_other_content_is_a_seq_conflict(client: Client) -> None:
    client.report("sc-1", [stdout("conflict", 1, "first")])
    assert client.report("sc-1", [stdout("conflict", 1, "first")]).duplicates == 1
    with pytest.raises(ReportRefused) as refused:
        client.report("sc-1", [stdout("conflict", 1, "other")])
    assert refused.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert refused.value.reason == "SEQ_CONFLICT"
    assert refused.value.metadata["seq"] == "1"


def test_a_bad_field_comes_with_its_bad_request_violation(client: Client) -> None:
    with pytest.raises(ReportRefused) as refused:
        client.report("sc-1", [stdout("bad", 0, "x")])
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in refused.value.status.field_violations] == ["events[0].seq"]


def test_a_watch_beyond_the_head_raises_resync_required(client: Client) -> None:
    with pytest.raises(ResyncRequired) as resync:
        next(iter(client.watch(after_revision=1_000_000)))
    assert resync.value.reason == "REVISION_IN_FUTURE"
    assert resync.value.metadata["after_revision"] == "1000000"


def test_with_on_relist_a_watch_beyond_the_head_continues_from_a_snapshot(client: Client) -> None:
    client.report("sc-1", [stdout("relist", 1, "before")])
    relisted: list[int] = []
    watch = client.watch(after_revision=1_000_000, on_relist=lambda s: relisted.append(s.revision))
    seen: list[pb.ExecutionEvent] = []

    def consume() -> None:
        seen.append(next(iter(watch)))

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    wait_for(lambda: relisted)  # the snapshot is taken: what follows is after its revision
    client.report("sc-1", [stdout("relist", 2, "after")])
    thread.join(timeout=20)
    assert relisted and relisted[0] >= 1
    assert [(e.task_id, e.seq) for e in seen] == [("relist", 2)]


def test_a_live_watch_starts_at_the_first_progress(client: Client) -> None:
    client.report("sc-1", [stdout("live", 1, "before")])
    watch = client.watch()
    thread = threading.Thread(target=lambda: next(iter(watch)), daemon=True)
    thread.start()
    assert watch.wait_started(timeout=10)
    assert watch.revision == client.snapshot().revision
    assert watch.log_id
    client.report("sc-1", [stdout("live", 2, "after")])
    thread.join(timeout=20)
    assert not thread.is_alive()


def test_a_watch_on_another_log_raises_resync_required(client: Client) -> None:
    with pytest.raises(ResyncRequired) as resync:
        next(iter(client.watch(after_revision=0, log_id="a-log-that-was-replaced")))
    assert resync.value.reason == LOG_ID_CHANGED
    assert resync.value.status is None
