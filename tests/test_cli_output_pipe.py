"""A closed output pipe (``execstream snapshot | head -1``) ends a command with 141, quietly.

141 is 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe; rich's own
reaction would be exit 1, which a script cannot tell from a failure.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator

import pytest

from .support.cli import EXECSTREAM, cli, cli_env
from .support.processes import ServerProcess

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("pipe") / "pipe.db").start()
    for task in ("one", "two"):
        done = cli(proc, "run", "--task", task, "--", "echo", task)
        assert done.returncode == 0, done.stderr
    yield proc
    proc.kill()


def into_closed_pipe(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``execstream ARGS`` with its stdout a pipe whose reader has already gone.

    The reader closes before the command can write anything (it is still starting), as
    ``| head -1`` does once it has its line, so every write meets a closed pipe.
    """
    proc = subprocess.Popen(
        [*EXECSTREAM, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(server.address, COLUMNS="120"),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read()
    return subprocess.CompletedProcess(proc.args, proc.wait(60), "", stderr)


@pytest.mark.parametrize(
    "args",
    [
        ("snapshot",),
        ("pricing",),
        ("watch", "--task", "one", "--from-revision", "0", "--until-finished"),
        ("watch", "--json", "--task", "one", "--from-revision", "0", "--until-finished"),
    ],
    ids=["snapshot", "pricing", "watch", "watch-json"],
)
def test_a_closed_output_pipe_exits_141_quietly(server: ServerProcess, args: tuple[str]) -> None:
    done = into_closed_pipe(server, *args)
    assert (done.returncode, done.stderr) == (141, "")


def test_head_of_a_table_gets_its_first_line_and_no_complaint(server: ServerProcess) -> None:
    done = subprocess.run(
        ["sh", "-c", f"{shlex.join(EXECSTREAM)} pricing | head -1"],
        capture_output=True,
        text=True,
        env=cli_env(server.address),
        timeout=60,
    )
    assert done.stdout.startswith("price table ") and done.stderr == ""
