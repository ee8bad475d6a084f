"""Run one chat completion as an execstream task: started, tokens, retries, finished.

The adapter's chunks become events as they arrive. A failed attempt that will be retried is
reported as a RETRYING status carrying the error and the tokens that attempt billed; the
final attempt's tokens go on ``finished``. Usage is never put on both a RETRYING status and
an error of the same attempt, so the server never counts it twice.

While an answer streams, a usage update estimated from the text so far (flagged
``estimated``) goes out every ``UPDATE_INTERVAL_S``, so the task's cost shows before the
provider counts it; the provider's figure replaces the estimate when the attempt ends. An
attempt that breaks without the provider's figure keeps its last estimate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from execstream.v1 import events_pb2 as events_pb

from .backends import Backend
from .chunks import DoneChunk, TextChunk, UsageChunk
from .errors import AdapterError, StreamBroken
from .http import make_client
from .request import ChatRequest
from .retry import RetryPolicy
from .usage import TokenUsage, estimated_usage

UPDATE_INTERVAL_S = 2.0  # how often a streaming answer's estimated usage is reported


class TaskSink(Protocol):
    """Where a model call's events go: the part of ``execstream.client.TaskReporter`` this
    module uses, so tests and other reporters can stand in for it."""

    def started(self, *, backend: str, model: str, description: str = "") -> Any: ...
    def token(self, text: str) -> Any: ...
    def usage(self, usage: events_pb.Usage) -> Any: ...
    def status(
        self,
        status: events_pb.TaskStatus.ValueType,
        message: str = "",
        usage: events_pb.Usage | None = None,
    ) -> Any: ...
    def error(
        self,
        message: str,
        code: str = "",
        retryable: bool = False,
        usage: events_pb.Usage | None = None,
    ) -> Any: ...
    def finished(
        self,
        outcome: events_pb.Outcome.ValueType,
        *,
        usage: events_pb.Usage | None = None,
        exit_code: int | None = None,
        error: str = "",
    ) -> Any: ...


@dataclasses.dataclass(frozen=True, slots=True)
class LlmResult:
    outcome: events_pb.Outcome.ValueType
    text: str
    usage: TokenUsage | None
    attempts: int
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.outcome == events_pb.OUTCOME_SUCCEEDED


def started_fields(backend: Backend, request: ChatRequest) -> dict[str, str]:
    """What the task's ``started`` event says: backend, model and the prompt, shortened."""
    return {"backend": backend.name, "model": request.model, "description": _describe(request)}


async def run_llm(
    task: TaskSink,
    backend: Backend,
    request: ChatRequest,
    *,
    retry_policy: RetryPolicy | None = None,
    on_text: Callable[[str], None] | None = None,
    report_started: bool = True,
) -> LlmResult:
    """Stream ``request`` from ``backend``, reporting to ``task``; return how it ended.

    ``report_started=False`` when the caller has already committed the task's ``started``
    event (``started_fields`` builds it), as ``execstream run-llm`` does before calling
    the model, so a task id that is taken is refused before anything is billed.
    """
    policy = retry_policy or backend.retry_policy
    if report_started:
        task.started(**started_fields(backend, request))
    output: list[str] = []  # the current attempt's text
    async with make_client(request) as client:
        try:
            return await _attempts(task, backend, client, request, policy, output, on_text)
        except asyncio.CancelledError:
            _cancelled(task, backend, request, output)
            raise


async def _attempts(
    task: TaskSink,
    backend: Backend,
    client: httpx.AsyncClient,
    request: ChatRequest,
    policy: RetryPolicy,
    output: list[str],
    on_text: Callable[[str], None] | None,
) -> LlmResult:
    attempt = 1
    while True:
        output.clear()
        try:
            usage = await _attempt(task, backend, client, request, output, on_text)
        except AdapterError as exc:
            if not exc.retryable or attempt > policy.max_retries:
                return _failed(task, exc, attempt, output)
            task.status(events_pb.TASK_STATUS_RETRYING, exc.message, usage=_proto(exc.usage))
            output.clear()
            await asyncio.sleep(policy.delay_s(attempt, retry_after_s=exc.retry_after_s))
            attempt += 1
            continue
        task.finished(events_pb.OUTCOME_SUCCEEDED, usage=usage.to_proto())
        return LlmResult(events_pb.OUTCOME_SUCCEEDED, "".join(output), usage, attempt)


async def _attempt(
    task: TaskSink,
    backend: Backend,
    client: httpx.AsyncClient,
    request: ChatRequest,
    output: list[str],
    on_text: Callable[[str], None] | None,
) -> TokenUsage:
    usage: TokenUsage | None = None
    reported = time.monotonic()
    async for chunk in backend.stream_chat(client, request):
        if isinstance(chunk, TextChunk):
            output.append(chunk.text)
            task.token(chunk.text)
            if on_text is not None:
                on_text(chunk.text)
            if time.monotonic() - reported >= UPDATE_INTERVAL_S:
                reported = time.monotonic()
                task.usage(_estimate(backend, request, output).to_proto())
        elif isinstance(chunk, UsageChunk):
            usage = chunk.usage
        elif isinstance(chunk, DoneChunk):
            break
    if usage is None:
        raise StreamBroken(f"{backend.name} ended the answer without usage", code="incomplete")
    return usage


def _failed(task: TaskSink, exc: AdapterError, attempt: int, output: list[str]) -> LlmResult:
    task.error(exc.message, code=exc.code, retryable=False)
    task.finished(events_pb.OUTCOME_FAILED, usage=_proto(exc.usage), error=exc.message)
    return LlmResult(events_pb.OUTCOME_FAILED, "".join(output), exc.usage, attempt, exc.message)


def _estimate(backend: Backend, request: ChatRequest, output: list[str]) -> TokenUsage:
    return estimated_usage(
        model=request.model,
        backend=backend.name,
        prompt_text=request.prompt_text,
        output_text="".join(output),
    )


def _cancelled(task: TaskSink, backend: Backend, request: ChatRequest, output: list[str]) -> None:
    usage = _estimate(backend, request, output) if output else None
    task.finished(events_pb.OUTCOME_CANCELLED, usage=_proto(usage), error="cancelled")


def _proto(usage: TokenUsage | None) -> events_pb.Usage | None:
    return usage.to_proto() if usage is not None else None


def _describe(request: ChatRequest) -> str:
    """The prompt, shortened for the task's description (the server caps it at 1024)."""
    prompt = " ".join(request.messages[-1].content.split()) if request.messages else ""
    return prompt if len(prompt) <= 200 else prompt[:199] + "…"
