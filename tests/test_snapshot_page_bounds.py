"""What a snapshot page carries beside its tasks stays within the message size limit.

The totals by label (``group_by_label``) have one row per value, and clients choose the
values: past ``--max-totals-labels`` rows, or past what the rest of the totals leave of a
quarter of ``--max-message-bytes``, the cheapest values are summed in one ``other`` row.
The budgets' statuses travel in every page too, so the page's tasks make room for them.
Either way every page is served and paging reaches every task.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .support.helpers import error_details, event, report
from .support.server_thread import ServerFactory

pytestmark = pytest.mark.server

OPUS = {"backend": "anthropic", "model": "claude-opus-5-5"}


def _pages(
    stub: service_pb2_grpc.ExecutionServiceStub, group_by_label: str = "", page_size: int = 0
) -> list[service_pb.Snapshot]:
    pages: list[service_pb.Snapshot] = []
    token = ""
    while not pages or token:
        request = service_pb.GetSnapshotRequest(
            group_by_label=group_by_label, page_size=page_size, page_token=token
        )
        pages.append(stub.GetSnapshot(request))
        token = pages[-1].next_page_token
    return pages


def _finish(stub: service_pb2_grpc.ExecutionServiceStub, task: str, team: str, tokens: int) -> None:
    usage = events_pb.Usage(output_tokens=tokens)
    report(
        stub,
        "side",
        [
            event(task, 1, "started", labels={"team": team}, **OPUS),
            event(task, 2, "finished", usage=usage),
        ],
    )


def test_label_values_past_the_row_bound_are_summed_in_other(server_factory: ServerFactory) -> None:
    server = server_factory(limits={"max_totals_labels": 3})
    channel = grpc.insecure_channel(server.address)
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    with channel:
        for task, team, tokens in (("a", "alpha", 3000), ("b", "beta", 2000), ("c", "gamma", 1000)):
            _finish(stub, task, team, tokens)
        at_bound = stub.GetSnapshot(service_pb.GetSnapshotRequest(group_by_label="team"))
        assert [row.value for row in at_bound.totals.by_label] == ["alpha", "beta", "gamma"]
        assert all(row.folded_values == 0 for row in at_bound.totals.by_label)

        _finish(stub, "d", "delta", 500)  # one past, and the cheapest: the one folded
        one_past = stub.GetSnapshot(service_pb.GetSnapshotRequest(group_by_label="team"))
        rows = {row.value: row for row in one_past.totals.by_label}
        assert list(rows) == ["alpha", "beta", "gamma", "other"]
        assert (rows["other"].folded_values, rows["other"].tasks) == (1, 1)
        assert rows["other"].cost_nanos == rows["gamma"].cost_nanos // 2

        report(stub, "side", [event("e", 1, "started", labels={"team": "epsilon"}, **OPUS)])
        past = stub.GetSnapshot(service_pb.GetSnapshotRequest(group_by_label="team"))
    rows = {row.value: row for row in past.totals.by_label}
    assert list(rows) == ["alpha", "beta", "gamma", "other"]
    other = rows["other"]
    assert (other.folded_values, other.tasks, other.running_tasks) == (2, 1, 1)
    assert sum(row.cost_nanos for row in rows.values()) == past.totals.cost_nanos


def test_many_long_label_values_fit_every_page(server_factory: ServerFactory) -> None:
    limit = 128 * 1024
    server = server_factory(limits={"max_message_bytes": limit})
    channel = grpc.insecure_channel(server.address)
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    with channel:
        for first in range(0, 600, 50):
            events = [
                event(f"t{j:04d}", 1, "started", labels={"user": f"{j:04d}" + "u" * 250})
                for j in range(first, first + 50)
            ]
            report(stub, "side", events)
        pages = _pages(stub, group_by_label="user", page_size=100)
    assert sorted(t.task_id for p in pages for t in p.tasks) == [f"t{j:04d}" for j in range(600)]
    for page in pages:
        assert page.ByteSize() < limit
        rows = page.totals.by_label
        assert rows[-1].value == "other" and rows[-1].folded_values == 600 - (len(rows) - 1)
        assert sum(row.running_tasks for row in rows) == 600
        assert page.totals.ByteSize() <= limit // 4


def test_a_label_key_at_its_length_bound_is_accepted_and_one_past_refused(
    server_factory: ServerFactory,
) -> None:
    server = server_factory()
    channel = grpc.insecure_channel(server.address)
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    with channel:
        report(stub, "side", [event("t", 1, "started", labels={"k" * 64: "v"})])
        snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest(group_by_label="k" * 64))
        assert [(row.value, row.running_tasks) for row in snapshot.totals.by_label] == [("v", 1)]
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetSnapshot(service_pb.GetSnapshotRequest(group_by_label="k" * 65))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_details(refused.value)["ErrorInfo"]
    assert (info.reason, info.metadata["field"], info.metadata["limit"]) == (
        "INVALID_FIELD",
        "group_by_label",
        "64",
    )


def _budgets_file(path: Path, count: int) -> Path:
    path.write_text(
        "".join(
            f"[budgets.team-{i:03d}-monthly-budget-for-the-research-department]\n"
            f'amount_usd = 500\nperiod = "month"\n'
            f'labels = {{ team = "research-{i:03d}", project = "p{i:03d}" }}\n'
            for i in range(count)
        )
    )
    return path


def test_budgets_count_in_the_page_size(server_factory: ServerFactory, tmp_path: Path) -> None:
    limit = 256 * 1024
    budgets = _budgets_file(tmp_path / "budgets.toml", 60)
    server = server_factory(budgets=str(budgets), limits={"max_message_bytes": limit})
    channel = grpc.insecure_channel(server.address)
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    with channel:
        for first in range(0, 600, 50):
            events = [
                event(f"t{j:04d}", 1, "started", description="d" * 900)
                for j in range(first, first + 50)
            ]
            report(stub, "side", events)
        pages = _pages(stub)
    assert sorted(t.task_id for p in pages for t in p.tasks) == [f"t{j:04d}" for j in range(600)]
    assert len(pages) > 1
    for page in pages:
        assert len(page.budgets) == 60
        assert page.ByteSize() < limit
