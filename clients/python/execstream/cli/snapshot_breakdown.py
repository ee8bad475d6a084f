"""The snapshot's breakdowns, under its table: totals per value of a label, and the budgets.

Both are the server's figures over every task (not only the rows shown), so they are
printed whatever --task and --status chose. Money columns never shrink; names do (ellipsis).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

from execstream.money import usd
from execstream.v1 import state_pb2 as state_pb


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )


def _name_column(table: Table, header: str) -> None:
    table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=24)


def _number_columns(table: Table, *headers: str) -> None:
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)


def label_table(key: str, rows: Sequence[state_pb.LabelTotals]) -> Table:
    """Totals per value of the label ``key`` (GetSnapshotRequest.group_by_label)."""
    table = _table(f"by {key} (all tasks)")
    _name_column(table, key)
    _number_columns(table, "tasks", "running", "cost", "running cost", "savings")
    for row in rows:
        table.add_row(
            row.value or "(none)",
            f"{row.tasks:,}",
            f"{row.running_tasks:,}",
            usd(row.cost_nanos),
            usd(row.running_cost_nanos),
            usd(row.savings_nanos),
        )
    return table


def budgets_table(budgets: Sequence[state_pb.BudgetStatus]) -> Table:
    """Each budget's spend in its current period (per-task: the dearest running task)."""
    table = _table("budgets (current period)")
    _name_column(table, "budget")
    table.add_column("scope", no_wrap=True, overflow="ellipsis", max_width=14)
    table.add_column("period", no_wrap=True)
    _number_columns(table, "spent", "amount", "used", "reached")
    for budget in budgets:
        used = budget.spent_nanos / budget.amount_nanos if budget.amount_nanos else 0.0
        reached = f"{budget.reached_percent}%" if budget.reached_percent else "-"
        table.add_row(
            budget.name,
            budget.scope,
            budget.period,
            usd(budget.spent_nanos),
            usd(budget.amount_nanos),
            f"{used:.0%}",
            reached,
        )
    return table
