"""``execstream snapshot``: every task's state and cost as a table, or JSON for scripts."""

from __future__ import annotations

import argparse
import json

from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table

from ..client import Client, pb
from ..money import usd
from .connect import add_connection_args, options_from
from .readiness import add_wait_arg, wait_until_ready
from .render import status_name

STATUSES = [name.removeprefix("TASK_STATUS_").lower() for name in pb.TaskStatus.keys()][1:]  # noqa: SIM118


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "snapshot", help="every task's status, tokens and cost, with totals"
    )
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        choices=STATUSES,
        help="only tasks in this status (repeatable)",
    )
    parser.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    parser.add_argument("--json", action="store_true", help="the Snapshot message as JSON")
    add_wait_arg(parser)
    add_connection_args(parser)
    parser.set_defaults(func=run)


def _duration(start: Timestamp, end: Timestamp) -> str:
    if not start.seconds or not end.seconds:
        return "-"
    seconds = (end.ToNanoseconds() - start.ToNanoseconds()) / 1e9
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _money(nanos: int, cost: pb.TaskCost | None = None) -> str:
    if cost is not None and cost.unpriced:
        return "unpriced"
    return usd(nanos)


def run(args: argparse.Namespace) -> int:
    statuses = [pb.TaskStatus.Value(f"TASK_STATUS_{name.upper()}") for name in args.status]
    options = options_from(args)
    wait_until_ready(options, args.wait, Console(stderr=True, soft_wrap=True, highlight=False))
    with Client(options) as client:
        snapshot = client.snapshot(task_ids=args.task, statuses=statuses)
    if args.json:
        body = MessageToDict(snapshot, preserving_proto_field_name=True)
        print(json.dumps(body, indent=2, sort_keys=True))
        return 0
    table = Table(
        title=f"execstream snapshot at revision {snapshot.revision}",
        title_justify="left",
        show_footer=True,
    )
    totals = snapshot.totals
    columns = [
        ("task", "left", "total"),
        ("sidecar", "left", ""),
        ("status", "left", f"{totals.tasks:,} tasks"),
        ("backend", "left", ""),
        ("model", "left", ""),
        ("in", "right", f"{totals.usage.input_tokens:,}"),
        ("out", "right", f"{totals.usage.output_tokens:,}"),
        ("cost", "right", usd(totals.cost_nanos)),
        ("reference", "right", usd(totals.reference_cost_nanos)),
        ("savings", "right", usd(totals.savings_nanos)),
        ("duration", "right", ""),
    ]
    for name, justify, footer in columns:
        table.add_column(name, footer, justify=justify)  # type: ignore[arg-type]
    for task in snapshot.tasks:
        cost = task.cost if task.HasField("cost") else None
        table.add_row(
            task.task_id,
            task.sidecar_id,
            status_name(task.status),
            task.backend or "-",
            task.model or "-",
            f"{task.usage.input_tokens:,}",
            f"{task.usage.output_tokens:,}",
            _money(task.cost.actual.total_nanos, cost),
            _money(task.cost.reference.total_nanos, cost),
            _money(task.cost.savings_nanos, cost),
            _duration(task.started_time, task.finished_time),
        )
    console = Console(highlight=False)
    if not console.is_terminal:  # a pipe or a file: never cut a task id or a price short
        console = Console(highlight=False, width=250)
    console.print(table)
    return 0
