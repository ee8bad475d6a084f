"""How events and tasks look in a terminal, shared by ``watch`` and ``snapshot``.

Colours match the web dashboard's: stdout plain, stderr amber, errors red, status changes
dim italic, tokens inline as they stream. Rich drops the colour when output is not a terminal.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.markup import escape

from execstream.v1 import events_pb2 as events_pb

from ..money import usd

AMBER = "#ffbf00"


def status_name(status: int) -> str:
    return events_pb.TaskStatus.Name(status).removeprefix("TASK_STATUS_")  # type: ignore[arg-type]


def outcome_name(outcome: int) -> str:
    return events_pb.Outcome.Name(outcome).removeprefix("OUTCOME_")  # type: ignore[arg-type]


def event_json(event: events_pb.ExecutionEvent) -> str:
    """One line of JSON: proto3 JSON (int64 money as strings) plus ``kind``."""
    body: dict[str, Any] = MessageToDict(event, preserving_proto_field_name=True)
    body["kind"] = event.WhichOneof("body") or ""
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def cost_line(cost: events_pb.TaskCost) -> str:
    """``cost $0.0123 · reference $0.0450 · saved $0.0327`` (or why there is no price)."""
    if cost.unpriced:
        return "unpriced (no entry in the price table)"
    parts = [f"cost {usd(cost.actual.total_nanos)}"]
    if cost.reference_model:
        parts.append(f"{cost.reference_model} {usd(cost.reference.total_nanos)}")
        verb = "saved" if cost.savings_nanos >= 0 else "extra"
        parts.append(f"{verb} {usd(abs(cost.savings_nanos))}")
    if cost.estimated:
        parts.append("estimated")
    return " · ".join(parts)


def usage_line(usage: events_pb.Usage) -> str:
    text = f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens"
    cached = usage.cache_read_tokens + usage.cache_write_tokens + usage.cache_write_one_hour_tokens
    if cached:
        text += f" ({cached:,} cache)"
    return text


class EventPrinter:
    """Prints a stream of events; keeps track of the current task and an open token line."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.current: str | None = None
        self.inline = False  # a token line is open (no newline yet)

    def _end_inline(self) -> None:
        if self.inline:
            self.console.print()
            self.inline = False

    def _header(self, event: events_pb.ExecutionEvent) -> None:
        if event.task_id == self.current:
            return
        self._end_inline()
        self.current = event.task_id
        where = f" on {escape(event.sidecar_id)}" if event.sidecar_id else ""
        self.console.print(f"[bold cyan]── {escape(event.task_id)}{where}[/]", highlight=False)

    def print(self, event: events_pb.ExecutionEvent) -> None:
        self._header(event)
        kind = event.WhichOneof("body")
        out = self.console
        if kind == "token":
            out.print(escape(event.token.text), end="", highlight=False, soft_wrap=True)
            self.inline = not event.token.text.endswith("\n")
            return
        self._end_inline()
        if kind == "stdout":
            out.print(escape(event.stdout.text.rstrip("\n")), highlight=False, soft_wrap=True)
        elif kind == "stderr":
            text = escape(event.stderr.text.rstrip("\n"))
            out.print(f"[{AMBER}]{text}[/]", highlight=False, soft_wrap=True)
        elif kind == "started":
            s = event.started
            what = " ".join(x for x in (s.backend, s.model) if x)
            desc = f": {escape(s.description)}" if s.description else ""
            out.print(f"[dim italic]started {escape(what)}{desc}[/]", highlight=False)
        elif kind == "status":
            message = f": {escape(event.status.message)}" if event.status.message else ""
            name = status_name(event.status.status)
            out.print(f"[dim italic]{name}{message}[/]", highlight=False)
        elif kind == "error":
            code = f" [{escape(event.error.code)}]" if event.error.code else ""
            out.print(f"[bold red]error{escape(code)}: {escape(event.error.message)}[/]")
        elif kind == "tool_call":
            call = event.tool_call
            mark = "✓" if call.ok else "✗"
            out.print(f"[dim]{mark} tool {escape(call.tool_name)}[/]", highlight=False)
        elif kind == "finished":
            self._finished(event.finished)

    def _finished(self, finished: events_pb.Finished) -> None:
        outcome = outcome_name(finished.outcome)
        colour = {"SUCCEEDED": "green", "FAILED": "red"}.get(outcome, "yellow")
        parts = [f"[bold {colour}]{outcome}[/]"]
        if finished.HasField("exit_code"):
            parts.append(f"exit {finished.exit_code}")
        if finished.error:
            parts.append(escape(finished.error))
        if finished.HasField("usage") and (
            finished.usage.input_tokens or finished.usage.output_tokens
        ):
            parts.append(usage_line(finished.usage))
        usage = finished.usage
        tokens = usage.input_tokens + usage.output_tokens + usage.cache_read_tokens
        if finished.HasField("cost") and (tokens or finished.cost.unpriced):
            parts.append(escape(cost_line(finished.cost)))
        self.console.print(" · ".join(parts), highlight=False)

    def close(self) -> None:
        self._end_inline()
