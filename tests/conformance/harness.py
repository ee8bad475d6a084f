"""The harness side of the conformance scenario: the server's life and the runner's stdio.

A runner plays the steps of scenario.json with its language's client; the steps that are
the harness's (``kill``, ``start``) it hands over with ``{"step": "await_harness", "index":
N}`` and waits for ``done`` on its stdin. ``Stores`` does them: it kills the server, and to
start it again may first open the store on another port, commit events with a client of its
own there (events the runner's watches and reporter must then find without having seen
them committed), wait for a compaction, and kill it, before starting the server on the
runner's port, on the same store or a new one (another log identity).
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import grpc
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc
from google.protobuf import json_format

from ..support.processes import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "tests" / "conformance"
SCENARIO = CONFORMANCE / "scenario.json"
# The whole scenario, restarts included, takes seconds; a loaded CI machine gets room.
RUN_TIMEOUT = 300.0

Step = dict[str, Any]


def commit_events(step: Step) -> list[events_pb.ExecutionEvent]:
    """A harness commit's events: ``fill`` (``count`` copies of ``event``) then ``events``,
    numbered from ``first_seq``."""
    fill = step.get("fill")
    raws = ([fill["event"]] * fill["count"] if fill else []) + step.get("events", [])
    events = []
    for seq, raw in enumerate(raws, start=step["first_seq"]):
        event = json_format.ParseDict(raw, events_pb.ExecutionEvent())
        event.task_id, event.seq = step["task_id"], seq
        events.append(event)
    return events


class Stores:
    """The server the runner talks to (always on one port), and the stores behind it."""

    def __init__(self, directory: Path, token: str, *flags: str) -> None:
        self.directory = directory
        self.token = token
        self.flags = flags
        self.store = 0
        self.server = self._server()
        self.port = self.server.port

    def _server(self, *extra: str, port: int = 0) -> ServerProcess:
        database = self.directory / f"store-{self.store}.db"
        return ServerProcess(database, *self.flags, *extra, port=port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server.start()

    def kill(self) -> None:
        self.server.kill()

    def perform(self, step: Step) -> None:
        """Do a harness step of the scenario (``kill`` or ``start``)."""
        if step["op"] == "kill":
            self.kill()
            return
        assert step["op"] == "start", step
        self.kill()
        if step.get("new_store"):
            self.store += 1
        if "offline" in step:
            self._offline(step["offline"])
        self.server = self._server(port=self.port)  # the runner's port, the chosen store
        self.server.start()

    def _offline(self, plan: Step) -> None:
        """Open the store on another port, commit, wait for compaction, kill."""
        offline = self._server(*plan.get("flags", []))
        offline.start()
        try:
            with grpc.insecure_channel(offline.address) as channel:
                stub = service_pb2_grpc.ExecutionServiceStub(channel)
                metadata = (("authorization", f"Bearer {self.token}"),)
                for commit in plan.get("commits", []):
                    report = service_pb.ProgressReport(
                        sidecar_id=commit["sidecar_id"], events=commit_events(commit)
                    )
                    stub.ReportProgress(iter([report]), metadata=metadata, timeout=60)
                if "oldest_revision" in plan:
                    request = service_pb.GetSnapshotRequest(page_size=1)

                    def oldest() -> int:
                        snapshot = stub.GetSnapshot(request, metadata=metadata, timeout=30)
                        return int(snapshot.oldest_revision)

                    wait_until(lambda: oldest() == plan["oldest_revision"], "the compaction")
        finally:
            offline.kill()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.05)


class RunnerProcess:
    """The runner as a child: JSON lines from its stdout, with a deadline."""

    def __init__(self, command: list[str], log: Path, fail: Callable[[str], NoReturn]) -> None:
        self.log = log
        self._fail = fail
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
        self._fail(f"{why}\n--- runner stderr ---\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stderr.close()


def play(runner: RunnerProcess, stores: Stores, steps: list[Step]) -> dict[str, Any]:
    """Drive the protocol until the result; returns it."""
    while True:
        message = runner.next_message()
        if message.get("step") == "await_harness":
            stores.perform(steps[message["index"]])
            runner.answer("done")
        elif "error" in message:
            runner.fail(f"the runner failed: {message['error']}")
        elif "result" in message:
            result: dict[str, Any] = message["result"]
            if runner.proc.wait(30) != 0:
                runner.fail(f"the runner exited with {runner.proc.returncode} after its result")
            return result


# The snapshots whose log id names a log, and the placeholder each becomes.
LOG_IDS = (("main", "<log_id>"), ("new", "<new_log_id>"))


def _strip(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip(item, names)
            for key, item in value.items()
            if key not in ("time", "day") and not key.endswith("Time")
        }
    if isinstance(value, list):
        return [_strip(item, names) for item in value]
    if isinstance(value, str) and value in names:
        return names[value]
    return value


def _errors(normal: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for group in ("sends", "watch_errors", "report_errors"):
        for outcome in normal.get(group, {}).values():
            if isinstance(outcome.get("error"), dict):
                found.append(outcome["error"])
    return found


def normalise(result: dict[str, Any]) -> dict[str, Any]:
    """The README's normalisation: clocks dropped, the log ids named, prose dropped."""
    names: dict[str, str] = {}
    for snapshot, placeholder in LOG_IDS:
        log_id = result.get("snapshots", {}).get(snapshot, {}).get("logId", "")
        assert log_id, f"the snapshot {snapshot!r} carries no logId"
        names[log_id] = placeholder
    normal: dict[str, Any] = _strip(result, names)
    for error in _errors(normal):
        violations = error.get("fieldViolations") or []
        error["fieldViolations"] = [{"field": v["field"]} for v in violations]
    return normal
