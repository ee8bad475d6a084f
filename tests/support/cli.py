"""Run the real ``execstream`` command as a child process, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping

from execstream.client import Client, ConnectOptions
from execstream.v1 import state_pb2 as state_pb

from .helpers import wait_for
from .processes import ChildProcess

EXECSTREAM = [sys.executable, "-m", "execstream"]


def cli_env(target: str, **extra: str) -> dict[str, str]:
    """This environment aimed at ``target``, without a stray token, TLS or sidecar id."""
    env = {**os.environ, "EXECSTREAM_TARGET": target, **extra}
    for name in ("EXECSTREAM_TOKEN", "EXECSTREAM_TLS", "EXECSTREAM_CA", "EXECSTREAM_SIDECAR"):
        if name not in extra:
            env.pop(name, None)
    return env


def cli(
    server: ChildProcess | None,
    *args: str,
    stdin: str = "",
    target: str = "",
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``execstream ARGS`` against ``server`` (or ``target``), output captured as text."""
    return subprocess.run(
        [*EXECSTREAM, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_env(target or (server.address if server else ""), **(env or {})),
        timeout=timeout,
    )


def replay(server: ChildProcess, task: str) -> list[dict[str, object]]:
    """Every event of a finished ``task``, as ``watch --json`` prints them."""
    done = cli(
        server, "watch", "--json", "--from-revision", "0", "--task", task, "--until-finished"
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def texts(events: list[dict[str, object]], *kinds: str) -> list[tuple[str, str]]:
    """(kind, text) of the output events among ``events``, in order."""
    return [
        (str(e["kind"]), str(e[str(e["kind"])]["text"]))  # type: ignore[index]
        for e in events
        if e["kind"] in kinds
    ]


def state(server: ChildProcess, task: str) -> state_pb.TaskState:
    with Client(ConnectOptions(target=server.address)) as client:
        (found,) = client.snapshot(task_ids=[task]).tasks
        return found


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of every process below ``pid`` (Linux /proc)."""
    found: list[tuple[int, str]] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            children = [int(child) for child in listing.read().split()]
    except OSError:
        return found
    for child in children:
        try:
            with open(f"/proc/{child}/comm") as comm:
                found.append((child, comm.read().strip()))
        except OSError:
            continue
        found.extend(descendants(child))
    return found


def wait_for_descendant(pid: int, name: str) -> None:
    """Wait until a process named ``name`` runs below ``pid``: a signal then reaches it.

    A shell that is still forking it would take the signal for itself and let the child
    run on, so a test that signals "once the command printed something" races.
    """
    wait_for(lambda: any(comm == name for _, comm in descendants(pid)), timeout=30)
