"""``execstream report``: newline-delimited JSON events on stdin, reported exactly once.

A sidecar in any language can pipe into it. Each line is one ``ExecutionEvent`` in proto3
JSON (``{"task_id": "t1", "stdout": {"text": "hi\\n"}}``); ``seq`` may be left out, and the
reporter numbers each task's events from 1 (or from ``--resume``'s last committed seq).
"""

from __future__ import annotations

import argparse
import sys

from google.protobuf.json_format import Parse, ParseError
from rich.console import Console

from ..client import Client, pb
from .connect import add_connection_args, options_from
from .run import default_sidecar


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="report newline-delimited JSON events read from stdin",
        description="Read one ExecutionEvent per line (proto3 JSON) and report them.",
    )
    parser.add_argument(
        "--sidecar", default=default_sidecar(), help="sidecar id (env EXECSTREAM_SIDECAR)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue each task after its last committed seq (a restarted sidecar)",
    )
    add_connection_args(parser)
    parser.set_defaults(func=run)


def parse_line(line: str, number: int) -> pb.ExecutionEvent:
    try:
        event = Parse(line, pb.ExecutionEvent())
    except ParseError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unparsable"
        raise ValueError(f"stdin line {number}: not an ExecutionEvent: {reason}") from None
    if not event.task_id:
        raise ValueError(f"stdin line {number}: task_id is missing")
    if not event.WhichOneof("body"):
        raise ValueError(f"stdin line {number}: no event body (started, stdout, finished, ...)")
    return event


def run(args: argparse.Namespace) -> int:
    count = 0
    with Client(options_from(args)) as client, client.reporter(args.sidecar) as reporter:
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            event = parse_line(line, number)
            if args.resume and not reporter.has_task(event.task_id):
                reporter.resume_task(event.task_id)
            try:
                reporter.task(event.task_id).raw(event)
            except ValueError as exc:
                raise ValueError(f"stdin line {number}: {exc}") from None
            count += 1
        reporter.flush()
        revision = reporter.last_revision
    Console(stderr=True, highlight=False).print(
        f"[dim]reported {count} events; committed through revision {revision}[/]"
    )
    return 0
