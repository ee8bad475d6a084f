"""``execstream run`` when things go wrong around the command: signals before it starts,
and a server that dies while it runs.

Ctrl-C (or SIGTERM, SIGHUP) while ``run`` is still waiting for the server ends it at once,
128 + N, with nothing run; a server that dies midway does not silence the command's output,
and the last line says what the command did and what is stored.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from execstream.client import pb

from .support.cli import EXECSTREAM, cli_env, state
from .support.helpers import free_port, wait_for
from .support.marker_proxy import MarkerProxy
from .support.processes import ServerProcess

pytestmark = pytest.mark.server


def touch(path: Path) -> list[str]:
    return [sys.executable, "-c", f"open({str(path)!r}, 'w').close(); print('ran')"]


def start_run(target: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*EXECSTREAM, "run", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(target),
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_a_signal_while_waiting_for_the_server_ends_run_at_once(
    sig: signal.Signals, tmp_path: Path
) -> None:
    target = f"127.0.0.1:{free_port()}"
    proc = start_run(target, "--wait", "600", "--", *touch(tmp_path / "ran"))
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stderr.readline().endswith("retrying for up to 600s…\n")  # it is waiting
    proc.send_signal(sig)
    try:
        assert proc.wait(60) == 128 + sig  # far sooner than the --wait it would sit out
    finally:
        proc.kill()
    assert proc.stdout.read() == ""
    assert proc.stderr.read() == f"error: interrupted by {sig.name}: the command was not started\n"
    assert not (tmp_path / "ran").exists()


def test_a_signal_while_the_first_event_is_unanswered_cancels_the_task(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "held.db").start()
    try:
        # The first event goes into a connection that stopped delivering: no answer comes.
        with MarkerProxy(server.port, b"held-1", side="request", hold=True) as proxy:
            proc = start_run(proxy.address, "--task", "held-1", "--", *touch(tmp_path / "ran"))
            wait_for(proxy.cut.is_set, timeout=60)
            proc.send_signal(signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=60)
            finally:
                proc.kill()
        assert (proc.returncode, out) == (128 + signal.SIGTERM, "")
        assert err == "error: interrupted by SIGTERM: the command was not started\n"
        assert not (tmp_path / "ran").exists()
        # It may have been stored: it was ended, not left RUNNING.
        task = state(server, "held-1")
        assert (task.status, task.last_seq) == (pb.TASK_STATUS_CANCELLED, 2)
        assert task.error == "cancelled by SIGTERM before the command ran"
    finally:
        server.kill()


# Prints a line, waits for a file, prints ten more: the server is killed in between.
_TWO_HALVES = """
import os, sys, time
print("first half", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
for i in range(10):
    print(f"second half {i}", flush=True)
"""


def test_the_output_is_shown_to_the_end_when_the_server_dies(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "dies.db").start()
    go = tmp_path / "go"
    try:
        proc = start_run(
            server.address, "--task", "orphan", "--wait", "1", "--",
            sys.executable, "-c", _TWO_HALVES, str(go),
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline() == "first half\n"
        wait_for(lambda: state(server, "orphan").last_seq == 3, timeout=30)
        server.kill()
        go.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        server.kill()
    assert out == "".join(f"second half {i}\n" for i in range(10))
    assert proc.returncode == 3
    lines = err.splitlines()
    assert lines[0] == f"execstream at {server.address}: connection lost; retrying for up to 1s…"
    assert lines[-1].startswith(f"error: cannot reach execstream at {server.address}: ")
    assert lines[-1].endswith(
        "; the command exited with code 0; task orphan was left RUNNING after seq 3"
    )
    assert len(lines) == 2
    server.start()
    task = state(server, "orphan")
    assert (task.status, task.last_seq) == (pb.TASK_STATUS_RUNNING, 3)
