"""Every command that needs the server says so at once when it is down, and does nothing.

One line says it is retrying, for ``--wait`` seconds; then one line says it gave up, exit
3. ``report`` stores nothing, ``run-llm`` calls no model, ``pricing --reprice`` and
``snapshot`` print no table.
"""

from __future__ import annotations

import json

import pytest

from .support.cli import cli
from .support.helpers import free_port
from .support.llm_fakes import FakeLlmServer, ollama_error, ollama_reply
from .support.processes import ServerProcess

pytestmark = pytest.mark.server


def gave_up(target: str) -> list[str]:
    return [
        f"execstream at {target}: connection refused; retrying for up to 1s…",
        f"error: cannot reach execstream at {target}: connection refused (gave up after 1s)",
    ]


@pytest.mark.parametrize(
    "args",
    [["report"], ["snapshot"], ["pricing", "--reprice"], ["watch"]],
    ids=lambda args: " ".join(args),
)
def test_a_command_gives_up_on_a_server_that_is_down(args: list[str]) -> None:
    target = f"127.0.0.1:{free_port()}"
    stdin = json.dumps({"task_id": "never", "started": {"backend": "shell"}}) + "\n"
    done = cli(None, *args, "--wait", "1", stdin=stdin, target=target)
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.splitlines() == gave_up(target)


def test_run_llm_gives_up_before_calling_the_model() -> None:
    target = f"127.0.0.1:{free_port()}"
    with FakeLlmServer([ollama_reply(["never"])]) as fake:
        done = cli(
            None, "run-llm", "--backend", "ollama", "--model", "llama3.2:3b", "--prompt", "hi",
            "--base-url", fake.base_url, "--wait", "1", target=target,
        )  # fmt: skip
        assert fake.requests == []
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.splitlines() == gave_up(target)


@pytest.mark.parametrize(
    ("replies", "after"),
    [
        ([ollama_error(400, "no such model")], "after 1 attempt"),
        ([ollama_error(500, "model is loading")] * 3, "after 3 attempts"),
    ],
    ids=["one", "three"],
)
def test_run_llm_counts_its_attempts_in_words(
    tmp_path_factory: pytest.TempPathFactory, replies: list[object], after: str
) -> None:
    server = ServerProcess(tmp_path_factory.mktemp("llm") / "llm.db").start()
    try:
        with FakeLlmServer(replies) as fake:  # type: ignore[arg-type]
            done = cli(
                server, "run-llm", "--backend", "ollama", "--model", "llama3.2:3b",
                "--prompt", "hi", "--base-url", fake.base_url,
            )  # fmt: skip
    finally:
        server.kill()
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith("error: ") and last.endswith(f"({after})")
