"""Budget figures at the edges of their int64 fields.

A budget sums many tasks, each up to 2**62 nano-USD, so its spend can pass what an int64
holds; the snapshot and the ``budget`` event then show the largest int64 (saturated), while
the book and ``reached_percent`` stay exact.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import MAX_TOKENS, MAX_USD_PER_MTOK, Limits
from execstream_server.domain.budget_book import BudgetStatus, Crossing
from execstream_server.domain.budget_watch import crossing_event, status_proto
from execstream_server.domain.budgets import Budget, BudgetFileError, parse_budgets

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


# -- the file's fields: a budget no task could match is refused ---------------------------
LIMITS = Limits()


def one(**table: Any) -> Budget:
    [budget] = parse_budgets({"budgets": {"b": {"amount_usd": 1, **table}}}, where="f.toml")
    return budget


def many_labels(count: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(count)}


@pytest.mark.parametrize(
    ("field", "at_bound", "past_bound", "message"),
    [
        (
            "labels",
            many_labels(LIMITS.max_labels),
            many_labels(LIMITS.max_labels + 1),
            "budgets.b.labels: 33 labels; at most 32 (--max-labels)",
        ),
        (
            "labels",
            {"k" * LIMITS.max_label_key_length: "v"},
            {"k" * (LIMITS.max_label_key_length + 1): "v"},
            "budgets.b.labels: a key of 65 characters; at most 64 (--max-label-key-length)",
        ),
        (
            "labels",
            {"team": "v" * LIMITS.max_label_value_length},
            {"team": "v" * (LIMITS.max_label_value_length + 1)},
            "budgets.b.labels.team: 257 characters; at most 256 (--max-label-value-length)",
        ),
        (
            "sidecar",
            "s" * LIMITS.max_id_length,
            "s" * (LIMITS.max_id_length + 1),
            "budgets.b.sidecar: 129 characters; at most 128 (--max-id-length)",
        ),
        (
            "model",
            "é" * (LIMITS.max_name_length // 2),
            "é" * (LIMITS.max_name_length // 2) + "m",
            "budgets.b.model: 257 bytes; at most 256 (--max-name-length)",
        ),
    ],
)
def test_a_budget_field_is_bounded_as_the_task_field_it_matches(
    field: str, at_bound: Any, past_bound: Any, message: str
) -> None:
    assert getattr(one(**{field: at_bound}), field) == at_bound
    with pytest.raises(BudgetFileError) as refused:
        one(**{field: past_bound})
    assert str(refused.value) == f"f.toml: {message}"


@pytest.mark.server
def test_serve_refuses_a_budget_past_a_bound_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(f'[budgets.b]\namount_usd = 1\nsidecar = "{"s" * 129}"\n')
    ports = ["--port", "0", "--metrics-port", "0", "--http-port", "0", "--db", ":memory:"]
    done = subprocess.run(
        [sys.executable, "-m", "execstream", "serve", "--budgets", str(path), *ports],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "budgets.b.sidecar: 129 characters; at most 128 (--max-id-length)" in done.stderr
