"""``execstream run`` and ``run-llm``: nothing runs unless its task can be stored.

A reused task id, another sidecar's task or an unreachable server ends the command before
it starts, with one line; a server that comes up within ``--wait`` is waited for; the
command starts with default signals even from a background job.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from execstream.client import pb

from .support.cli import (
    EXECSTREAM,
    cli,
    cli_env,
    replay,
    state,
    texts,
    wait_for_descendant,
)
from .support.helpers import free_port
from .support.llm_fakes import FakeLlmServer, ollama_reply
from .support.processes import ServerProcess

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("run") / "run.db").start()
    yield proc
    proc.kill()


def touch(path: Path) -> list[str]:
    return [sys.executable, "-c", f"open({str(path)!r}, 'w').close(); print('ran')"]


def test_a_reused_task_id_is_refused_and_nothing_runs(
    server: ServerProcess, tmp_path: Path
) -> None:
    first = cli(server, "run", "--task", "hello", "--", *touch(tmp_path / "first"))
    assert first.returncode == 0, first.stderr
    before = state(server, "hello")

    again = cli(server, "run", "--task", "hello", "--", *touch(tmp_path / "second"))
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == (
        "error: task 'hello' already exists: nothing was run; use a fresh --task id "
        "(or leave --task out for a unique one)\n"
    )
    assert not (tmp_path / "second").exists()
    after = state(server, "hello")
    assert (after.last_seq, after.status) == (before.last_seq, pb.TASK_STATUS_SUCCEEDED)


def test_another_sidecars_task_is_refused_and_nothing_runs(
    server: ServerProcess, tmp_path: Path
) -> None:
    cli(server, "run", "--task", "owned", "--sidecar", "laptop", "--", "true")
    done = cli(server, "run", "--task", "owned", "--sidecar", "ci", "--", *touch(tmp_path / "ran"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: task 'owned' ")
    assert done.stderr.count("\n") == 1 and "nothing was run" in done.stderr
    assert not (tmp_path / "ran").exists()


def test_run_without_a_task_id_gets_a_unique_one(server: ServerProcess) -> None:
    ids = set()
    for _ in range(2):
        done = cli(server, "run", "--", "echo", "hi")
        assert done.returncode == 0, done.stderr
        (line,) = done.stderr.splitlines()
        ids.add(line.removeprefix("task "))
    assert len(ids) == 2
    for task_id in ids:
        assert state(server, task_id).status == pb.TASK_STATUS_SUCCEEDED


def test_run_llm_with_a_reused_task_id_calls_no_model(server: ServerProcess) -> None:
    args = ["run-llm", "--task", "llm-dup", "--backend", "ollama", "--model", "llama3.2:3b"]
    with FakeLlmServer([ollama_reply(["Hi"]), ollama_reply(["again"])]) as fake:
        first = cli(server, *args, "--prompt", "hi", "--base-url", fake.base_url)
        assert first.returncode == 0, first.stderr
        again = cli(server, *args, "--prompt", "hi", "--base-url", fake.base_url)
        assert len(fake.requests) == 1, "the second run-llm must not call the model"
    assert again.returncode == 1
    assert again.stderr.startswith("error: task 'llm-dup' already exists: the model was not")
    assert again.stdout == ""


def test_run_fails_fast_when_the_server_is_down(tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    done = cli(None, "run", "--wait", "1", "--", *touch(tmp_path / "ran"), target=target)
    assert done.returncode == 3
    first, last = done.stderr.splitlines()
    assert first == f"execstream at {target}: connection refused; retrying for up to 1s…"
    assert last == (
        f"error: cannot reach execstream at {target}: connection refused (gave up after 1s)"
    )
    assert not (tmp_path / "ran").exists()


def test_run_waits_for_a_server_that_comes_up(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "late.db")
    proc = subprocess.Popen(
        [*EXECSTREAM, "run", "--task", "late", "--wait", "60", "--", "echo", "in time"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(server.address),
    )
    try:
        assert proc.stderr is not None
        assert "retrying for up to 60s" in proc.stderr.readline()
        server.start()
        assert proc.wait(60) == 0
        assert proc.stdout is not None and proc.stdout.read() == "in time\n"
        assert state(server, "late").status == pb.TASK_STATUS_SUCCEEDED
    finally:
        proc.kill()
        proc.communicate()
        server.kill()


@pytest.mark.parametrize("run", range(6))
def test_pty_keeps_the_exact_order_of_stdout_and_stderr(server: ServerProcess, run: int) -> None:
    """The issue's own scenario, which without --pty was stored ``a c b`` in 5 of 6 runs."""
    script = "echo a; echo b >&2; echo c"
    done = cli(server, "run", "--task", f"pty-{run}", "--pty", "--", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a\nb\nc\n"
    stored = texts(replay(server, f"pty-{run}"), "stdout", "stderr")
    assert stored == [("stdout", "a\n"), ("stdout", "b\n"), ("stdout", "c\n")]


# Run argv[1:] with SIGINT and SIGQUIT ignored and SIGINT blocked, as a background job
# of a script (or a CI runner) starts it.
_AS_BACKGROUND_JOB = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGQUIT, signal.SIG_IGN)\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def test_the_command_starts_with_default_signals_from_a_background_job(
    server: ServerProcess,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _AS_BACKGROUND_JOB, *EXECSTREAM, "run", "--task", "sigdfl",
         "--", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"],
        capture_output=True, text=True, env=cli_env(server.address), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    masks = dict(line.split(":\t") for line in done.stdout.splitlines())
    standard = (1 << 31) - 2  # signals 1-31; glibc keeps 32 and 33 for itself
    assert int(masks["SigBlk"], 16) & standard == 0
    assert int(masks["SigIgn"], 16) & standard == 0


def test_ctrl_c_reaches_the_command_from_a_background_job(server: ServerProcess) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _AS_BACKGROUND_JOB, *EXECSTREAM, "run", "--task", "bg-int",
         "--", "sh", "-c", "echo started; sleep 60; echo never"],
        stdout=subprocess.PIPE, text=True, env=cli_env(server.address),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        wait_for_descendant(proc.pid, "sleep")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 128 + signal.SIGINT
        assert proc.stdout.read() == ""
    finally:
        proc.kill()
        proc.communicate()
    assert state(server, "bg-int").status == pb.TASK_STATUS_CANCELLED
