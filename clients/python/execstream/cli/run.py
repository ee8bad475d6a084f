"""``execstream run -- CMD ARGS...``: a sidecar for shell work.

The command's stdout and stderr are reported line by line as they are written (and still
shown here), its exit code ends the task, and SIGINT/SIGTERM go to the command, which then
ends the task as CANCELLED. The command runs in its own process group so a Ctrl-C reaches it
once, through us, and we can tell a cancellation from a crash.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
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

from ..client import Client, Reporter, TaskReporter, pb
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


# The server takes at most 64 KiB of text per event; a longer line is sent in pieces.
_CHUNK_BYTES = 60 * 1024
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A background process the command left behind may hold its pipes open this long.
_PIPE_GRACE_S = 5.0


class _Pump(threading.Thread):
    """Forward one pipe of the command, line by line, as it is written.

    It always drains the pipe to its end, even after reporting failed, so the command never
    blocks on a full pipe; the first failure is kept for the caller. A closed echo (our own
    reader went away, ``| head``) only stops the echo.
    """

    def __init__(self, stream: IO[bytes], report: Callable[[str], object], echo: IO[str] | None):
        super().__init__(daemon=True)
        self.stream, self.report, self.echo = stream, report, echo
        self.failure: BaseException | None = None

    def run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = self.stream.fileno()
        pending = ""
        while chunk := os.read(fd, 65536):
            pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                self._forward(line + "\n")
            while len(pending.encode()) > _CHUNK_BYTES:  # a huge line or a progress bar
                head = pending.encode()[:_CHUNK_BYTES].decode("utf-8", errors="ignore")
                self._forward(head)
                pending = pending[len(head) :]
        pending += decoder.decode(b"", final=True)
        if pending:
            self._forward(pending)
        self.stream.close()

    def _forward(self, text: str) -> None:
        if self.failure is not None:
            return  # keep draining; what stopped us is reported once the command ends
        try:
            self.report(text)
        except BaseException as exc:
            self.failure = exc
            return
        if self.echo is not None:
            try:
                self.echo.write(text)
                self.echo.flush()
            except (BrokenPipeError, ValueError):
                self.echo = None


def run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValueError("run: give the command after --, e.g. execstream run -- make test")
    labels = parse_labels(args.label)
    task_id = args.task or f"run-{uuid.uuid4().hex[:12]}"
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if not args.task:
        err.print(f"[dim]task {task_id}[/]")
    received: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        """Record the signal; send it to the command's whole process group once it runs."""
        received.append(signum)
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signum)

    # Handlers first: a signal arriving while the command starts must not orphan it.
    previous = {sig: signal.signal(sig, forward) for sig in _SIGNALS}
    try:
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
            if received:  # a signal came while it started
                os.killpg(child.pid, received[0])
            task.status(pb.TASK_STATUS_RUNNING, f"pid {child.pid}")
            assert child.stdout is not None and child.stderr is not None
            pumps = [
                _Pump(child.stdout, task.stdout, None if args.quiet else sys.stdout),
                _Pump(child.stderr, task.stderr, None if args.quiet else sys.stderr),
            ]
            for pump in pumps:
                pump.start()
            returncode = child.wait()
            for pump in pumps:
                pump.join(_PIPE_GRACE_S)
            return _finish(task, reporter, returncode, received, pumps)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _finish(
    task: TaskReporter,
    reporter: Reporter,
    returncode: int,
    received: list[int],
    pumps: list[_Pump],
) -> int:
    """End the task as the command ended; return this process's exit code."""
    exit_code = returncode if returncode >= 0 else 128 - returncode
    for pump in pumps:
        if pump.failure is not None:
            raise pump.failure
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
