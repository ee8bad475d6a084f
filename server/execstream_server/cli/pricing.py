"""``execstream pricing``: show, export, validate a price table; ``--reprice`` compares.

Repricing only shows what today's table would say: finished tasks keep the cost they were
given when they finished (history is never rewritten), so this is a read-only report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from execstream.cli.connect import add_connection_args
from execstream.cli.consoles import stderr_console, stdout_console
from execstream.cli.readiness import add_wait_arg
from execstream.cli.table_fit import FitColumn, FittingTable
from execstream.money import per_mtok, usd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from execstream_server.cli.failures import one_line_errors

_PIPE_WIDTH = 132

if TYPE_CHECKING:
    from execstream.v1 import state_pb2

    from execstream_server.domain.pricing import PriceEntry, PriceTable, Rates


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "pricing",
        help="show the price table (or validate one); --reprice compares finished tasks",
        description="Show the price table the server would load (the packaged default, or "
        "--pricing FILE), validating it. Exits 2 with one line if the table is invalid.",
    )
    parser.add_argument(
        "--pricing",
        default=os.environ.get("EXECSTREAM_PRICING", ""),
        metavar="FILE",
        help="price table TOML (default: the packaged table; env EXECSTREAM_PRICING)",
    )
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--toml", action="store_true", help="print the table's TOML source")
    shown.add_argument("--json", action="store_true", help="print the entries as JSON")
    shown.add_argument(
        "--reprice",
        action="store_true",
        help="price the finished tasks of a running server with this table (read-only)",
    )
    add_wait_arg(parser)
    add_connection_args(parser)  # for --reprice, as every client command takes them
    parser.set_defaults(func=run)


@one_line_errors
def run(args: argparse.Namespace) -> int:
    from execstream_server.domain.pricing import default_table_text, load_price_table

    table = load_price_table(args.pricing or None)
    # Piped output has no terminal width; a table this wide still reads better unwrapped.
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    out = stdout_console(width=_PIPE_WIDTH if piped else None)
    if args.toml:
        text = Path(args.pricing).read_text("utf-8") if args.pricing else default_table_text()
        print(text, end="")
    elif args.json:
        print(json.dumps(_as_json(table), indent=2))
    elif args.reprice:
        return _reprice(table, args, out)
    else:
        _print_table(table, out)
    return 0


def _rates_json(entry: PriceEntry) -> dict[str, Any]:
    from execstream_server.domain.pricing import RATE_KEYS

    return {key: str(getattr(entry.rates, key)) for key in RATE_KEYS}


def _as_json(table: PriceTable) -> dict[str, Any]:
    from execstream_server.domain.pricing import RATE_KEYS

    return {
        "version": table.version,
        "reference_model": table.reference_model,
        "source": table.source,
        "entries": [
            {
                "match": entry.label,
                "kind": entry.kind,
                "backend": entry.backend,
                "usd_per_mtok": _rates_json(entry),
                "tiers": [
                    {
                        "above_prompt_tokens": tier.above_prompt_tokens,
                        "usd_per_mtok": {k: str(getattr(tier.rates, k)) for k in RATE_KEYS},
                    }
                    for tier in entry.tiers
                ],
                "local": entry.free,
                "effective_from": entry.effective_from.isoformat(),
                "source": entry.source,
            }
            for entry in table.entries()
        ],
    }


# The price table's columns, with the rank at which each is dropped when the terminal is too
# narrow (highest first): the note and the date go before any price, and money is never cut.
_PRICE_COLUMNS: tuple[tuple[FitColumn, int], ...] = (
    (FitColumn("match", "left", shortens=True), 0),
    (FitColumn("input"), 0),
    (FitColumn("output"), 0),
    (FitColumn("cache read"), 1),
    (FitColumn("write 5m"), 1),
    (FitColumn("write 1h"), 1),
    (FitColumn("since", "left"), 2),
    (FitColumn("note", "left"), 3),
)
_PRICE_CAPTION = "USD per million tokens; matched exact, then glob, then backend"


def _print_table(table: PriceTable, out: Console) -> None:
    out.print(f"[bold]price table[/] {escape(table.path)}")
    out.print(
        f"version [cyan]{escape(table.version)}[/] · "
        f"reference model [cyan]{escape(table.reference_model)}[/]"
    )
    rows: list[list[str]] = []
    styles: list[str | None] = []
    for entry in table.entries():
        note = "reference" if entry is table.reference else "local, free" if entry.free else ""
        rows.append([entry.label, *_prices(entry.rates), entry.effective_from.isoformat(), note])
        styles.append(None)
        for tier in entry.tiers:
            label = f"  prompt > {tier.above_prompt_tokens // 1000}k"
            rows.append([label, *_prices(tier.rates), "", "whole request"])
            styles.append("dim")
    out.print(_fitted(rows, styles, out.width))


def _fitted(rows: list[list[str]], styles: list[str | None], width: int) -> Table:
    """The widest layout of the price table that fits ``width``.

    A match is what a row means, so columns are dropped before a match is shortened.
    """
    layouts = []
    for highest in sorted({rank for _, rank in _PRICE_COLUMNS}, reverse=True):
        kept = [i for i, (_, rank) in enumerate(_PRICE_COLUMNS) if rank <= highest]
        layouts.append(
            FittingTable(
                [_PRICE_COLUMNS[i][0] for i in kept],
                [[row[i] for i in kept] for row in rows],
                row_styles=styles,
                caption=_PRICE_CAPTION,
            )
        )
    for shorten in (False, True):
        for layout in layouts:
            fitted = layout.fitted(width, shorten=shorten)
            if fitted is not None:
                return fitted
    return layouts[-1].table({})  # narrower than the fewest columns: the terminal wraps


def _prices(rates: Rates) -> list[str]:
    return [
        per_mtok(getattr(rates, key))
        for key in ("input", "output", "cache_read", "cache_write", "cache_write_1h")
    ]


def _finished_tasks(args: argparse.Namespace) -> list[state_pb2.TaskState]:
    from execstream.cli.connect import options_from
    from execstream.cli.readiness import wait_until_ready
    from execstream.client import Client, pb

    options = options_from(args)
    wait_until_ready(options, args.wait, stderr_console())
    with Client(options) as client:
        finished = [pb.TASK_STATUS_SUCCEEDED, pb.TASK_STATUS_FAILED]
        return list(client.snapshot(statuses=finished).tasks)


def _reprice(table: PriceTable, args: argparse.Namespace, out: Console) -> int:
    """Show each finished task's stored cost beside what this table says for its usage.

    A task's usage is priced as one request here, so a long-context tier can apply
    differently than it did to the task's separate chunks; the report says it is an estimate.
    """
    tasks = _finished_tasks(args)
    columns = [
        FitColumn("task", "left", shortens=True),
        FitColumn("model", "left", shortens=True),
        FitColumn("priced with", "left", shortens=True),
        FitColumn("stored cost"),
        FitColumn("today"),
        FitColumn("change"),
    ]
    rows: list[list[str]] = []
    stored_total = today_total = 0
    for task in tasks:
        usage = task.usage
        if not usage.model:
            usage.model = task.model
        today = table.price(usage, backend=task.backend)
        stored = task.cost.actual.total_nanos
        now = today.actual.total_nanos
        stored_total += stored
        today_total += now
        rows.append(
            [
                task.task_id,
                task.model or "-",
                task.cost.pricing_version or "-",
                "unpriced" if task.cost.unpriced else usd(stored),
                "unpriced" if today.unpriced else usd(now),
                usd(now - stored),
            ]
        )
    totals = ["total", "", "", usd(stored_total), usd(today_total), usd(today_total - stored_total)]
    layout = FittingTable(
        columns,
        rows,
        footers=totals,
        caption=f"today's table: version {table.version}; nothing is changed",
    )
    out.print(layout.fitted(out.width) or layout.table({}))
    return 0
