"""``execstream report``: says what was stored, and never reports dropped events as done."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from execstream.client import pb

from .support.cli import cli, replay, state
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

EVENTS: list[dict[str, object]] = [
    {"started": {"backend": "shell"}},
    {"stdout": {"text": "step 1\n"}},
    {"stdout": {"text": "step 2\n"}},
    {"finished": {"outcome": "OUTCOME_SUCCEEDED", "exit_code": 0}},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("report") / "report.db").start()
    yield proc
    proc.kill()


def lines(task: str, events: list[dict[str, object]], *, seqs: bool = False) -> str:
    return "".join(
        json.dumps({"task_id": task, **({"seq": n} if seqs else {}), **e}) + "\n"
        for n, e in enumerate(events, start=1)
    )


def test_one_call_per_event_without_resume_is_refused_not_lost(server: ServerProcess) -> None:
    first = cli(server, "report", stdin=lines("one-by-one", EVENTS[:1]))
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith("reported 1 event: 1 stored; committed through revision ")
    second = cli(server, "report", stdin=lines("one-by-one", EVENTS[1:2]))
    assert second.returncode == 1
    assert second.stderr == (
        "error: task 'one-by-one' already exists: nothing of it was stored from stdin line 1 "
        "on; pass --resume to continue it, or use a fresh task id\n"
    )
    assert state(server, "one-by-one").last_seq == 1


def test_one_call_per_event_with_resume_stores_the_task(server: ServerProcess) -> None:
    for event in EVENTS:
        done = cli(server, "report", "--resume", stdin=lines("resumed", [event]))
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith("reported 1 event: 1 stored;")
    task = state(server, "resumed")
    assert (task.status, task.last_seq) == (pb.TASK_STATUS_SUCCEEDED, 4)
    kinds = [e["kind"] for e in replay(server, "resumed")]
    assert kinds == ["started", "stdout", "stdout", "finished"]


def test_a_resent_file_counts_what_was_already_stored(server: ServerProcess) -> None:
    numbered = lines("resent", EVENTS, seqs=True)
    first = cli(server, "report", stdin=numbered.splitlines(keepends=True)[0])
    assert first.returncode == 0, first.stderr
    whole = cli(server, "report", "--resume", stdin=numbered)
    assert whole.returncode == 0, whole.stderr
    assert whole.stderr.startswith("reported 4 events: 3 stored, 1 already stored;")
    again = cli(server, "report", "--resume", stdin=numbered)
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith("reported 4 events: 0 stored, 4 already stored;")
    without_resume = cli(server, "report", stdin=numbered)
    assert without_resume.returncode == 1
    assert "already exists" in without_resume.stderr
    assert state(server, "resent").last_seq == 4


def test_a_task_id_taken_midway_keeps_the_tasks_before_it(server: ServerProcess) -> None:
    cli(server, "report", stdin=lines("taken", EVENTS[:1]))
    stdin = lines("fresh-before", EVENTS) + lines("taken", EVENTS)
    done = cli(server, "report", stdin=stdin)
    assert done.returncode == 1
    assert done.stderr.startswith("error: task 'taken' already exists: nothing of it was stored")
    assert "stdin line 5 on" in done.stderr
    assert state(server, "fresh-before").status == pb.TASK_STATUS_SUCCEEDED
    assert state(server, "taken").last_seq == 1
