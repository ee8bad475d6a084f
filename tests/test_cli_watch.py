"""``execstream watch``: the finish line counts every attempt; an absent server fails fast."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest

from .support.cli import cli, replay, state
from .support.helpers import free_port
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

MODEL = {"backend": "claude", "model": "claude-sonnet-5-5"}
# A first attempt billed 5,000 in / 100 out and was retried; the second billed 5,000 / 800.
RETRIED: list[dict[str, Any]] = [
    {"started": MODEL},
    {"token": {"text": "partial"}},
    {
        "status": {
            "status": "TASK_STATUS_RETRYING",
            "message": "overloaded",
            "usage": {"input_tokens": 5000, "output_tokens": 100, "cache_read_tokens": 300},
        }
    },
    {"attempt": 2, "token": {"text": "answer"}},
    {
        "attempt": 2,
        "finished": {
            "outcome": "OUTCOME_SUCCEEDED",
            "usage": {"input_tokens": 5000, "output_tokens": 800, "reasoning_tokens": 200},
        },
    },
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("watch") / "watch.db").start()
    yield proc
    proc.kill()


def report_retried(server: ServerProcess, task: str) -> None:
    stdin = "".join(json.dumps({"task_id": task, **event}) + "\n" for event in RETRIED)
    done = cli(server, "report", stdin=stdin)
    assert done.returncode == 0, done.stderr
    usage = state(server, task).usage
    assert (usage.input_tokens, usage.output_tokens) == (10_000, 900)


def finish_line(server: ServerProcess, task: str, *from_revision: str) -> str:
    done = cli(server, "watch", "--task", task, "--until-finished", *from_revision)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def test_the_finish_line_sums_the_tokens_of_every_attempt(server: ServerProcess) -> None:
    report_retried(server, "retried")
    line = finish_line(server, "retried", "--from-revision", "0")
    assert line.startswith(
        "SUCCEEDED · 10,000 in / 900 out tokens (300 cache read, 200 reasoning) · cost $"
    )


def test_a_watch_that_joins_after_a_retry_still_sums_every_attempt(
    server: ServerProcess,
) -> None:
    report_retried(server, "joined")
    events = replay(server, "joined")
    second_attempt = next(int(str(e["revision"])) for e in events if e.get("attempt") == 2)
    line = finish_line(server, "joined", "--from-revision", str(second_attempt))
    assert line.startswith("SUCCEEDED · 10,000 in / 900 out tokens (300 cache read, 200 reasoning)")


def test_watch_fails_fast_when_the_server_is_down() -> None:
    target = f"127.0.0.1:{free_port()}"
    done = cli(None, "watch", "--wait", "1", target=target)
    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        f"execstream at {target}: connection refused; retrying for up to 1s…",
        f"error: cannot reach execstream at {target}: connection refused (gave up after 1s)",
    ]


# A first attempt sent usage updates and ended without a final figure, so its last update
# stands; the second sent one update and then its final usage.
METERED: list[dict[str, Any]] = [
    {"started": MODEL},
    {"usage": {"usage": {"input_tokens": 1000, "output_tokens": 10}}},
    {"usage": {"usage": {"input_tokens": 1000, "output_tokens": 50}}},
    {"status": {"status": "TASK_STATUS_RETRYING", "message": "connection lost"}},
    {"attempt": 2, "usage": {"usage": {"input_tokens": 1000, "output_tokens": 5}}},
    {
        "attempt": 2,
        "finished": {
            "outcome": "OUTCOME_SUCCEEDED",
            "usage": {"input_tokens": 1000, "output_tokens": 70},
        },
    },
]


def test_watch_shows_the_running_cost_and_the_final_sum_counts_each_attempt_once(
    server: ServerProcess,
) -> None:
    stdin = "".join(json.dumps({"task_id": "metered", **event}) + "\n" for event in METERED)
    done = cli(server, "report", stdin=stdin)
    assert done.returncode == 0, done.stderr
    done = cli(server, "watch", "--task", "metered", "--until-finished", "--from-revision", "0")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    running = [line for line in lines if line.startswith("so far: ")]
    assert len(running) == 3, lines
    assert running[0].startswith("so far: 1,000 in / 10 out tokens · running cost $")
    assert lines[-1].startswith("SUCCEEDED · 2,000 in / 120 out tokens · cost $"), lines[-1]
    # Attempt 2's running cost stands on attempt 1's kept figure (its second update).
    updates = [cast(dict[str, Any], e["usage"]) for e in replay(server, "metered") if "usage" in e]

    def total(cost: dict[str, Any]) -> int:
        return int(cost["actual"]["total_nanos"])

    assert total(updates[2]["task_cost"]) == total(updates[1]["cost"]) + total(updates[2]["cost"])


def test_until_finished_from_a_revision_after_the_finish_returns(server: ServerProcess) -> None:
    done = cli(server, "run", "--task", "ended-early", "--", "true")
    assert done.returncode == 0, done.stderr
    ended_at = state(server, "ended-early").last_revision
    cli(server, "run", "--task", "later", "--", "true")  # the log moves on past the finish
    later = str(state(server, "later").last_revision)
    watched = cli(
        server, "watch", "--task", "ended-early", "--until-finished", "--from-revision", later,
        timeout=30,
    )  # fmt: skip
    assert (watched.returncode, watched.stdout) == (0, "")
    assert watched.stderr == "ended-early had already ended: SUCCEEDED\n"
    # From the finish itself, the replay shows it, and the watch ends on it.
    replayed = cli(
        server, "watch", "--task", "ended-early", "--until-finished",
        "--from-revision", str(ended_at), timeout=30,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines()[-1] == "SUCCEEDED · exit 0"


def test_the_finish_line_is_one_line_when_the_error_has_several(server: ServerProcess) -> None:
    error = "Traceback (most recent call last):\n  File x\nValueError: bad\n"
    stdin = "".join(
        json.dumps({"task_id": "multi-line", **event}) + "\n"
        for event in (
            {"started": {"backend": "shell"}},
            {"finished": {"outcome": "OUTCOME_FAILED", "exit_code": 1, "error": error}},
        )
    )
    assert cli(server, "report", stdin=stdin).returncode == 0
    done = cli(server, "watch", "--task", "multi-line", "--until-finished", "--from-revision", "0")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == (
        "FAILED · exit 1 · Traceback (most recent call last): File x ValueError: bad"
    )
