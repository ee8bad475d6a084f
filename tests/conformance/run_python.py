"""The conformance runner for the Python client: plays scenario.json through ``AsyncClient``.

The protocol (arguments, JSON lines on stdout, the harness handshake) is in
tests/conformance/README.md. Everything the scenario checks goes through the client library:
the reporter numbers and commits, the watches resume, the errors come decoded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from execstream.client import (
    AsyncClient,
    AsyncReporter,
    ConnectOptions,
    ResyncRequired,
    ServerRefused,
    StatusDetails,
    Unreachable,
    pb,
)
from execstream.v1 import service_pb2 as service_pb
from google.protobuf import json_format
from google.protobuf.message import Message

Step = dict[str, Any]


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def to_json(message: Message) -> dict[str, Any]:
    """Canonical proto3 JSON, as every runner prints it."""
    return json_format.MessageToDict(message)


def error_json(status: StatusDetails) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status.code.name,
        "reason": status.reason,
        "domain": status.domain,
        "metadata": dict(status.metadata),
        "fieldViolations": [
            {"field": v.field, "description": v.description} for v in status.field_violations
        ],
    }
    if status.committed is not None:
        error["committed"] = to_json(status.committed)
    return error


def parse_event(raw: dict[str, Any]) -> pb.ExecutionEvent:
    return json_format.ParseDict(raw, pb.ExecutionEvent())


def send_events(step: Step) -> list[pb.ExecutionEvent]:
    """A send's events: ``fill`` (``count`` copies of ``event``, seqs from 1), then ``events``."""
    fill = step.get("fill")
    events = []
    if fill is not None:
        for seq in range(1, fill["count"] + 1):
            event = parse_event(fill["event"])
            event.task_id, event.seq = fill["task_id"], seq
            events.append(event)
    return events + [parse_event(raw) for raw in step["events"]]


class WatchState:
    """One background watch: what it delivered (and the snapshots it re-listed with), and a
    wake-up for whoever waits on it."""

    def __init__(self, client: AsyncClient, step: Step) -> None:
        self.events: list[dict[str, Any]] = []
        self.relists: list[dict[str, Any]] | None = [] if step.get("relist") else None
        self.grew = asyncio.Event()
        on_relist = self._relisted if self.relists is not None else None
        self.watch = client.watch(after_revision=step.get("after_revision"), on_relist=on_relist)
        self.task = asyncio.create_task(self._consume())

    def _relisted(self, snapshot: service_pb.Snapshot) -> None:
        assert self.relists is not None
        self.relists.append(to_json(snapshot))
        self.grew.set()

    async def _consume(self) -> None:
        async for event in self.watch:
            self.events.append(to_json(event))
            self.grew.set()

    async def started(self) -> None:
        waiter = asyncio.ensure_future(self.watch.wait_started())
        await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        self._raise_if_ended()

    async def wait_for(self, count: int, *, relists: bool = False) -> None:
        def have() -> int:
            return len(self.relists or []) if relists else len(self.events)

        while have() < count:
            self._raise_if_ended()
            self.grew.clear()
            waiter = asyncio.ensure_future(self.grew.wait())
            await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    def _raise_if_ended(self) -> None:
        if self.task.done():
            self.task.result()  # the watch's own error
            raise RuntimeError("the watch ended")

    async def stop(self) -> list[dict[str, Any]]:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        return self.events


