"""``execstream report``: newline-delimited JSON events on stdin, reported exactly once.

A sidecar in any language can pipe into it. Each line is one ``ExecutionEvent`` in proto3
JSON (``{"task_id": "t1", "stdout": {"text": "hi\\n"}}``); ``seq`` may be left out. Where
each line goes (a new task, ``--resume``, ``--replay``) is ``report_lines``.

The closing line says how many events were stored and how many the server already had; a
report that stored nothing new exits 1 unless ``--resume`` or ``--replay`` said repeats
were expected, and so does empty stdin. When it fails midway, the line says what is
committed of each task, so a sidecar knows where to continue.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable

from google.protobuf.json_format import Parse, ParseError
from rich.console import Console

from ..client import Client, ExecstreamError, Reporter, ServerRefused, Unreachable, pb
from .connect import add_connection_args, options_from
from .consoles import stderr_console
from .errors import CommandError, one_line
from .exit_codes import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from .first_event import FirstEvent
from .readiness import add_wait_arg, reconnecting, wait_until_ready
from .report_lines import LinePlacer, Mode, Placement
from .run import default_sidecar
from .words import count


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="report newline-delimited JSON events read from stdin",
        description="Read one ExecutionEvent per line (proto3 JSON) and report them. Tasks "
        "are new unless --resume or --replay: a task id that already exists is refused "
        "before any of its events is stored. Exits 1 when nothing new was stored (unless "
        "--resume or --replay) or stdin held no event.",
    )
    parser.add_argument(
        "--sidecar",
        metavar="ID",
        default=default_sidecar(),
        help="sidecar id (env EXECSTREAM_SIDECAR; default cli-<hostname>)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue each task after its last committed seq: a line without seq is a new "
        "event; a numbered line at or below that seq is skipped (one event per call)",
    )
    mode.add_argument(
        "--replay",
        action="store_true",
        help="stdin holds each task from its first event: a line without seq is numbered by "
        "its place among its task's lines; lines already stored are skipped (a file sent "
        "again after a failure)",
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


def run(args: argparse.Namespace) -> int:
    if sys.stdin is None:  # started with stdin closed (``<&-``)
        raise CommandError("report: stdin is closed; pipe the events into it", EXIT_USAGE)
    options = options_from(args)
    err = stderr_console()
    wait_until_ready(options, args.wait, err)
    mode = Mode.RESUME if args.resume else Mode.REPLAY if args.replay else Mode.NEW
    first = FirstEvent(options, args.wait, err, hint="", fields={"sidecar_id": "--sidecar"})
    backoff = reconnecting(options, args.wait, err)
    client = Client(options)
    reporter = client.reporter(args.sidecar, backoff=backoff)
    placer = LinePlacer(mode, reporter, first)
    try:
        with client, reporter:  # leaving it with a failure must not flush again
            _place_all(placer, sys.stdin)
            reporter.flush()
    except ExecstreamError as exc:
        raise _failed(exc, placer.placement, reporter) from None
    return _summary(placer.placement, reporter, mode, err)


def _place_all(placer: LinePlacer, lines: Iterable[str]) -> None:
    """Place every line; a bad one ends the call, with what came before it stored."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            placer.place(parse_line(line, number), number)
        except ValueError as exc:
            placer.reporter.flush()
            stored = placer.placement.first_stored + placer.reporter.stored
            raise CommandError(
                f"{exc} (the {count(stored, 'event')} before it {_were(stored)} stored)",
                EXIT_USAGE,
            ) from None


def _were(number: int) -> str:
    return "was" if number == 1 else "were"


def _summary(placement: Placement, reporter: Reporter, mode: Mode, err: Console) -> int:
    stored = placement.first_stored + reporter.stored
    already = placement.skipped + reporter.duplicates
    revision = max(placement.revision, reporter.last_revision)
    text = f"reported {count(placement.read, 'event')}: {stored:,} stored"
    if already:
        text += f", {already:,} already stored"
    # Revision 0: every line was skipped as stored, so no commit of ours reached a revision.
    text += f"; committed through revision {revision}" if revision else "; nothing sent"
    if not placement.read:
        err.print("[bold red]error:[/] report: stdin held no events; nothing was sent")
        return EXIT_FAILED
    if stored == 0 and mode is Mode.NEW:
        err.print(f"[bold red]error:[/] {text}: nothing new (pass --resume if that is expected)")
        return EXIT_FAILED
    err.print(f"[dim]{text}[/]")
    return EXIT_OK


_EVENT_INDEX = re.compile(r"^events\[(\d+)\]\.?")


def _failed(exc: ExecstreamError, placement: Placement, reporter: Reporter) -> CommandError:
    """The one line for a report that stopped midway: why, and what each task has stored."""
    committed = {**placement.committed, **reporter.committed_seqs}
    told = exc.status.committed if isinstance(exc, ServerRefused) else None
    committed.update({ack.task_id: ack.last_seq for ack in told.tasks} if told else {})
    where = ", ".join(f"{task} through seq {seq}" for task, seq in sorted(committed.items()))
    stored = f"committed: {where}" if where else "nothing was committed"
    if isinstance(exc, Unreachable):
        return CommandError(f"{exc}; {stored}", EXIT_UNREACHABLE)
    line = _refused_line(exc, placement, committed)
    if line is not None:
        return CommandError(f"{line}; {stored}", EXIT_USAGE)
    return CommandError(f"execstream refused: {one_line(str(exc))}; {stored}", EXIT_FAILED)


def _refused_line(
    exc: ExecstreamError, placement: Placement, committed: dict[str, int]
) -> str | None:
    """``stdin line N: stdout.text: ...`` for a refused field of a queued event, or None.

    A refused message is the first one of its call not committed, and the server names
    the field by its index in that message: it is the index-th event not yet committed.
    """
    if not isinstance(exc, ServerRefused) or not exc.status.field_violations:
        return None
    violation = exc.status.field_violations[0]
    match = _EVENT_INDEX.match(violation.field)
    if match is None:
        return None
    pending = [line for task, seq, line in placement.queued if seq > committed.get(task, 0)]
    index = int(match.group(1))
    if index >= len(pending):
        return None
    field = violation.field[match.end() :] or "event"
    return f"stdin line {pending[index]}: {field}: {violation.description}"
