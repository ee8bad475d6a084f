"""The client commands through the real ``execstream`` entry point against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from execstream.client import pb

from tests.support.cli import cli, replay, state, wait_for_descendant
from tests.support.helpers import free_port
from tests.support.llm_fakes import (
    FakeLlmServer,
    ollama_error,
    ollama_reply,
    openai_reply,
    openai_usage,
)
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("cli") / "x.db").start()
    yield proc
    proc.kill()


def test_run_streams_both_outputs_and_reports_the_exit_code(server: ServerProcess) -> None:
    script = "echo out one; echo err one >&2; echo out two; exit 3"
    done = cli(server, "run", "--task", "sh-1", "--label", "team=infra", "--", "sh", "-c", script)
    assert done.returncode == 3
    assert done.stdout == "out one\nout two\n"
    assert "err one" in done.stderr
    events = replay(server, "sh-1")
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["started", "status"] and kinds[-1] == "finished"
    assert events[1]["status"]["message"].startswith("pid ")  # type: ignore[index]
    assert [e["stdout"]["text"] for e in events if e["kind"] == "stdout"] == [  # type: ignore[index]
        "out one\n",
        "out two\n",
    ]
    assert [e["stderr"]["text"] for e in events if e["kind"] == "stderr"] == ["err one\n"]  # type: ignore[index]
    assert events[-1]["finished"] == {  # proto3 JSON leaves out the zero cost fields
        **events[-1]["finished"],  # type: ignore[dict-item]
        "outcome": "OUTCOME_FAILED",
        "exit_code": 3,
    }
    task = state(server, "sh-1")
    labels = dict(task.labels)
    invocation = labels.pop("execstream.invocation")  # unique to this run: see first_event
    assert len(invocation) == 32 and int(invocation, 16) >= 0
    assert (task.status, task.exit_code, labels) == (pb.TASK_STATUS_FAILED, 3, {"team": "infra"})


def test_run_forwards_sigterm_and_reports_cancelled(server: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "got-signal"
    child = (
        "import pathlib, signal, sys, time\n"
        "def bye(signum, frame):\n"
        f"    pathlib.Path({str(marker)!r}).write_text(str(signum)); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "EXECSTREAM_TARGET": server.address}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "execstream",
            "run",
            "--task",
            "sig-1",
            "--",
            sys.executable,
            "-c",
            child,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    proc.stdout.close()
    assert marker.read_text() == str(int(signal.SIGTERM)), "the command itself got the signal"
    task = state(server, "sig-1")
    assert task.status == pb.TASK_STATUS_CANCELLED
    assert "SIGTERM" in task.error


def test_run_of_a_missing_command_fails_the_task(server: ServerProcess) -> None:
    done = cli(server, "run", "--task", "nope-1", "--", "no-such-command-here")
    assert done.returncode == 127
    assert done.stderr.strip().startswith("error: cannot run no-such-command-here")
    assert state(server, "nope-1").status == pb.TASK_STATUS_FAILED


def test_report_reads_json_lines_and_prices_the_task(server: ServerProcess) -> None:
    lines = [
        {"task_id": "js-1", "started": {"backend": "claude", "model": "claude-sonnet-5-5"}},
        {"task_id": "js-1", "token": {"text": "Hello "}},
        {"task_id": "js-1", "token": {"text": "world"}},
        {
            "task_id": "js-1",
            "finished": {
                "outcome": "OUTCOME_SUCCEEDED",
                "usage": {"input_tokens": 1000000, "output_tokens": 100000},
            },
        },
    ]
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    done = cli(server, "report", "--sidecar", "node-sidecar", stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert "reported 4 events" in done.stderr
    task = state(server, "js-1")
    assert (task.status, task.last_seq, task.sidecar_id) == (
        pb.TASK_STATUS_SUCCEEDED,
        4,
        "node-sidecar",
    )
    assert task.cost.actual.total_nanos == 3 * 10**9  # $2/MTok in + $10/MTok out

    watched = cli(server, "watch", "--from-revision", "0", "--task", "js-1", "--until-finished")
    assert watched.returncode == 0
    out = watched.stdout.splitlines()
    assert out[0] == "── js-1 on node-sidecar"
    assert "Hello world" in out, "tokens stream inline, on one line"
    assert out[-1].startswith("SUCCEEDED · 1,000,000 in / 100,000 out tokens · cost $3.00")

    again = cli(server, "report", "--sidecar", "node-sidecar", "--resume", stdin=stdin)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "FAILED_PRECONDITION" in again.stderr


def test_report_names_the_bad_line(server: ServerProcess) -> None:
    stdin = '{"task_id": "bad-1", "started": {}}\n{"task_id": "bad-1", "stdot": {}}\n'
    done = cli(server, "report", stdin=stdin)
    assert done.returncode == 2
    assert done.stderr.startswith("error: stdin line 2: not an ExecutionEvent")
    assert done.stderr.count("\n") == 1


def test_snapshot_table_and_json(server: ServerProcess) -> None:
    cli(server, "run", "--task", "snap-ok", "--", "true")
    table = cli(server, "snapshot", "--task", "snap-ok", "--task", "js-1")
    assert table.returncode == 0
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[3:] if line.strip()}
    assert "SUCCEEDED" in rows["snap-ok"] and "shell" in rows["snap-ok"]
    assert "$3.00" in rows["js-1"] and "1,000,000" in rows["js-1"]
    assert "total" in rows
    as_json = json.loads(cli(server, "snapshot", "--json", "--status", "failed").stdout)
    assert as_json["tasks"] and {t["status"] for t in as_json["tasks"]} == {"TASK_STATUS_FAILED"}
    assert int(as_json["revision"]) >= 1


def test_health_and_unreachable_server_are_one_line() -> None:
    target = f"127.0.0.1:{free_port()}"
    done = cli(None, "snapshot", "--wait", "0", target=target)
    assert done.returncode == 3
    assert done.stderr == f"error: cannot reach execstream at {target}: connection refused\n"
    health = cli(None, "health", target=target)
    assert health.returncode == 3
    assert health.stderr == (
        f"unhealthy: cannot reach execstream at {target}: connection refused\n"
    )


def test_health_of_a_serving_server(server: ServerProcess) -> None:
    done = cli(server, "health")
    assert (done.returncode, done.stdout.split()[0]) == (0, "SERVING")
    named = cli(server, "health", "--service", "execstream.v1.ExecutionService")
    assert named.returncode == 0


def test_run_llm_streams_from_ollama_and_openai(server: ServerProcess) -> None:
    with FakeLlmServer(
        [ollama_error(500, "model is loading"), ollama_reply(["Hi", " there"])]
    ) as fake:
        done = cli(
            server, "run-llm", "--task", "llm-ollama", "--backend", "ollama",
            "--model", "llama3.2:3b", "--prompt", "say hi", "--base-url", fake.base_url,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hi there\n"
    task = state(server, "llm-ollama")
    assert (task.status, task.attempt, task.backend) == (pb.TASK_STATUS_SUCCEEDED, 2, "ollama")
    assert (task.usage.input_tokens, task.usage.output_tokens) == (26, 298)
    assert task.cost.local and task.cost.actual.total_nanos == 0
    kinds = [e["kind"] for e in replay(server, "llm-ollama")]
    assert kinds == ["started", "status", "token", "token", "finished"]

    usage = openai_usage(1200, 50, cached=1000)
    with FakeLlmServer([openai_reply(["4"], usage=usage, model="gpt-4o-mini")]) as fake:
        done = cli(
            server, "run-llm", "--task", "llm-openai", "--backend", "openai", "--quiet",
            "--model", "gpt-4o-mini", "--prompt", "2+2?", "--base-url", fake.base_url,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task = state(server, "llm-openai")
    assert (task.usage.input_tokens, task.usage.cache_read_tokens) == (200, 1000)
    assert task.usage.output_tokens == 50


def test_watch_survives_a_restart_through_the_cli(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "w.db").start()
    try:
        cli(server, "run", "--task", "w-1", "--", "echo", "before")
        env = {**os.environ, "EXECSTREAM_TARGET": server.address}
        watcher = subprocess.Popen(
            [sys.executable, "-m", "execstream", "watch", "--json", "--from-revision", "0",
             "--task", "w-1", "--task", "w-2", "--until-finished"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert watcher.stdout is not None and watcher.stderr is not None
        seen = [json.loads(watcher.stdout.readline()) for _ in range(4)]
        server.kill()
        server.start()
        cli(server, "run", "--task", "w-2", "--", "echo", "after")
        rest = [json.loads(line) for line in watcher.stdout]
        assert watcher.wait(30) == 0
        revisions = [int(e["revision"]) for e in seen + rest]
        assert revisions == list(range(1, 9))
        # The pause said why, once.
        assert watcher.stderr.read() == (
            f"execstream at {server.address}: connection lost; retrying for up to 10s…\n"
        )
    finally:
        server.kill()


def test_run_splits_a_line_longer_than_the_event_limit(server: ServerProcess) -> None:
    done = cli(server, "run", "--task", "long-1", "--quiet", "--", sys.executable, "-c",
               "print('é' * 70000)")  # fmt: skip
    assert done.returncode == 0, done.stderr
    texts = [e["stdout"]["text"] for e in replay(server, "long-1") if e["kind"] == "stdout"]  # type: ignore[index]
    assert len(texts) == 3 and all(len(t.encode()) <= 64 * 1024 for t in texts)
    assert "".join(texts) == "é" * 70000 + "\n"
    assert state(server, "long-1").status == pb.TASK_STATUS_SUCCEEDED


def test_run_keeps_reporting_when_its_own_reader_goes_away(server: ServerProcess) -> None:
    env = {**os.environ, "EXECSTREAM_TARGET": server.address}
    proc = subprocess.Popen(
        [sys.executable, "-m", "execstream", "run", "--task", "pipe-1", "--", "seq", "1", "3000"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "1\n"
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(60) == 0
    task = state(server, "pipe-1")
    assert (task.status, task.last_seq) == (pb.TASK_STATUS_SUCCEEDED, 3003)


def test_run_signals_the_whole_process_group(server: ServerProcess) -> None:
    env = {**os.environ, "EXECSTREAM_TARGET": server.address}
    proc = subprocess.Popen(
        [sys.executable, "-m", "execstream", "run", "--task", "group-1", "--", "sh", "-c",
         "echo started; sleep 60; echo never"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    wait_for_descendant(proc.pid, "sleep")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 128 + signal.SIGINT, "sleep, a grandchild, got the signal too"
    assert proc.stdout.read() == ""
    proc.stdout.close()
    assert state(server, "group-1").status == pb.TASK_STATUS_CANCELLED


def test_watch_until_finished_of_an_already_finished_task_returns(server: ServerProcess) -> None:
    cli(server, "run", "--task", "done-ok", "--", "true")
    cli(server, "run", "--task", "done-bad", "--", "false")
    ok = cli(server, "watch", "--task", "done-ok", "--until-finished")
    assert ok.returncode == 0 and "done-ok had already ended: SUCCEEDED" in ok.stderr
    both = cli(server, "watch", "--task", "done-ok", "--task", "done-bad", "--until-finished")
    assert both.returncode == 1


def test_the_cli_honours_execstream_tls(server: ServerProcess) -> None:
    """With EXECSTREAM_TLS=1 the CLI must not fall back to plaintext (and send a token in it)."""
    env = {**os.environ, "EXECSTREAM_TARGET": server.address, "EXECSTREAM_TLS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "execstream", "health", "--timeout", "2"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, "a TLS handshake with a plaintext server cannot succeed"
    assert done.stderr.endswith(
        "the server does not use TLS: leave out --tls, --ca, --cert and --key\n"
    )


def test_health_of_an_unknown_service_is_one_line(server: ServerProcess) -> None:
    done = cli(server, "health", "--service", "nosuch")
    assert done.returncode == 1
    assert done.stderr == "unhealthy: NOT_FOUND: the server has no service 'nosuch'\n"


def test_a_task_id_the_server_refuses_names_its_flag(server: ServerProcess) -> None:
    why = "has characters outside [A-Za-z0-9._:-], starting with a letter or digit"
    done = cli(server, "run", "--task", "bad id", "--", "echo", "never")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: --task 'bad id': {why}\n"
    llm = cli(server, "run-llm", "--task", "bad id", "--backend", "ollama", "--model", "m",
              "--prompt", "hi", "--base-url", "http://127.0.0.1:9")  # fmt: skip
    assert (llm.returncode, llm.stderr) == (2, f"error: --task 'bad id': {why}\n")
    line = json.dumps({"task_id": "fine", "started": {}}) + "\n"
    report = cli(server, "report", "--sidecar", "bad side", stdin=line)
    assert (report.returncode, report.stderr) == (2, f"error: --sidecar 'bad side': {why}\n")
    stdin = json.dumps({"task_id": "bad id", "started": {}}) + "\n"
    report = cli(server, "report", stdin=stdin)
    assert (report.returncode, report.stderr) == (2, f"error: stdin line 1: task_id: {why}\n")
