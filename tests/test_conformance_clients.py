"""Every client plays the one conformance scenario against a real server (tests/conformance).

Per language: a fresh ``execstream serve`` (auth on, the scenario's fixed price table), the
language's runner started with ``--target/--scenario/--token``, the restart handshake
(SIGKILL, start again on the same port and store, ``restarted`` on the runner's stdin), and
the runner's result compared with expected.json after the normalisation the README lists.
A language whose toolchain is missing fails: scripts/dev-setup installs every one.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .support.processes import ServerProcess

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT / "tests" / "conformance"
SCENARIO = CONFORMANCE / "scenario.json"
# The whole scenario, restart included, takes a few seconds; a loaded CI machine gets room.
RUN_TIMEOUT = 180.0


@dataclasses.dataclass(frozen=True)
class RunnerSpec:
    """How to build and start one language's runner (commands run from the repo root)."""

    toolchain: tuple[str, ...]  # programs that must be on PATH
    build: tuple[tuple[str, ...], ...]  # run once per session, in order
    command: tuple[str, ...]


RUNNERS: dict[str, RunnerSpec] = {
    "go": RunnerSpec(
        toolchain=("go",),
        build=(("go", "build", "-C", "clients/go", "-o", "bin/conformance", "./cmd/conformance"),),
        command=("clients/go/bin/conformance",),
    ),
    "java": RunnerSpec(
        # -o: scripts/dev-setup prefetched every Maven artifact; nothing downloads here.
        toolchain=("java", "mvn"),
        build=(("mvn", "-B", "-q", "-o", "-f", "clients/java/pom.xml", "process-test-classes"),),
        command=("clients/java/scripts/run-conformance",),
    ),
    "python": RunnerSpec(
        toolchain=(),
        build=(),
        command=(sys.executable, str(CONFORMANCE / "run_python.py")),
    ),
    "typescript": RunnerSpec(
        toolchain=("node", "npm"),
        build=(("npm", "run", "--silent", "build", "--prefix", "clients/node"),),
        command=("node", "clients/node/dist/conformance/runner.js"),
    ),
}

_built: dict[str, None] = {}


def build_runner(language: str, spec: RunnerSpec) -> None:
    missing = [tool for tool in spec.toolchain if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{language}: {', '.join(missing)} not on PATH (scripts/dev-setup installs it)")
    if language in _built:
        return
    for command in spec.build:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"{language}: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    _built[language] = None


def admin_token(auth_file: Path) -> str:
    create = ["token", "create", "--auth-file", str(auth_file), "--role", "admin"]
    done = subprocess.run(
        [sys.executable, "-m", "execstream", *create],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[0]


class RunnerProcess:
    """The runner as a child: JSON lines from its stdout, with a deadline."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        self.stderr = log.open("w")
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.deadline = time.monotonic() + RUN_TIMEOUT

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_message(self) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=max(0.0, self.deadline - time.monotonic()))
        except queue.Empty:
            self.fail(f"no result within {RUN_TIMEOUT:.0f}s")
        if line is None:
            self.proc.wait(10)
            self.fail(f"the runner exited with {self.proc.returncode} before its result")
        try:
            message: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            self.fail(f"not a JSON line on stdout: {line!r}")
        return message

    def answer(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def fail(self, why: str) -> NoReturn:
        self.stop()
        pytest.fail(f"{why}\n--- runner stderr ---\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stderr.close()


def play(runner: RunnerProcess, server: ServerProcess) -> dict[str, Any]:
    """Drive the protocol until the result; returns it."""
    while True:
        message = runner.next_message()
        if message.get("step") == "await_restart":
            server.kill()
            server.start()
            runner.answer("restarted")
        elif "error" in message:
            runner.fail(f"the runner failed: {message['error']}")
        elif "result" in message:
            result: dict[str, Any] = message["result"]
            if runner.proc.wait(30) != 0:
                runner.fail(f"the runner exited with {runner.proc.returncode} after its result")
            return result


def _strip(value: Any, log_id: str) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip(item, log_id)
            for key, item in value.items()
            if key != "time" and not key.endswith("Time")
        }
    if isinstance(value, list):
        return [_strip(item, log_id) for item in value]
    if value == log_id:
        return "<log_id>"
    return value


def normalise(result: dict[str, Any]) -> dict[str, Any]:
    """The README's normalisation: clocks dropped, the log id named, prose dropped."""
    log_id = result.get("snapshots", {}).get("main", {}).get("logId", "")
    assert log_id, "the snapshot 'main' carries no logId"
    normal: dict[str, Any] = _strip(result, log_id)
    for outcomes in (normal.get("sends", {}), normal.get("watch_errors", {})):
        for outcome in outcomes.values():
            error = outcome.get("error")
            if isinstance(error, dict):
                violations = error.get("fieldViolations") or []
                error["fieldViolations"] = [{"field": v["field"]} for v in violations]
    return normal


def pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True).splitlines()


@pytest.mark.parametrize("language", sorted(RUNNERS))
def test_client_plays_the_conformance_scenario(language: str, tmp_path: Path) -> None:
    spec = RUNNERS[language]
    build_runner(language, spec)
    auth_file = tmp_path / "tokens.toml"
    token = admin_token(auth_file)
    prices = str(CONFORMANCE / "prices.toml")
    server = ServerProcess(tmp_path / "x.db", "--auth-file", str(auth_file), "--pricing", prices)
    server.start()
    arguments = ["--target", server.address, "--scenario", str(SCENARIO), "--token", token]
    runner = RunnerProcess([*spec.command, *arguments], tmp_path / "runner.log")
    try:
        result = normalise(play(runner, server))
    finally:
        runner.stop()
        server.kill()
    expected = json.loads((CONFORMANCE / "expected.json").read_text())
    if result != expected:
        diff = difflib.unified_diff(pretty(expected), pretty(result), "expected", language, n=2)
        pytest.fail(f"{language} differs from expected.json:\n" + "\n".join(diff))
