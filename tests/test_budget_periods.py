"""Budget periods follow the server's clock: cost counts in the day and month it was committed.

A sidecar's event times (and so a task's created_time) are whatever its clock says; a
budget must not let spend escape its period because a sidecar's clock is off, nor lose
the spend of a task that runs past midnight.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from google.protobuf import timestamp_pb2

from .support.helpers import event, report, stub_for
from .support.processes import ServerProcess

pytestmark = pytest.mark.server
BUDGETS = """
[budgets.daily]
amount_usd = "0.01"
period = "day"

[budgets.monthly]
amount_usd = "0.01"
period = "month"
"""
OPUS = {"backend": "anthropic", "model": "claude-opus-5-5"}
DAY = 86_400


def at(seconds: int, ev: events_pb.ExecutionEvent) -> events_pb.ExecutionEvent:
    ev.time.CopyFrom(timestamp_pb2.Timestamp(seconds=seconds))
    return ev


def run_tasks_with_skewed_clocks(stub: object) -> None:
    """Two tasks of $0.02 each, on sidecars whose clocks say 2020 and 40 days ahead."""
    for task, seconds in (("past", 1_577_836_800), ("future", int(time.time()) + 40 * DAY)):
        started = at(seconds, event(task, 1, "started", **OPUS))
        finished = at(
            seconds + 1, event(task, 2, "finished", usage=events_pb.Usage(output_tokens=1000))
        )
        report(stub, "side", [started, finished])  # type: ignore[arg-type]


def budgets(stub: object) -> dict[str, tuple[int, int]]:
    snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())  # type: ignore[attr-defined]
    return {b.name: (b.spent_nanos, b.reached_percent) for b in snapshot.budgets}


def test_spend_counts_in_the_servers_period_whatever_the_sidecars_clock(tmp_path: Path) -> None:
    (tmp_path / "budgets.toml").write_text(BUDGETS)
    server = ServerProcess(tmp_path / "e.db", "--budgets", str(tmp_path / "budgets.toml"))
    server.start()
    try:
        channel, stub = stub_for(server.address)
        with channel:
            run_tasks_with_skewed_clocks(stub)
            spent = {"daily": (40_000_000, 100), "monthly": (40_000_000, 100)}
            assert budgets(stub) == spent
            snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
            today = (dt.datetime.now(dt.UTC).date() - dt.date(1970, 1, 1)).days
            days = {t.task_id: [(d.day, d.nanos) for d in t.spend_by_day] for t in snapshot.tasks}
            assert days in (
                {"past": [(day, 20_000_000)], "future": [(day, 20_000_000)]}
                for day in (today, today + 1)  # midnight may pass while the test runs
            )
        server.kill()  # no last checkpoint: the restart refolds the log's commit times
        server.start()
        channel, stub = stub_for(server.address)
        with channel:
            assert budgets(stub) == spent
            after = stub.GetSnapshot(service_pb.GetSnapshotRequest())
            assert list(after.tasks) == list(snapshot.tasks)
    finally:
        server.kill()
