"""``execstream watch``: follow tasks live (or replay them) in the terminal or as JSON lines."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from rich.markup import escape

from execstream.v1 import state_pb2 as state_pb

from ..client import Client, pb
from .connect import add_connection_args, options_from
from .consoles import stderr_console, stdout_console
from .readiness import add_wait_arg, reconnecting, wait_until_ready
from .render import EventPrinter, event_json, status_name

_TERMINAL = frozenset({pb.TASK_STATUS_SUCCEEDED, pb.TASK_STATUS_FAILED, pb.TASK_STATUS_CANCELLED})


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="follow task output live, or replay it from a revision",
        description="Follow events live; reconnects and resumes without gap or duplicate.",
    )
    parser.add_argument(
        "--task", metavar="ID", action="append", default=[], help="only this task (repeatable)"
    )
    parser.add_argument(
        "--sidecar",
        metavar="ID",
        action="append",
        default=[],
        help="only this sidecar's tasks (repeatable)",
    )
    parser.add_argument(
        "--from-revision",
        type=int,
        metavar="N",
        help="replay from revision N (0: everything retained), then follow live",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.add_argument(
        "--until-finished",
        action="store_true",
        help="exit once every --task has finished (exit 1 if one did not succeed)",
    )
    add_wait_arg(parser)
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.until_finished and not args.task:
        raise ValueError("--until-finished needs at least one --task")
    if args.from_revision is not None and args.from_revision < 0:
        raise ValueError(f"--from-revision is {args.from_revision}; it must be 0 or more")
    after = None if args.from_revision is None else max(args.from_revision - 1, 0)
    waiting = set(args.task) if args.until_finished else set()
    failed = False
    out = stdout_console(soft_wrap=True)
    err = stderr_console()
    options = options_from(args)
    wait_until_ready(options, args.wait, err)
    with Client(options) as client:
        printer = EventPrinter(out, usage_of=lambda task_id: _task_usage(client, task_id))
        if waiting:
            # A task whose finish comes before the watch starts would never send it again.
            snapshot = client.snapshot(task_ids=sorted(waiting))
            after = snapshot.revision if after is None else after
            for state in _ended_before(snapshot.tasks, after):
                waiting.discard(state.task_id)
                failed |= state.status != pb.TASK_STATUS_SUCCEEDED
                err.print(f"{escape(state.task_id)} had already ended: {status_name(state.status)}")
            if not waiting:
                return 1 if failed else 0
        events = client.watch(
            task_ids=args.task,
            sidecar_ids=args.sidecar,
            after_revision=after,
            backoff=reconnecting(options, args.wait, err),
        )
        try:
            for event in events:
                if args.json:
                    print(event_json(event), flush=True)
                else:
                    printer.print(event)
                if event.HasField("finished") and event.task_id in waiting:
                    waiting.discard(event.task_id)
                    failed |= event.finished.outcome != pb.OUTCOME_SUCCEEDED
                    if not waiting:
                        break
        finally:
            printer.close()
    return 1 if failed else 0


def _ended_before(tasks: Iterable[state_pb.TaskState], after: int) -> list[state_pb.TaskState]:
    """Tasks that finished at or before revision ``after``: the watch will not see them end.

    A finished task accepts no more events, so its last revision is its finish's.
    """
    return [t for t in tasks if t.status in _TERMINAL and t.last_revision <= after]


def _task_usage(client: Client, task_id: str) -> pb.Usage | None:
    """A finished task's tokens over all attempts, from the snapshot."""
    tasks = client.snapshot(task_ids=[task_id]).tasks
    return tasks[0].usage if tasks else None
