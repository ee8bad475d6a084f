"""``execstream snapshot``: every task's state and cost as a table, CSV or JSON.

Under the table: the totals by a label's values (``--group-by-label``) and the budgets
(``snapshot_breakdown``).

The table fits the terminal (``snapshot_table``); ``--csv`` is one row per task with a
documented column set for spreadsheets and warehouses (``snapshot_csv``); ``--json`` is the
``Snapshot`` message in proto3 JSON (int64 amounts as strings).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from google.protobuf.json_format import MessageToDict

from execstream.v1 import service_pb2 as service_pb

from ..client import Client, pb
from .connect import add_connection_args, options_from
from .consoles import stderr_console, stdout_console
from .readiness import add_wait_arg, wait_until_ready
from .snapshot_breakdown import budgets_table, label_table
from .snapshot_csv import write_csv
from .snapshot_table import snapshot_table

STATUSES = [name.removeprefix("TASK_STATUS_").lower() for name in pb.TaskStatus.keys()][1:]  # noqa: SIM118
# Piped output has no terminal width: wide enough that nothing is cut or dropped.
_PIPE_WIDTH = 250


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "snapshot",
        help="every task's status, tokens and cost, with totals",
        description="Show every task (or the ones chosen with --task and --status) with its "
        "status, tokens (input, cache read/write, output, reasoning), cost, reference cost "
        "and savings. The table's totals are those of the rows shown; --csv and --json are "
        "for programs.",
    )
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        choices=STATUSES,
        help="only tasks in this status (repeatable)",
    )
    parser.add_argument(
        "--task", metavar="ID", action="append", default=[], help="only this task (repeatable)"
    )
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="the Snapshot message as JSON")
    shown.add_argument(
        "--csv",
        action="store_true",
        help="one row per task, for spreadsheets and warehouses (columns: docs/clients.md)",
    )
    parser.add_argument(
        "--group-by-label",
        metavar="KEY",
        default="",
        help="also total every task by the values of this task label (e.g. team)",
    )
    add_wait_arg(parser)
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    statuses = [pb.TaskStatus.Value(f"TASK_STATUS_{name.upper()}") for name in args.status]
    options = options_from(args)
    wait_until_ready(options, args.wait, stderr_console())
    with Client(options) as client:
        snapshot = client.snapshot(
            task_ids=args.task, statuses=statuses, group_by_label=args.group_by_label
        )
    if args.json:
        body = MessageToDict(snapshot, preserving_proto_field_name=True)
        print(json.dumps(body, indent=2, sort_keys=True))
    elif args.csv:
        sys.stdout.reconfigure(newline="")  # type: ignore[union-attr]  # csv writes CRLF
        write_csv(snapshot, sys.stdout)
    else:
        _print_table(snapshot, filtered=bool(args.task or args.status), key=args.group_by_label)
    return 0


def _print_table(snapshot: service_pb.Snapshot, *, filtered: bool, key: str) -> None:
    console = stdout_console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = stdout_console(width=_PIPE_WIDTH)
    table, notes = snapshot_table(snapshot, console.width, filtered=filtered)
    console.print(table)
    for note in notes:
        console.print(f"[dim]{note}[/]")
    if key:
        console.print()
        console.print(label_table(key, snapshot.totals.by_label))
    if snapshot.budgets:
        console.print()
        console.print(budgets_table(snapshot.budgets))
