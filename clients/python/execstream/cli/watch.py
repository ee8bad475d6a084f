"""``execstream watch``: follow tasks live (or replay them) in the terminal or as JSON lines."""

from __future__ import annotations

import argparse

from rich.console import Console

from ..client import Backoff, Client, pb
from .connect import add_connection_args, options_from
from .readiness import add_wait_arg, wait_until_ready
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
    out = Console(soft_wrap=True, highlight=False)
    options = options_from(args)
    wait_until_ready(options, args.wait, Console(stderr=True, soft_wrap=True, highlight=False))
    with Client(options) as client:
        printer = EventPrinter(out, usage_of=lambda task_id: _task_usage(client, task_id))
        if waiting and after is None:
            # A task that finished before we started would never send its finish again.
            snapshot = client.snapshot(task_ids=sorted(waiting))
            after = snapshot.revision
            for state in snapshot.tasks:
                if state.status in _TERMINAL:
                    waiting.discard(state.task_id)
                    failed |= state.status != pb.TASK_STATUS_SUCCEEDED
                    note = f"{state.task_id} had already ended: {status_name(state.status)}"
                    Console(stderr=True, highlight=False).print(note)
            if not waiting:
                return 1 if failed else 0
        events = client.watch(
            task_ids=args.task,
            sidecar_ids=args.sidecar,
            after_revision=after,
            backoff=Backoff(give_up_after=args.wait),
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


def _task_usage(client: Client, task_id: str) -> pb.Usage | None:
    """A finished task's tokens over all attempts, from the snapshot."""
    tasks = client.snapshot(task_ids=[task_id]).tasks
    return tasks[0].usage if tasks else None
