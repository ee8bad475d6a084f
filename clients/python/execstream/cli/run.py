"""``execstream run -- CMD ARGS...``: a sidecar for shell work.

Nothing runs until the server has committed the task's first event: an unreachable server
(``--wait``) or a task id that is already taken ends ``run`` before the command starts.
Then the command's stdout and stderr are reported line by line as they arrive (and still
shown here), its exit code ends the task, and SIGINT/SIGTERM/SIGHUP go to the command's
whole process group, which then ends the task as CANCELLED.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import sys
import uuid
from types import FrameType

from rich.console import Console

from ..client import Backoff, Client, Reporter, TaskReporter, pb
from .child import Child, Outputs
from .connect import add_connection_args, options_from
from .first_event import FirstEvent, commit_first_event, started_event
from .output_reader import OutputReader, Stream
from .readiness import add_wait_arg, wait_until_ready


def default_sidecar() -> str:
    return os.environ.get("EXECSTREAM_SIDECAR") or f"cli-{socket.gethostname()}"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a command as a task, streaming its output",
        description="Run CMD as a task: stream its stdout and stderr, report its exit code. "
        "The task's first event is committed before CMD starts; a task id that already "
        "exists is refused and nothing runs.",
    )
    parser.add_argument("--task", metavar="ID", help="task id (default: run-<random>, unique)")
    parser.add_argument(
        "--sidecar",
        metavar="ID",
        default=default_sidecar(),
        help="sidecar id (env EXECSTREAM_SIDECAR; default cli-<hostname>)",
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="task label (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo the command's output")
    parser.add_argument(
        "--pty",
        action="store_true",
        help="give CMD a terminal for stdout and stderr: the exact order written, one stream "
        "(reported as stdout), and line-buffered output from programs that buffer pipes",
    )
    add_wait_arg(parser)
    add_connection_args(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    parser.set_defaults(func=run)


def parse_labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A background process the command left behind may hold its pipes open this long.
_PIPE_GRACE_S = 5.0


class _Forwarder:
    """Signal handler: record each signal and pass it to the command's group once it runs."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.child: Child | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.child is not None:
            self.child.signal_group(signum)


def run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValueError("run: give the command after --, e.g. execstream run -- make test")
    labels = parse_labels(args.label)
    task_id = args.task or f"run-{uuid.uuid4().hex[:12]}"
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    options = options_from(args)
    forwarder = _Forwarder()
    # Handlers first (and unblocked: a parent may have blocked them): a signal arriving
    # while the task is being created must cancel it, not orphan the command.
    previous = {sig: signal.signal(sig, forwarder) for sig in _SIGNALS}
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    try:
        wait_until_ready(options, args.wait, err)
        first = started_event(
            task_id, args.sidecar, backend="shell", description=shlex.join(command), labels=labels
        )
        hint = "nothing was run; use a fresh --task id (or leave --task out for a unique one)"
        fields = {"task_id": "--task", "sidecar_id": "--sidecar"}
        commit_first_event(FirstEvent(options, args.wait, err, hint, fields), first)
        if not args.task:
            err.print(f"[dim]task {task_id}[/]")
        backoff = Backoff(give_up_after=args.wait)
        with Client(options) as client, client.reporter(args.sidecar, backoff=backoff) as reporter:
            task = reporter.task(task_id, next_seq=2)
            return _run_task(command, task, reporter, forwarder, args, err)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_task(
    command: list[str],
    task: TaskReporter,
    reporter: Reporter,
    forwarder: _Forwarder,
    args: argparse.Namespace,
    err: Console,
) -> int:
    if forwarder.received:  # a signal came before the command could start
        name = signal.Signals(forwarder.received[0]).name
        task.finished(pb.OUTCOME_CANCELLED, error=f"cancelled by {name} before the command ran")
        reporter.flush()
        return 128 + forwarder.received[0]
    outputs = Outputs.pty() if args.pty else Outputs.pipes()
    try:
        child = forwarder.child = Child(command, outputs)
    except OSError as exc:
        outputs.close_child_ends()
        message = f"cannot run {command[0]}: {exc.strerror or exc}"
        task.error(message, code="exec")
        task.finished(pb.OUTCOME_FAILED, exit_code=127, error=message)
        reporter.flush()
        err.print(f"[bold red]error:[/] {message}")
        return 127
    outputs.close_child_ends()
    if forwarder.received:  # a signal came while it started
        child.signal_group(forwarder.received[0])
    task.status(pb.TASK_STATUS_RUNNING, f"pid {child.pid}")
    reader = OutputReader(_streams(outputs, task, quiet=args.quiet))
    reader.start()
    returncode = child.wait()
    reader.join(_PIPE_GRACE_S)
    reader.stop_forwarding()
    return _finish(task, reporter, returncode, forwarder.received, reader)


def _streams(outputs: Outputs, task: TaskReporter, *, quiet: bool) -> list[Stream]:
    if outputs.stderr is None:
        return [(outputs.stdout, task.stdout, None if quiet else sys.stdout)]
    return [
        (outputs.stdout, task.stdout, None if quiet else sys.stdout),
        (outputs.stderr, task.stderr, None if quiet else sys.stderr),
    ]


def _finish(
    task: TaskReporter,
    reporter: Reporter,
    returncode: int,
    received: list[int],
    reader: OutputReader,
) -> int:
    """End the task as the command ended; return this process's exit code."""
    exit_code = returncode if returncode >= 0 else 128 - returncode
    if reader.failure is not None:
        raise reader.failure
    if received:
        name = signal.Signals(received[0]).name
        task.status(pb.TASK_STATUS_RUNNING, f"{name} forwarded to the command")
        task.finished(pb.OUTCOME_CANCELLED, exit_code=exit_code, error=f"cancelled by {name}")
        code = 128 + received[0]
    elif returncode == 0:
        task.finished(pb.OUTCOME_SUCCEEDED, exit_code=0)
        code = 0
    else:
        task.finished(pb.OUTCOME_FAILED, exit_code=exit_code, error=f"exited with code {exit_code}")
        code = exit_code
    reporter.flush()
    return code
