"""Budget figures at the edges of their int64 fields.

A budget sums many tasks, each up to 2**62 nano-USD, so its spend can pass what an int64
holds; the snapshot and the ``budget`` event then show the largest int64 (saturated), while
the book and ``reached_percent`` stay exact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import MAX_TOKENS, MAX_USD_PER_MTOK
from execstream_server.domain.budget_book import BudgetStatus, Crossing
from execstream_server.domain.budget_watch import crossing_event, status_proto
from execstream_server.domain.budgets import Budget

from .support.helpers import event, report, stub_for, wait_for
from .support.server_thread import ServerThread

INT64_MAX = 2**63 - 1
PRICES = f"""
version = "dear"
reference_model = "dear"

[models.dear]
backend = "anthropic"
input = 1
output = {MAX_USD_PER_MTOK}
effective_from = 2026-01-01
source = "test"
"""
BUDGETS = """
[budgets.everything]
amount_usd = 1
"""


def test_a_spend_past_int64_shows_saturated_in_the_snapshot(
    tmp_path: Path, server_factory: Callable[..., ServerThread]
) -> None:
    (tmp_path / "prices.toml").write_text(PRICES)
    (tmp_path / "budgets.toml").write_text(BUDGETS)
    server = server_factory(
        pricing=str(tmp_path / "prices.toml"), budgets=str(tmp_path / "budgets.toml")
    )
    dearest = events_pb.Usage(output_tokens=MAX_TOKENS)  # 4.4e18 nano-USD: 3 pass int64
    channel, stub = stub_for(server.address)
    with channel:
        for task in ("a", "b", "c"):
            started = event(task, 1, "started", backend="anthropic", model="dear")
            report(stub, "car", [started, event(task, 2, "finished", usage=dearest)])
        snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
        [budget] = snapshot.budgets
        assert snapshot.tasks[0].cost.actual.total_nanos * 3 > INT64_MAX
        assert (budget.spent_nanos, budget.reached_percent) == (INT64_MAX, 100)

        def crossed() -> list[int]:
            request = service_pb.WatchExecutionRequest(
                kinds=[events_pb.EVENT_KIND_BUDGET], after_revision=0
            )
            found: list[int] = []
            for response in stub.WatchExecution(request, timeout=10):
                found += [e.budget.spent_nanos for e in response.events]
                if response.progress.caught_up:
                    return found
            return found

        first_task = snapshot.tasks[0].cost.actual.total_nanos  # 80 % and 100 % at once
        assert wait_for(crossed) == [first_task, first_task]


def status_at(spent: int) -> state_pb.BudgetStatus:
    return status_proto(BudgetStatus(Budget("b", 10**9), spent, None, 0))


def event_at(spent: int) -> events_pb.ExecutionEvent:
    crossing = Crossing(Budget("b", 10**9), "t", 100, spent, None)
    return crossing_event(crossing, state_pb.TaskState(task_id="t"))


def test_the_largest_int64_spend_is_shown_as_it_is() -> None:
    assert status_at(INT64_MAX).spent_nanos == INT64_MAX
    assert event_at(INT64_MAX).budget.spent_nanos == INT64_MAX


def test_one_nano_past_int64_is_shown_as_the_largest_int64() -> None:
    assert status_at(INT64_MAX + 1).spent_nanos == INT64_MAX
    assert status_at(INT64_MAX + 1).reached_percent == 100
    assert event_at(INT64_MAX + 1).budget.spent_nanos == INT64_MAX
