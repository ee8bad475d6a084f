"""The snapshot as a terminal table that fits the terminal and never cuts money short.

Every column has a rank: the table is first drawn with every column and exact numbers; if
that is wider than the terminal, token counts become compact (``12.3k``), then columns are
dropped, least useful first, until it fits (80 columns keep task, status, model, tokens,
cost and savings). Only the task id, the model and the sidecar may be shortened with an
ellipsis; money and counts are never cut. The footer holds the totals of the rows shown,
so a filtered table adds up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Literal

from google.protobuf.timestamp_pb2 import Timestamp
from rich.table import Table

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb

from ..money import usd
from .render import add_usage, status_name
from .table_fit import FitColumn, FittingTable
from .words import count


@dataclasses.dataclass
class ShownTotals:
    """Sums over the rows shown; unpriced tasks add tokens but no money."""

    tasks: int = 0
    usage: events_pb.Usage = dataclasses.field(default_factory=events_pb.Usage)
    cost_nanos: int = 0
    reference_nanos: int = 0
    savings_nanos: int = 0
    unpriced: int = 0

    @classmethod
    def of(cls, tasks: Sequence[state_pb.TaskState]) -> ShownTotals:
        totals = cls(tasks=len(tasks))
        for task in tasks:
            add_usage(totals.usage, task.usage)
            if task.cost.unpriced:
                totals.unpriced += 1
                continue
            totals.cost_nanos += task.cost.actual.total_nanos
            totals.reference_nanos += task.cost.reference.total_nanos
            totals.savings_nanos += task.cost.savings_nanos
        return totals


def tokens(number: int, compact: bool) -> str:
    """``12,345``, or compact in at most four characters: ``1.2k``, ``12k``, ``123M``, ``1.0G``.

    The unit is chosen after rounding, so 999,999,999 is ``1.0G``, never ``1000M``.
    """
    if not compact or number < 1000:
        return f"{number:,}"
    for unit, size in (("k", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12)):
        value = number / size
        text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        if float(text) < 1000 or unit == "T":
            return text + unit
    raise AssertionError("unreachable")


def _money(nanos: int, task: state_pb.TaskState) -> str:
    return "unpriced" if task.cost.unpriced else usd(nanos)


def _cache(usage: events_pb.Usage, compact: bool) -> str:
    written = usage.cache_write_tokens + usage.cache_write_one_hour_tokens
    if not usage.cache_read_tokens and not written:
        return "-"
    return f"{tokens(usage.cache_read_tokens, compact)}/{tokens(written, compact)}"


def _duration(start: Timestamp, end: Timestamp) -> str:
    if not start.seconds or not end.seconds:
        return "-"
    seconds = (end.ToNanoseconds() - start.ToNanoseconds()) / 1e9
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


TableCell = Callable[[state_pb.TaskState, bool], str]
Footer = Callable[[ShownTotals, bool], str]


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    rank: int  # columns of the highest rank are dropped first
    cell: TableCell
    footer: Footer = lambda _totals, _compact: ""
    justify: Literal["left", "right"] = "right"
    shortens: bool = False  # may be cut with an ellipsis (ids and names, never numbers)


COLUMNS: tuple[Column, ...] = (
    Column("task", 0, lambda t, _: t.task_id, lambda _t, _c: "total", "left", True),
    Column("sidecar", 5, lambda t, _: t.sidecar_id, justify="left", shortens=True),
    Column(
        "status", 0, lambda t, _: status_name(t.status), lambda s, _: count(s.tasks, "task"), "left"
    ),
    Column("backend", 4, lambda t, _: t.backend or "-", justify="left", shortens=True),
    Column("model", 1, lambda t, _: t.model or t.backend or "-", justify="left", shortens=True),
    Column(
        "in",
        0,
        lambda t, c: tokens(t.usage.input_tokens, c),
        lambda s, c: tokens(s.usage.input_tokens, c),
    ),
    Column("cache r/w", 2, lambda t, c: _cache(t.usage, c), lambda s, c: _cache(s.usage, c)),
    Column(
        "out",
        0,
        lambda t, c: tokens(t.usage.output_tokens, c),
        lambda s, c: tokens(s.usage.output_tokens, c),
    ),
    Column(
        "reasoning",
        3,
        lambda t, c: tokens(t.usage.reasoning_tokens, c),
        lambda s, c: tokens(s.usage.reasoning_tokens, c),
    ),
    Column(
        "cost",
        0,
        lambda t, _: _money(t.cost.actual.total_nanos, t),
        lambda s, _: usd(s.cost_nanos),
    ),
    Column(
        "reference",
        4,
        lambda t, _: _money(t.cost.reference.total_nanos, t),
        lambda s, _: usd(s.reference_nanos),
    ),
    Column(
        "saved", 1, lambda t, _: _money(t.cost.savings_nanos, t), lambda s, _: usd(s.savings_nanos)
    ),
    Column("time", 2, lambda t, _: _duration(t.started_time, t.finished_time)),
)


def snapshot_table(
    snapshot: service_pb.Snapshot, width: int, *, filtered: bool
) -> tuple[Table, list[str]]:
    """The widest layout that fits ``width``, and notes to print under it."""
    totals = ShownTotals.of(snapshot.tasks)
    title = f"execstream snapshot at revision {snapshot.revision}"
    if filtered:
        title += f" · {totals.tasks:,} of {count(snapshot.totals.tasks, 'task')}"
    notes = []
    if totals.unpriced:
        notes.append(f"{count(totals.unpriced, 'unpriced task')} (no price) not in the cost totals")
    for compact, columns in _layouts():
        layout = _Layout(snapshot.tasks, totals, columns, compact=compact, title=title)
        table = layout.fitted(width)
        if table is not None:
            break
    else:
        table = layout.table({})  # narrower than the fewest columns: the terminal wraps
    if not {"cache r/w", "reasoning"} <= {column.header for column in layout.columns}:
        notes.insert(0, _tokens_note(totals.usage))
    return table, notes


def _tokens_note(usage: events_pb.Usage) -> str:
    """The token totals the narrow table has no columns for, in one short line."""
    written = usage.cache_write_tokens + usage.cache_write_one_hour_tokens
    parts = (
        (usage.input_tokens, "in"),
        (usage.cache_read_tokens, "cache read"),
        (written, "cache write"),
        (usage.output_tokens, "out"),
        (usage.reasoning_tokens, "reasoning"),
    )
    return "tokens: " + " · ".join(f"{tokens(n, True)} {what}" for n, what in parts)


def _layouts() -> list[tuple[bool, tuple[Column, ...]]]:
    """Exact numbers and every column, then compact numbers and ever fewer columns."""
    layouts = [(False, COLUMNS)]
    for highest in sorted({column.rank for column in COLUMNS}, reverse=True):
        layouts.append((True, tuple(c for c in COLUMNS if c.rank <= highest)))
    return layouts


class _Layout(FittingTable):
    """One choice of columns and number style, with every cell rendered."""

    def __init__(
        self,
        tasks: Sequence[state_pb.TaskState],
        totals: ShownTotals,
        columns: Sequence[Column],
        *,
        compact: bool,
        title: str,
    ) -> None:
        super().__init__(
            [FitColumn(c.header, c.justify, c.shortens) for c in columns],
            [[column.cell(task, compact) for column in columns] for task in tasks],
            footers=[column.footer(totals, compact) for column in columns],
            title=title,
        )
