"""``execstream run -- CMD ARGS...``: a sidecar for shell work.

The command's stdout and stderr are reported line by line as they are written (and still
shown here), its exit code ends the task, and SIGINT/SIGTERM go to the command, which then
ends the task as CANCELLED. The command runs in its own process group so a Ctrl-C reaches it
once, through us, and we can tell a cancellation from a crash.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from types import FrameType
from typing import IO

from rich.console import Console

from ..client import Client, pb
from .connect import add_connection_args, options_from


def default_sidecar() -> str:
    return os.environ.get("EXECSTREAM_SIDECAR") or f"cli-{socket.gethostname()}"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a command as a task, streaming its output",
        description="Run CMD as a task: stream stdout/stderr, report its exit code.",
    )
    parser.add_argument("--task", help="task id (default: run-<random>)")
    parser.add_argument(
        "--sidecar", default=default_sidecar(), help="sidecar id (env EXECSTREAM_SIDECAR)"
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="task label (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo the command's output")
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


def _pump(stream: IO[bytes], report: Callable[[str], object], echo: IO[str] | None) -> None:
    """Forward each line as it arrives; a partial last line is forwarded at EOF."""
    for raw in iter(stream.readline, b""):
        text = raw.decode("utf-8", errors="replace")
        report(text)
        if echo is not None:
            echo.write(text)
            echo.flush()
    stream.close()


def run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValueError("run: give the command after --, e.g. execstream run -- make test")
    labels = parse_labels(args.label)
    task_id = args.task or f"run-{uuid.uuid4().hex[:12]}"
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if not args.task:
        err.print(f"[dim]task {task_id}[/]")
    with Client(options_from(args)) as client, client.reporter(args.sidecar) as reporter:
        task = reporter.task(task_id)
        task.started(backend="shell", description=shlex.join(command), labels=labels)
        try:
            child = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
            )
        except OSError as exc:
            message = f"cannot run {command[0]}: {exc.strerror or exc}"
            task.error(message, code="exec")
            task.finished(pb.OUTCOME_FAILED, exit_code=127, error=message)
            reporter.flush()
            err.print(f"[bold red]error:[/] {message}")
            return 127
        task.status(pb.TASK_STATUS_RUNNING, f"pid {child.pid}")
        received: list[int] = []

        def forward(signum: int, _frame: FrameType | None) -> None:
            received.append(signum)
            child.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            assert child.stdout is not None and child.stderr is not None
            pumps = [
                threading.Thread(
                    target=_pump,
                    args=(child.stdout, task.stdout, None if args.quiet else sys.stdout),
                ),
                threading.Thread(
                    target=_pump,
                    args=(child.stderr, task.stderr, None if args.quiet else sys.stderr),
                ),
            ]
            for pump in pumps:
                pump.start()
            returncode = child.wait()
            for pump in pumps:
                pump.join()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        exit_code = returncode if returncode >= 0 else 128 - returncode
        if received:
            name = signal.Signals(received[0]).name
            task.status(pb.TASK_STATUS_RUNNING, f"{name} forwarded to the command")
            task.finished(pb.OUTCOME_CANCELLED, exit_code=exit_code, error=f"cancelled by {name}")
            code = 128 + received[0]
        elif returncode == 0:
            task.finished(pb.OUTCOME_SUCCEEDED, exit_code=0)
            code = 0
        else:
            task.finished(
                pb.OUTCOME_FAILED, exit_code=exit_code, error=f"exited with code {exit_code}"
            )
            code = exit_code
        reporter.flush()
    return code
