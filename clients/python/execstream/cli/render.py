"""How events and tasks look in a terminal, shared by ``watch`` and ``snapshot``.

Colours match the web dashboard's: stdout plain, stderr amber, errors red, status changes
dim italic, tokens inline as they stream. Rich drops the colour when output is not a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.markup import escape

from execstream.v1 import events_pb2 as events_pb

from ..money import usd
from .errors import one_line

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


_TOKEN_FIELDS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_one_hour_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def add_usage(total: events_pb.Usage, more: events_pb.Usage) -> None:
    """Add ``more``'s token counts to ``total`` (as the server sums a task's attempts)."""
    for name in _TOKEN_FIELDS:
        setattr(total, name, getattr(total, name) + getattr(more, name))
    total.estimated |= more.estimated


def usage_line(usage: events_pb.Usage) -> str:
    """``1,200 in / 40 out tokens (1,000 cache read, 12 reasoning)``."""
    text = f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens"
    cache_write = usage.cache_write_tokens + usage.cache_write_one_hour_tokens
    extra = [
        f"{count:,} {what}"
        for count, what in (
            (usage.cache_read_tokens, "cache read"),
            (cache_write, "cache write"),
            (usage.reasoning_tokens, "reasoning"),
        )
        if count
    ]
    return f"{text} ({', '.join(extra)})" if extra else text


def has_tokens(usage: events_pb.Usage) -> bool:
    return any(getattr(usage, name) for name in _TOKEN_FIELDS)


# Asked for a task's usage over all attempts when the watch did not see them all.
UsageLookup = Callable[[str], "events_pb.Usage | None"]


class EventPrinter:
    """Prints a stream of events; keeps track of the current task and an open token line.

    A finished task's line shows the tokens of every attempt, as its cost does: the usage
    of retried attempts (on RETRYING statuses and errors) is summed from the events seen
    since the task's ``started``; for a task the watch joined midway, or one that sent
    usage updates, ``usage_of`` asks. A usage update prints the task's running cost.
    """

    def __init__(self, console: Console, usage_of: UsageLookup | None = None) -> None:
        self.console = console
        self.current: str | None = None
        self.inline = False  # a token line is open (no newline yet)
        self._usage_of = usage_of
        self._retried_usage: dict[str, events_pb.Usage] = {}  # tasks seen from their start

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
        self._count_usage(event, kind)
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
        elif kind == "usage":
            self._usage_update(event.usage)
        elif kind == "budget":
            self._budget(event.budget)
        elif kind == "finished":
            self._finished(event.task_id, event.finished)

    def _usage_update(self, update: events_pb.UsageUpdate) -> None:
        """The live meter: the attempt's tokens so far and the task's running cost."""
        parts = [f"so far: {usage_line(update.usage)}"]
        if update.HasField("task_cost"):
            parts.append(escape(cost_line(update.task_cost)).replace("cost ", "running cost ", 1))
        self.console.print(f"[dim]{' · '.join(parts)}[/]", highlight=False)

    def _budget(self, crossed: events_pb.BudgetCrossed) -> None:
        """A budget went over 80 % or 100 % with this task's cost (written by the server)."""
        colour = "bold red" if crossed.threshold_percent >= 100 else "bold yellow"
        period = crossed.period
        if crossed.HasField("period_start"):
            start = crossed.period_start.ToDatetime()
            period += f" {start:%Y-%m}" if crossed.period == "month" else f" {start:%Y-%m-%d}"
        self.console.print(
            f"[{colour}]budget {escape(crossed.budget)} at {crossed.threshold_percent}%[/]: "
            f"{usd(crossed.spent_nanos)} of {usd(crossed.amount_nanos)} "
            f"[dim]({escape(crossed.scope)}, {escape(period)})[/]",
            highlight=False,
        )

    def _count_usage(self, event: events_pb.ExecutionEvent, kind: str | None) -> None:
        if kind == "started":
            self._retried_usage[event.task_id] = events_pb.Usage()
        total = self._retried_usage.get(event.task_id)
        if total is None:
            return
        if kind == "status" and event.status.HasField("usage"):
            add_usage(total, event.status.usage)
        elif kind == "error" and event.error.HasField("usage"):
            add_usage(total, event.error.usage)
        elif kind == "usage":
            # An attempt may keep its last update as its figure: the server's fold knows.
            del self._retried_usage[event.task_id]

    def _task_usage(self, task_id: str, finished: events_pb.Finished) -> events_pb.Usage:
        """The task's tokens over every attempt."""
        retried = self._retried_usage.pop(task_id, None)
        if retried is not None:
            add_usage(retried, finished.usage)
            return retried
        looked_up = self._usage_of(task_id) if self._usage_of is not None else None
        return looked_up if looked_up is not None else finished.usage

    def _finished(self, task_id: str, finished: events_pb.Finished) -> None:
        outcome = outcome_name(finished.outcome)
        colour = {"SUCCEEDED": "green", "FAILED": "red"}.get(outcome, "yellow")
        parts = [f"[bold {colour}]{outcome}[/]"]
        if finished.HasField("exit_code"):
            parts.append(f"exit {finished.exit_code}")
        if finished.error:
            parts.append(escape(one_line(finished.error)))  # the finish line stays one line
        usage = self._task_usage(task_id, finished)
        if has_tokens(usage):
            parts.append(usage_line(usage))
        if finished.HasField("cost") and (has_tokens(usage) or finished.cost.unpriced):
            parts.append(escape(cost_line(finished.cost)))
        self.console.print(" · ".join(parts), highlight=False)

    def close(self) -> None:
        self._end_inline()
