"""A task's first event, sent again after a lost answer, is told apart from a taken task id.

``run``, ``run-llm`` and ``report`` commit a new task's first event alone and resend it when
the call breaks. The resend must not adopt someone else's task: its ``started`` event is
unique to the invocation, so the server answers a taken id with SEQ_CONFLICT and only our
own first try comes back as a duplicate.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from execstream.client import pb

from .support.cli import cli, replay, state
from .support.marker_proxy import MarkerProxy
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

SIDECAR = {"EXECSTREAM_SIDECAR": "laptop"}
# gRPC makes up to 5 tries of a call itself (service_config.json): losing each of them makes
# the command's own resend, after the call failed, the one that reaches the server.
GRPC_TRIES = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("first") / "first.db").start()
    yield proc
    proc.kill()


def touch(path: Path) -> list[str]:
    return [sys.executable, "-c", f"open({str(path)!r}, 'w').close(); print('ran')"]


def running_task(server: ServerProcess, task: str, started: Mapping[str, object]) -> None:
    """A task left RUNNING by a sidecar of the same id (a crashed earlier run, say)."""
    line = json.dumps({"task_id": task, "started": started})
    done = cli(server, "report", stdin=line + "\n", env=SIDECAR)
    assert done.returncode == 0, done.stderr
    assert state(server, task).status == pb.TASK_STATUS_RUNNING


def test_a_resent_first_event_does_not_adopt_a_running_task(
    server: ServerProcess, tmp_path: Path
) -> None:
    command = touch(tmp_path / "ran")
    # The very started event an earlier `run --task busy -- COMMAND` would have sent.
    running_task(server, "busy", {"backend": "shell", "description": shlex.join(command)})
    with MarkerProxy(server.port, b"busy", side="request", cuts=GRPC_TRIES) as proxy:
        done = cli(
            None, "run", "--task", "busy", "--wait", "60", "--", *command,
            target=proxy.address, env=SIDECAR,
        )  # fmt: skip
        assert proxy.cuts_left == 0, "every try of the first call was lost on its way"
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: task 'busy' already exists: nothing was run; use a fresh --task id "
        "(or leave --task out for a unique one)"
    )
    assert not (tmp_path / "ran").exists()
    after = state(server, "busy")
    assert (after.status, after.last_seq) == (pb.TASK_STATUS_RUNNING, 1)


def test_a_lost_answer_to_our_own_first_event_is_ours(
    server: ServerProcess, tmp_path: Path
) -> None:
    with MarkerProxy(server.port, b"lost-answer", side="response") as proxy:
        done = cli(
            None, "run", "--task", "lost-answer", "--", *touch(tmp_path / "ran"),
            target=proxy.address, env=SIDECAR,
        )  # fmt: skip
        assert proxy.cut.is_set(), "the answer to the first try was lost"
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ran").exists() and done.stdout == "ran\n"
    kinds = [e["kind"] for e in replay(server, "lost-answer")]
    assert kinds == ["started", "status", "stdout", "finished"]  # the first event once


def test_report_does_not_adopt_a_running_task_after_a_lost_first_try(
    server: ServerProcess,
) -> None:
    started = {"backend": "shell", "description": "nightly"}
    running_task(server, "nightly", started)
    stdin = "".join(
        json.dumps({"task_id": "nightly", **event}) + "\n"
        for event in ({"started": started}, {"stdout": {"text": "not mine\n"}})
    )
    with MarkerProxy(server.port, b"nightly", side="request", cuts=GRPC_TRIES) as proxy:
        done = cli(None, "report", "--wait", "60", stdin=stdin, target=proxy.address, env=SIDECAR)
        assert proxy.cuts_left == 0
    assert done.returncode == 1
    assert "error: task 'nightly' already exists" in done.stderr
    assert state(server, "nightly").last_seq == 1


def test_report_continues_its_own_task_after_a_lost_answer(server: ServerProcess) -> None:
    stdin = "".join(
        json.dumps({"task_id": "mine", **event}) + "\n"
        for event in (
            {"started": {"backend": "shell"}},
            {"stdout": {"text": "one\n"}},
            {"finished": {"outcome": "OUTCOME_SUCCEEDED"}},
        )
    )
    with MarkerProxy(server.port, b"mine", side="response") as proxy:
        done = cli(None, "report", stdin=stdin, target=proxy.address, env=SIDECAR)
        assert proxy.cut.is_set()
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1].startswith("reported 3 events: 3 stored;")
    assert state(server, "mine").status == pb.TASK_STATUS_SUCCEEDED
