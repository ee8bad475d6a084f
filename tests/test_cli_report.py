"""``execstream report``: says what was stored, and never reports dropped events as done."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from execstream.client import Client, ConnectOptions, pb

from .support.cli import EXECSTREAM, cli, cli_env, replay, state
from .support.helpers import wait_for
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


def test_a_call_that_sent_nothing_names_no_revision(server: ServerProcess) -> None:
    """Every line skipped as stored: no commit of this call reached a revision to name."""
    numbered = lines("all-skipped", EVENTS[:2], seqs=True)
    assert cli(server, "report", stdin=numbered).returncode == 0
    for mode in ("--resume", "--replay"):
        again = cli(server, "report", mode, stdin=numbered)
        assert again.returncode == 0, again.stderr
        assert again.stderr == "reported 2 events: 0 stored, 2 already stored; nothing sent\n"


def test_a_task_id_taken_midway_keeps_the_tasks_before_it(server: ServerProcess) -> None:
    cli(server, "report", stdin=lines("taken", EVENTS[:1]))
    stdin = lines("fresh-before", EVENTS) + lines("taken", EVENTS)
    done = cli(server, "report", stdin=stdin)
    assert done.returncode == 1
    assert done.stderr.startswith("error: task 'taken' already exists: nothing of it was stored")
    assert "stdin line 5 on" in done.stderr
    assert state(server, "fresh-before").status == pb.TASK_STATUS_SUCCEEDED
    assert state(server, "taken").last_seq == 1


def test_replay_of_an_unnumbered_file_stores_each_event_once(server: ServerProcess) -> None:
    whole = lines("replayed", EVENTS)  # no seq on any line, as every docs example
    half = "".join(whole.splitlines(keepends=True)[:2])
    assert cli(server, "report", stdin=half).returncode == 0
    done = cli(server, "report", "--replay", stdin=whole)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("reported 4 events: 2 stored, 2 already stored;")
    again = cli(server, "report", "--replay", stdin=whole)
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith("reported 4 events: 0 stored, 4 already stored;")
    kinds = [e["kind"] for e in replay(server, "replayed")]
    assert kinds == ["started", "stdout", "stdout", "finished"]


def test_replay_numbers_lines_per_task_when_tasks_interleave(server: ServerProcess) -> None:
    a, b = lines("inter-a", EVENTS).splitlines(True), lines("inter-b", EVENTS).splitlines(True)
    mixed = "".join(line for pair in zip(a, b, strict=True) for line in pair)
    assert cli(server, "report", stdin=a[0] + b[0] + a[1]).returncode == 0
    done = cli(server, "report", "--replay", stdin=mixed)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("reported 8 events: 5 stored, 3 already stored;")
    for task in ("inter-a", "inter-b"):
        assert state(server, task).last_seq == 4
        assert [e["stdout"]["text"] for e in replay(server, task) if e["kind"] == "stdout"] == [  # type: ignore[index]
            "step 1\n",
            "step 2\n",
        ]


def test_the_revision_counts_first_events_too(server: ServerProcess) -> None:
    done = cli(server, "report", stdin=lines("only-first", EVENTS[:1]))
    assert done.returncode == 0, done.stderr
    revision = state(server, "only-first").last_revision
    assert revision > 0
    assert done.stderr == (f"reported 1 event: 1 stored; committed through revision {revision}\n")


def test_empty_or_closed_stdin_is_refused(server: ServerProcess) -> None:
    empty = cli(server, "report", stdin="")
    assert (empty.returncode, empty.stderr) == (
        1,
        "error: report: stdin held no events; nothing was sent\n",
    )
    closed = subprocess.run(
        [*EXECSTREAM, "report"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        env=cli_env(server.address), timeout=60, pass_fds=(),
        preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert (closed.returncode, closed.stderr) == (
        2,
        "error: report: stdin is closed; pipe the events into it\n",
    )


def test_an_over_long_event_names_its_stdin_line(server: ServerProcess) -> None:
    events: list[dict[str, object]] = [*EVENTS[:2], {"stdout": {"text": "x" * 70_000}}, *EVENTS[2:]]
    done = cli(server, "report", stdin=lines("too-long", events))
    assert done.returncode == 2
    assert done.stderr == (
        "error: stdin line 3: stdout.text: is 70000 bytes; the limit is 65536; "
        "committed: too-long through seq 1\n"
    )


def test_a_bad_line_midway_says_how_many_events_were_stored(server: ServerProcess) -> None:
    stdin = lines("bad-later", EVENTS[:3]) + "{not json\n"
    done = cli(server, "report", stdin=stdin)
    assert done.returncode == 2
    assert done.stderr.startswith("error: stdin line 4: not an ExecutionEvent: ")
    assert done.stderr.endswith(" (the 3 events before it were stored)\n")
    assert done.stderr.count("\n") == 1
    assert state(server, "bad-later").last_seq == 3


def last_seqs(server: ServerProcess) -> dict[str, int]:
    with Client(ConnectOptions(target=server.address)) as client:
        return {task.task_id: task.last_seq for task in client.snapshot().tasks}


def test_a_server_that_goes_away_gets_each_tasks_committed_seq(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "gone.db").start()
    proc = subprocess.Popen(
        [*EXECSTREAM, "report", "--wait", "1"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(server.address),
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        proc.stdin.write(lines("gone-a", EVENTS[:3]) + lines("gone-b", EVENTS[:1]))
        proc.stdin.flush()
        wait_for(lambda: last_seqs(server) == {"gone-a": 3, "gone-b": 1}, timeout=30)
        server.kill()
        proc.stdin.write(lines("gone-a", EVENTS[3:]))
        proc.stdin.close()
        assert proc.wait(60) == 3
    finally:
        proc.kill()
        server.kill()
    assert proc.stderr is not None
    last = proc.stderr.read().splitlines()[-1]
    assert last.startswith(f"error: cannot reach execstream at {server.address}: ")
    assert last.endswith("; committed: gone-a through seq 3, gone-b through seq 1")


def test_resume_and_replay_work_with_a_sidecar_token(tmp_path: Path) -> None:
    from execstream_server.transport.auth import Role, create_token

    tokens = str(tmp_path / "tokens.json")
    token = create_token(tokens, Role.SIDECAR, sidecar_id="bot-1")
    server = ServerProcess(tmp_path / "auth.db", "--auth-file", tokens).start()
    env = {"EXECSTREAM_TOKEN": token, "EXECSTREAM_SIDECAR": "bot-1"}
    try:
        for event in EVENTS[:2]:
            done = cli(server, "report", "--resume", stdin=lines("tok", [event]), env=env)
            assert done.returncode == 0, done.stderr
        done = cli(server, "report", "--replay", stdin=lines("tok", EVENTS), env=env)
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith("reported 4 events: 2 stored, 2 already stored;")
    finally:
        server.kill()
