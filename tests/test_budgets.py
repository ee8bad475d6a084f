"""Budgets: the file's rules, and the book that tracks spend per period and reports crossings."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from execstream.cli.render import EventPrinter
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.config import MAX_BUDGETS
from execstream_server.domain.budget_book import BudgetBook
from execstream_server.domain.budgets import (
    MAX_AMOUNT_NANOS,
    Budget,
    BudgetFileError,
    level,
    load_budgets,
    parse_budgets,
)
from execstream_server.domain.spend_days import book_day, commit_day
from rich.console import Console

USD = 1_000_000_000
MARCH_3 = dt.datetime(2031, 3, 3, 12, tzinfo=dt.UTC)


def parse(**tables: dict[str, Any]) -> tuple[Budget, ...]:
    return parse_budgets({"budgets": tables}, where="budgets.toml")


def task(
    task_id: str = "t1",
    *,
    cost_usd: float = 0.0,
    created: dt.datetime = MARCH_3,
    status: int = events_pb.TASK_STATUS_RUNNING,
    **fields: Any,
) -> state_pb.TaskState:
    state = state_pb.TaskState(task_id=task_id, status=status, sidecar_id="side-a", **fields)  # type: ignore[arg-type]
    state.cost.actual.total_nanos = round(cost_usd * USD)
    state.created_time.FromDatetime(created)
    return state


def grow(
    book: BudgetBook,
    old: state_pb.TaskState | None,
    cost_usd: float,
    *,
    committed: dt.datetime = MARCH_3,
    **fields: Any,
) -> Any:
    """Move a task to ``cost_usd``, committed at ``committed``; return it and the crossings."""
    base = old if old is not None else task(**fields)
    new = state_pb.TaskState()
    new.CopyFrom(base)
    new.cost.actual.total_nanos = round(cost_usd * USD)
    for key, value in fields.items():
        if key == "status":
            new.status = value
    book_day(old, new, commit_day(int(committed.timestamp() * 1000)))
    return new, [(c.budget.name, c.threshold) for c in book.apply([(old, new)])]


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


# -- the file ------------------------------------------------------------------------------


def test_a_budget_file_loads_with_every_scope(tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(
        """
[budgets.research]
amount_usd = 500
period = "month"
labels = { team = "research" }

[budgets.farm]
amount_usd = "12.50"
period = "day"
sidecar = "build-farm-1"

[budgets.opus]
amount_usd = 0.000000001
model = "claude-opus-5-5"

