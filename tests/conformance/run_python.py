"""The conformance runner for the Python client: plays scenario.json through ``AsyncClient``.

The protocol (arguments, JSON lines on stdout, the restart handshake) is in
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
    AsyncWatch,
    ConnectOptions,
    ResyncRequired,
    ServerRefused,
    StatusDetails,
    pb,
)
from google.protobuf import json_format
from google.protobuf.message import Message

Step = dict[str, Any]


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def to_json(message: Message) -> dict[str, Any]:
    """Canonical proto3 JSON, as every runner prints it."""
    return json_format.MessageToDict(message)


def error_json(status: StatusDetails) -> dict[str, Any]:
    return {
        "code": status.code.name,
        "reason": status.reason,
        "domain": status.domain,
        "metadata": dict(status.metadata),
        "fieldViolations": [
            {"field": v.field, "description": v.description} for v in status.field_violations
        ],
    }


def parse_event(raw: dict[str, Any]) -> pb.ExecutionEvent:
    return json_format.ParseDict(raw, pb.ExecutionEvent())


class WatchState:
    """One background watch: what it delivered, and a wake-up for whoever waits on it."""

    def __init__(self, watch: AsyncWatch) -> None:
        self.watch = watch
        self.events: list[dict[str, Any]] = []
        self.grew = asyncio.Event()
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.watch:
            self.events.append(to_json(event))
            self.grew.set()

    async def started(self) -> None:
        waiter = asyncio.ensure_future(self.watch.wait_started())
        await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        self._raise_if_ended()

    async def wait_for(self, count: int) -> None:
        while len(self.events) < count:
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
        self.watches: dict[str, WatchState] = {}
        self.result: dict[str, dict[str, Any]] = {
            "watches": {},
            "snapshots": {},
            "sends": {},
            "watch_errors": {},
        }

    async def run(self) -> dict[str, Any]:
        try:
            for number, step in enumerate(self.scenario["steps"], 1):
                try:
                    await asyncio.wait_for(self.play(step), self.timeout)
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

    async def play(self, step: Step) -> None:
        op = step["op"]
        if op == "watch":
            state = WatchState(self.client.watch(after_revision=step.get("after_revision")))
            self.watches[step["name"]] = state
            await state.started()
        elif op == "report":
            await self.report(step["task_id"], step["events"])
        elif op == "await_events":
            await self.watches[step["watch"]].wait_for(step["count"])
        elif op == "collect":
            state = self.watches.pop(step["watch"])
            await state.wait_for(step["count"])
            self.result["watches"][step["watch"]] = await state.stop()
        elif op == "restart":
            emit({"step": "await_restart"})
            line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            if line.strip() != "restarted":
                raise RuntimeError(f"expected 'restarted' on stdin, got {line!r}")
        elif op == "snapshot":
            snapshot = await self.client.snapshot(task_ids=step["task_ids"])
            self.result["snapshots"][step["name"]] = to_json(snapshot)
        elif op == "send":
            self.result["sends"][step["name"]] = await self.send(step["events"])
        elif op == "watch_error":
            outcome = await self.watch_error(step["after_revision"])
            self.result["watch_errors"][step["name"]] = outcome
        else:
            raise ValueError(f"unknown op {op!r}")

    async def report(self, task_id: str, events: list[dict[str, Any]]) -> None:
        if self.reporter is None:
            self.reporter = self.client.reporter(self.sidecar_id)
            await self.reporter.start()
        task = self.reporter.task(task_id)
        for raw in events:
            task.raw(parse_event(raw))
        await self.reporter.flush()

    async def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            response = await self.client.report(self.sidecar_id, [parse_event(e) for e in events])
        except ServerRefused as refused:
            return {"error": error_json(refused.status)}
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