class Runner:
    def __init__(self, client: AsyncClient, scenario: dict[str, Any]) -> None:
        self.client = client
        self.scenario = scenario
        self.sidecar_id: str = scenario["sidecar_id"]
        self.timeout = float(scenario["timeout_seconds"])
        self.reporter: AsyncReporter | None = None
        self.flushing: asyncio.Task[None] | None = None
        self.watches: dict[str, WatchState] = {}
        self.result: dict[str, dict[str, Any]] = {
            "watches": {},
            "relists": {},
            "snapshots": {},
            "sends": {},
            "report_errors": {},
            "watch_errors": {},
        }

    async def run(self) -> dict[str, Any]:
        try:
            for number, step in enumerate(self.scenario["steps"], 1):
                try:
                    await asyncio.wait_for(self.play(number - 1, step), self.timeout)
                except TimeoutError:
                    why = f"step {number} ({step['op']}) took over {self.timeout}s"
                    raise TimeoutError(why) from None
                emit({"step": step["op"], **({"name": step["name"]} if "name" in step else {})})
        finally:
            if self.reporter is not None:
                await self.reporter.close(flush=False)
            for state in self.watches.values():
                await state.stop()
        return self.result

    async def play(self, index: int, step: Step) -> None:
        op = step["op"]
        if op == "watch":
            state = WatchState(self.client, step)
            self.watches[step["name"]] = state
            await state.started()
        elif op == "report":
            await self.report(step["task_id"], step["events"], wait=step.get("wait", True))
        elif op == "await_flush":
            assert self.flushing is not None, "no report is flushing"
            await self.flushing
        elif op == "report_error":
            self.result["report_errors"][step["name"]] = await self.report_error(step)
        elif op == "await_events":
            await self.watches[step["watch"]].wait_for(step["count"])
        elif op == "await_relist":
            await self.watches[step["watch"]].wait_for(step["count"], relists=True)
        elif op == "collect":
            state = self.watches.pop(step["watch"])
            await state.wait_for(step["count"])
            self.result["watches"][step["watch"]] = await state.stop()
            if state.relists is not None:
                self.result["relists"][step["watch"]] = state.relists
        elif op in ("kill", "start"):
            emit({"step": "await_harness", "index": index})
            line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            if line.strip() != "done":
                raise RuntimeError(f"expected 'done' on stdin, got {line!r}")
        elif op == "snapshot":
            snapshot = await self.client.snapshot(task_ids=step["task_ids"])
            self.result["snapshots"][step["name"]] = to_json(snapshot)
        elif op == "send":
            self.result["sends"][step["name"]] = await self.send(send_events(step))
        elif op == "watch_error":
            outcome = await self.watch_error(step["after_revision"])
            self.result["watch_errors"][step["name"]] = outcome
        else:
            raise ValueError(f"unknown op {op!r}")

    async def report(self, task_id: str, events: list[dict[str, Any]], *, wait: bool) -> None:
        """Queue on the one reporter; flush, or leave the flush running (``await_flush``)."""
        if self.reporter is None:
            self.reporter = self.client.reporter(self.sidecar_id)
            await self.reporter.start()
        task = self.reporter.task(task_id)
        for raw in events:
            task.raw(parse_event(raw))
        self.flushing = asyncio.create_task(self.reporter.flush())
        if wait:
            await self.flushing

    async def report_error(self, step: Step) -> dict[str, Any]:
        try:
            await self.report(step["task_id"], step["events"], wait=True)
        except ServerRefused as refused:
            return {"error": error_json(refused.status)}
        return {"response": "committed"}

    async def send(self, events: list[pb.ExecutionEvent]) -> dict[str, Any]:
        try:
            response = await self.client.report(self.sidecar_id, events)
        except ServerRefused as refused:
            return {"error": error_json(refused.status)}
        except Unreachable as lost:
            if lost.status is None:
                raise
            return {"error": error_json(lost.status)}
        return {"response": to_json(response)}

    async def watch_error(self, after_revision: int) -> dict[str, Any]:
        try:
            async for _event in self.client.watch(after_revision=after_revision):
                return {"response": "no error"}
        except ResyncRequired as resync:
            if resync.status is None:
                return {"error": {"code": "", "reason": resync.reason}}
            return {"error": error_json(resync.status)}
        except ServerRefused as refused:
            return {"error": error_json(refused.status)}
        return {"response": "no error"}


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--scenario", required=True, type=Path)
    parser.add_argument("--token", default="")
    args = parser.parse_args(argv)
    scenario = json.loads(args.scenario.read_text())
    options = ConnectOptions(target=args.target, token=args.token)
    try:
        async with AsyncClient(options) as client:
            result = await Runner(client, scenario).run()
    except Exception as exc:
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