[budgets.each-task]
amount_usd = 2
per_task = true
"""
    )
    research, farm, opus, each = load_budgets(str(path))
    assert (research.amount_nanos, research.period, research.scope) == (500 * USD, "month", "label")
    assert (farm.amount_nanos, farm.period, farm.scope) == (12_500_000_000, "day", "sidecar")
    assert (opus.amount_nanos, opus.period, opus.scope) == (1, "total", "model")
    assert (each.scope, each.period) == ("task", "total")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "budgets.b.amount_usd: missing"),
        ({"amount_usd": 0}, "budgets.b.amount_usd: must be above 0"),
        ({"amount_usd": -3}, "budgets.b.amount_usd: must be above 0"),
        ({"amount_usd": "1.0000000001"}, "at most 9 decimal places"),
        ({"amount_usd": "ten"}, "'ten' is not a number of USD"),
        ({"amount_usd": True}, "must be a number of USD"),
        ({"amount_usd": 1, "period": "week"}, "budgets.b.period: must be one of day, month"),
        ({"amount_usd": 1, "per_task": True, "period": "day"}, "per_task budget"),
        ({"amount_usd": 1, "labels": {"team": 3}}, "budgets.b.labels: must be a table"),
        ({"amount_usd": 1, "teams": "x"}, "budgets.b.teams: unknown key"),
        ({"amount_usd": 1, "sidecar": 7}, "budgets.b.sidecar: must be a string"),
    ],
)
def test_an_invalid_budget_names_its_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(BudgetFileError, match=message):
        parse(b=table)


def test_the_amount_bound_is_inclusive() -> None:
    [budget] = parse(b={"amount_usd": str(Decimal(MAX_AMOUNT_NANOS) / USD)})
    assert budget.amount_nanos == MAX_AMOUNT_NANOS
    with pytest.raises(BudgetFileError, match="at most 4611686018 USD"):
        parse(b={"amount_usd": str(Decimal(MAX_AMOUNT_NANOS + 1) / USD)})


def test_the_number_of_budgets_is_bounded() -> None:
    tables = {f"b{i}": {"amount_usd": 1} for i in range(MAX_BUDGETS)}
    assert len(parse_budgets({"budgets": tables}, where="f")) == MAX_BUDGETS
    tables["one-more"] = {"amount_usd": 1}
    with pytest.raises(BudgetFileError, match="f: budgets: 1001 budgets; at most 1000"):
        parse_budgets({"budgets": tables}, where="f")


def test_a_bad_name_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BudgetFileError, match=r"budgets\.a b: a budget's name"):
        parse(**{"a b": {"amount_usd": 1}})
    with pytest.raises(BudgetFileError, match="cannot read the budgets file"):
        load_budgets(str(tmp_path / "missing.toml"))
    (tmp_path / "bad.toml").write_text("[budgets.x\n")
    with pytest.raises(BudgetFileError, match="not valid TOML"):
        load_budgets(str(tmp_path / "bad.toml"))


# -- levels and crossings ------------------------------------------------------------------


def test_levels_are_exact_at_each_threshold() -> None:
    amount = 10 * USD
    assert level(8 * USD - 1, amount) == 0
    assert level(8 * USD, amount) == 80
    assert level(10 * USD - 1, amount) == 80
    assert level(10 * USD, amount) == 100


def test_a_label_budget_reports_80_then_100_percent_once_each() -> None:
    [budget] = parse(research={"amount_usd": 10, "period": "month", "labels": {"team": "r"}})
    book = BudgetBook([budget], clock=Clock(MARCH_3))
    a, crossed = grow(book, None, 5, labels={"team": "r"})
    assert crossed == []
    _, crossed = grow(book, None, 1, task_id="other", labels={"team": "x"})
    assert crossed == []  # another team's task does not count
    _, crossed = grow(book, None, 3.5, task_id="t2", labels={"team": "r"})
    assert crossed == [("research", 80)]
    a, crossed = grow(book, a, 6.5)
    assert crossed == [("research", 100)]
    a, crossed = grow(book, a, 7)
    assert crossed == []
    [status] = book.status()
    assert status.spent_nanos == int(10.5 * USD) and status.used_ratio == 1.05
    assert status.period_start == dt.datetime(2031, 3, 1, tzinfo=dt.UTC)


def test_one_change_over_both_thresholds_reports_both() -> None:
    [budget] = parse(b={"amount_usd": 1, "sidecar": "side-a"})
    book = BudgetBook([budget], clock=Clock(MARCH_3))
    _, crossed = grow(book, None, 2)
    assert crossed == [("b", 80), ("b", 100)]


def test_a_cost_revised_down_then_up_crosses_again() -> None:
    [budget] = parse(b={"amount_usd": 10})
    book = BudgetBook([budget], clock=Clock(MARCH_3))
    a, crossed = grow(book, None, 9)
    assert crossed == [("b", 80)]
    a, crossed = grow(book, a, 7)
    assert crossed == [] and book.status()[0].spent_nanos == 7 * USD
    _, crossed = grow(book, a, 8)
    assert crossed == [("b", 80)]


def test_a_new_day_starts_from_what_was_committed_in_it() -> None:
    [budget] = parse(daily={"amount_usd": 10, "period": "day"})
    clock = Clock(MARCH_3)
    book = BudgetBook([budget], clock=clock)
    yesterday, _ = grow(book, None, 9)
    clock.now = MARCH_3 + dt.timedelta(days=1)
    assert book.status()[0].spent_nanos == 0
    # Yesterday's task goes on spending after midnight: today's part counts today.
    _, crossed = grow(book, yesterday, 17, committed=clock.now)
    assert crossed == [("daily", 80)] and book.status()[0].spent_nanos == 8 * USD
    _, crossed = grow(book, None, 3, task_id="today", committed=clock.now)
    assert crossed == [("daily", 100)]
    [status] = book.status()
    assert status.spent_nanos == 11 * USD
    assert status.period_start == dt.datetime(2031, 3, 4, tzinfo=dt.UTC)


def test_a_sidecars_clock_does_not_choose_the_period() -> None:
    [budget] = parse(daily={"amount_usd": 10, "period": "day"})
    book = BudgetBook([budget], clock=Clock(MARCH_3))
    old_clock = MARCH_3 - dt.timedelta(days=400)
    _, crossed = grow(book, None, 9, created=old_clock)
    assert crossed == [("daily", 80)] and book.status()[0].spent_nanos == 9 * USD


def test_a_task_stored_without_its_days_counts_on_its_created_day() -> None:
    """A state checkpointed by a server version that kept no spend_by_day."""
    [budget] = parse(daily={"amount_usd": 10, "period": "day"})
    book = BudgetBook([budget], clock=Clock(MARCH_3))
    book.recover([task(cost_usd=4), task("old", cost_usd=5, created=MARCH_3 - dt.timedelta(1))])
    assert book.status()[0].spent_nanos == 4 * USD
    _, crossed = grow(book, task(cost_usd=4), 8)
    assert crossed == [("daily", 80)] and book.status()[0].spent_nanos == 8 * USD


def test_a_per_task_budget_holds_each_task_to_the_amount() -> None:
    [budget] = parse(each={"amount_usd": 2, "per_task": True, "model": "m"})
    book = BudgetBook([budget], clock=Clock(MARCH_3))
    a, crossed = grow(book, None, 1.7, model="m")
    assert crossed == [("each", 80)]
    _, crossed = grow(book, None, 1.5, task_id="t2", model="m")
    assert crossed == []  # each task on its own, not their sum
    _, crossed = grow(book, None, 5, task_id="t3", model="other")
    assert crossed == []
    a, crossed = grow(book, a, 2.5)
    assert crossed == [("each", 100)]
    [status] = book.status()
    assert (status.spent_nanos, status.tasks_over) == (int(2.5 * USD), 1)  # the dearest running
    grow(book, a, 2.5, status=events_pb.TASK_STATUS_SUCCEEDED)
    [status] = book.status()
    assert (status.spent_nanos, status.tasks_over) == (int(1.5 * USD), 1)


def test_recovery_rebuilds_the_books_without_reporting_crossings() -> None:
    budgets = parse(
        month={"amount_usd": 10, "period": "month"}, each={"amount_usd": 1, "per_task": True}
    )
    live = BudgetBook(budgets, clock=Clock(MARCH_3))
    states = []
    for i, cost in enumerate((3, 4, 2.5)):
        state, _ = grow(live, None, cost, task_id=f"t{i}")
        states.append(state)
    recovered = BudgetBook(budgets, clock=Clock(MARCH_3))
    recovered.recover(states)
    assert recovered.status() == live.status()
    _, crossed = grow(recovered, states[0], 3.5)
    assert crossed == [("month", 100)]


def test_execstream_watch_prints_a_crossing_on_one_line() -> None:
    out = io.StringIO()
    printer = EventPrinter(Console(file=out, width=80, color_system=None))
    crossed = events_pb.BudgetCrossed(
        budget="research-monthly",
        scope="label",
        period="month",
        threshold_percent=100,
        amount_nanos=500 * USD,
        spent_nanos=512 * USD,
    )
    crossed.period_start.FromDatetime(dt.datetime(2031, 3, 1))
    printer.print(events_pb.ExecutionEvent(task_id="t", sidecar_id="s", budget=crossed))
    lines = out.getvalue().splitlines()
    assert lines[-1] == (
        "budget research-monthly at 100%: $512.00 of $500.00 (label, month 2031-03)"
    )
