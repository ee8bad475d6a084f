"""``execstream report``: newline-delimited JSON events on stdin, reported exactly once.

A sidecar in any language can pipe into it. Each line is one ``ExecutionEvent`` in proto3
JSON (``{"task_id": "t1", "stdout": {"text": "hi\\n"}}``); ``seq`` may be left out.

Without ``--resume`` every task on stdin is new: it is numbered from 1 and its first event
is committed alone before the rest is sent, so a task id that is already taken is refused
(exit 1) before anything of it is stored. With ``--resume`` each task continues after its
last committed seq (a sidecar that calls ``report`` once per event, or one that restarted):
lines numbered at or below it are skipped as already stored. The closing line says how
many events were stored and how many the server already had; a report that stored nothing
new exits 1 unless ``--resume`` said repeats were expected.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from google.protobuf.json_format import Parse, ParseError
from rich.console import Console

from ..client import Backoff, Client, ConnectOptions, Reporter, pb
from .connect import add_connection_args, options_from
from .exit_codes import EXIT_FAILED, EXIT_OK
from .first_event import FirstEvent, commit_first_event, mark_invocation
from .readiness import add_wait_arg, wait_until_ready
from .run import default_sidecar
from .words import count


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="report newline-delimited JSON events read from stdin",
        description="Read one ExecutionEvent per line (proto3 JSON) and report them. Tasks "
        "are new unless --resume: a task id that already exists is refused before any of its "
        "events is stored. Exits 1 when nothing new was stored (unless --resume).",
    )
    parser.add_argument(
        "--sidecar",
        metavar="ID",
        default=default_sidecar(),
        help="sidecar id (env EXECSTREAM_SIDECAR; default cli-<hostname>)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue each task after its last committed seq, skipping lines already stored "
        "(a sidecar that reports one event per call, or that restarted)",
    )
    add_wait_arg(parser)
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


@dataclass
class _Tally:
    read: int = 0  # events on stdin
    first_stored: int = 0  # first events of new tasks, committed one by one
    skipped: int = 0  # --resume: lines at or below the task's committed seq

    def line(self, reporter: Reporter, revision: int) -> tuple[str, int]:
        stored = self.first_stored + reporter.stored
        already = self.skipped + reporter.duplicates
        text = f"reported {count(self.read, 'event')}: {stored:,} stored"
        if already:
            text += f", {already:,} already stored"
        return f"{text}; committed through revision {revision}", stored


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    wait_until_ready(options, args.wait, err)
    tally = _Tally()
    new_task = None if args.resume else _NewTask(options, args.wait, err)
    backoff = Backoff(give_up_after=args.wait)
    with Client(options) as client, client.reporter(args.sidecar, backoff=backoff) as reporter:
        for number, line in enumerate(sys.stdin, start=1):
            if line.strip():
                tally.read += 1
                event = parse_line(line, number)
                _report(reporter, event, number, tally, new_task)
        reporter.flush()
        revision = reporter.last_revision
    text, stored = tally.line(reporter, revision)
    if stored == 0 and tally.read and not args.resume:
        err.print(f"[bold red]error:[/] {text}: nothing new (pass --resume if that is expected)")
        return EXIT_FAILED
    err.print(f"[dim]{text}[/]")
    return EXIT_OK


@dataclass(frozen=True)
class _NewTask:
    """How to commit a new task's first event (without --resume), or None with it."""

    options: ConnectOptions
    wait_s: float
    err: Console


def _report(
    reporter: Reporter,
    event: pb.ExecutionEvent,
    number: int,
    tally: _Tally,
    new_task: _NewTask | None,
) -> None:
    task_id = event.task_id
    if not reporter.has_task(task_id):
        if new_task is None:
            reporter.resume_task(task_id)
        else:
            _commit_new_task(reporter, event, number, new_task)
            tally.first_stored += 1
            return
    task = reporter.task(task_id)
    if new_task is None and event.seq and event.seq <= task.last_seq:
        tally.skipped += 1
        return
    try:
        task.raw(event)
    except ValueError as exc:
        raise ValueError(f"stdin line {number}: {exc}") from None


def _commit_new_task(
    reporter: Reporter, event: pb.ExecutionEvent, number: int, new_task: _NewTask
) -> None:
    """Number the task's first event 1 and commit it alone: refuse a taken id at once."""
    if event.seq not in (0, 1):
        raise ValueError(
            f"stdin line {number}: seq is {event.seq}, but task {event.task_id!r} starts here "
            "(its first seq is 1; pass --resume to continue a task reported before)"
        )
    event.seq = 1
    event.sidecar_id = reporter.sidecar_id  # the report's, as for its other events
    if not event.HasField("time"):
        event.time.GetCurrentTime()
    hint = (
        f"nothing of it was stored from stdin line {number} on; pass --resume to continue it, "
        "or use a fresh task id"
    )
    mark_invocation(event)
    fields = {"sidecar_id": "--sidecar"}
    first = FirstEvent(new_task.options, new_task.wait_s, new_task.err, hint, fields, line=number)
    commit_first_event(first, event)
    reporter.task(event.task_id, next_seq=2)
