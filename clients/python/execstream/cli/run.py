"""``execstream run -- CMD ARGS...``: a sidecar for shell work.

Nothing runs until the server has committed the task's first event: an unreachable server
(``--wait``) or a task id that is already taken ends ``run`` before the command starts.
Then the command's stdout and stderr are reported line by line as they arrive (and still
shown here), its exit code ends the task, and SIGINT/SIGTERM/SIGHUP go to the command's
whole process group, which then ends the task as CANCELLED.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shlex
import signal
import socket
import sys
import uuid

import grpc
from rich.console import Console
from rich.markup import escape

from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from ..client import (
    Client,
    ConnectOptions,
    ExecstreamError,
    Reporter,
    TaskReporter,
    Unreachable,
    pb,
)
from .child import Child, Outputs
from .connect import add_connection_args, options_from
from .consoles import stderr_console
from .errors import CommandError
from .exit_codes import EXIT_FAILED, EXIT_UNREACHABLE
from .first_event import FirstEvent, commit_first_event, started_event
from .output_reader import OutputReader, Stream
from .readiness import add_wait_arg, reconnecting, wait_until_ready
from .run_signals import Forwarder, Interrupted, Phase


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


# A background process the command left behind may hold its pipes open this long.
_PIPE_GRACE_S = 5.0
# A task whose first event may have been stored when a signal came gets this long to be
# ended CANCELLED, so that it is not left RUNNING; a server that does not answer is left.
_CANCEL_TIMEOUT_S = 2.0


@dataclasses.dataclass
class _Outcome:
    """What is known when reporting fails: the command's exit code, the last seq stored."""

    exit_code: int | None = None
    committed_seq: int = 1


def run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValueError("run: give the command after --, e.g. execstream run -- make test")
    labels = parse_labels(args.label)
    task_id = args.task or f"run-{uuid.uuid4().hex[:12]}"
    err = stderr_console()
    options = options_from(args)
    first = started_event(
        task_id, args.sidecar, backend="shell", description=shlex.join(command), labels=labels
    )
    hint = "nothing was run; use a fresh --task id (or leave --task out for a unique one)"
    fields = {"task_id": "--task", "sidecar_id": "--sidecar"}
    # Handlers first: a signal while the task is being created must not orphan anything.
    with Forwarder().installed() as forwarder:
        try:
            wait_until_ready(options, args.wait, err)
            forwarder.phase = Phase.SENDING
            commit_first_event(FirstEvent(options, args.wait, err, hint, fields), first)
            forwarder.phase = Phase.RUNNING
        except Interrupted as stop:
            return _stopped_before_start(stop, options, first)
        if not args.task:
            err.print(f"[dim]task {task_id}[/]")
        return _reported_run(command, task_id, options, forwarder, args, err)


def _stopped_before_start(
    stop: Interrupted, options: ConnectOptions, first: pb.ExecutionEvent
) -> int:
    """Exit 128 + N; a first event that may be stored is ended CANCELLED (never RUNNING).

    The pair is one report: the server stores it whole (cancelling our own task, new or
    stored before the signal) or refuses it whole (a task id someone else holds).
    """
    if stop.phase is Phase.SENDING:
        ended: list[pb.ExecutionEvent] = []
        reason = f"cancelled by {stop.name} before the command ran"
        TaskReporter(first.task_id, first.sidecar_id, ended.append, next_seq=2).finished(
            pb.OUTCOME_CANCELLED, error=reason
        )
        report = service_pb.ProgressReport(sidecar_id=first.sidecar_id, events=[first, *ended])
        with contextlib.suppress(grpc.RpcError), options.channel(own_connection=True) as channel:
            service_pb2_grpc.ExecutionServiceStub(channel).ReportProgress(
                iter([report]), metadata=options.metadata, timeout=_CANCEL_TIMEOUT_S
            )
    # A console of its own: the signal may have cut into a print of the other one, whose
    # next print would then repeat that line.
    stderr_console().print(
        f"[bold red]error:[/] interrupted by {stop.name}: the command was not started"
    )
    return 128 + stop.signum


def _reported_run(
    command: list[str],
    task_id: str,
    options: ConnectOptions,
    forwarder: Forwarder,
    args: argparse.Namespace,
    err: Console,
) -> int:
    """Run the command as task ``task_id`` (already created); say so if reporting fails."""
    outcome = _Outcome()
    backoff = reconnecting(options, args.wait, err)
    try:
        with Client(options) as client, client.reporter(args.sidecar, backoff=backoff) as reporter:
            try:
                task = reporter.task(task_id, next_seq=2)
                return _run_task(command, task, reporter, forwarder, args, err, outcome)
            finally:
                outcome.committed_seq = reporter.committed_seqs.get(task_id, 1)
    except ExecstreamError as exc:
        raise _left_unfinished(exc, task_id, outcome) from None


def _left_unfinished(exc: ExecstreamError, task_id: str, outcome: _Outcome) -> CommandError:
    """The one line for a run whose reporting failed: what the command did, what is stored."""
    ran = (
        "the command did not run"
        if outcome.exit_code is None
        else f"the command exited with code {outcome.exit_code}"
    )
    seq = outcome.committed_seq
    if isinstance(exc, Unreachable):
        return CommandError(
            f"{exc}; {ran}; task {task_id} was left RUNNING after seq {seq}", EXIT_UNREACHABLE
        )
    return CommandError(
        f"execstream refused: {exc}; {ran}; task {task_id} was not ended by this run "
        f"(committed through seq {seq})",
        EXIT_FAILED,
    )


def _run_task(
    command: list[str],
    task: TaskReporter,
    reporter: Reporter,
    forwarder: Forwarder,
    args: argparse.Namespace,
    err: Console,
    outcome: _Outcome,
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
        outcome.exit_code = 127
        task.error(message, code="exec")
        task.finished(pb.OUTCOME_FAILED, exit_code=127, error=message)
        reporter.flush()
        err.print(f"[bold red]error:[/] {escape(message)}")
        return 127
    outputs.close_child_ends()
    if forwarder.received:  # a signal came while it started
        child.signal_group(forwarder.received[0])
    task.status(pb.TASK_STATUS_RUNNING, f"pid {child.pid}")
    reader = OutputReader(_streams(outputs, task, quiet=args.quiet))
    reader.start()
    returncode = child.wait()
    outcome.exit_code = returncode if returncode >= 0 else 128 - returncode
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
