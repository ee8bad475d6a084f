"""run_llm's attempts: what it reports for success, retries, failure and cancellation.

The task reporter here only records calls (the real client and server are exercised end to
end in test_adapters_e2e.py); the model servers are the local fakes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from execstream.adapters import BACKENDS, RetryPolicy, prompt_request, run_llm
from execstream.adapters import run as run_module
from execstream.adapters.run import LlmResult
from execstream.v1 import events_pb2 as events_pb

from .support.llm_fakes import (
    FakeLlmServer,
    Reply,
    ollama_error,
    ollama_lines,
    ollama_reply,
    openai_error,
    openai_reply,
    openai_usage,
)

FAST = RetryPolicy(max_retries=2, initial=0.001, maximum=0.01)


@dataclasses.dataclass
class Recorder:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = dataclasses.field(
        default_factory=list
    )

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return record

    def kinds(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def one(self, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        (found,) = [(args, kwargs) for n, args, kwargs in self.calls if n == name]
        return found


def run(backend: str, base_url: str, recorder: Recorder, policy: RetryPolicy = FAST) -> LlmResult:
    request = prompt_request(model="m", prompt="hello there", base_url=base_url, timeout_s=10)
    return asyncio.run(run_llm(recorder, BACKENDS[backend], request, retry_policy=policy))


def test_a_streaming_answer_reports_its_estimated_usage_as_it_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_module, "UPDATE_INTERVAL_S", 0.0)
    recorder = Recorder()
    with FakeLlmServer([ollama_reply(["Hello", " there, friend"])]) as fake:
        run("ollama", fake.base_url, recorder)
    assert recorder.kinds() == ["started", "token", "usage", "token", "usage", "finished"]
    updates = [args[0] for name, args, _ in recorder.calls if name == "usage"]
    assert all(update.estimated for update in updates)
    assert 0 < updates[0].output_tokens < updates[1].output_tokens
    assert updates[0].input_tokens > 0  # the prompt, estimated from its text
    _, finished = recorder.one("finished")
    assert not finished["usage"].estimated  # the provider's count replaces the estimate


def test_success_reports_started_tokens_and_finished_with_usage() -> None:
    recorder = Recorder()
    with FakeLlmServer([ollama_reply(["Hi", " there"])]) as fake:
        result = run("ollama", fake.base_url, recorder)
    assert recorder.kinds() == ["started", "token", "token", "finished"]
    assert recorder.one("started")[1] == {
        "backend": "ollama",
        "model": "m",
        "description": "hello there",
    }
    args, kwargs = recorder.one("finished")
    assert args == (events_pb.OUTCOME_SUCCEEDED,)
    assert (kwargs["usage"].input_tokens, kwargs["usage"].output_tokens) == (26, 298)
    assert (result.text, result.attempts) == ("Hi there", 1)


def test_failure_then_success_reports_retrying_with_the_error() -> None:
    recorder = Recorder()
    replies = [openai_error(503, "overloaded"), openai_reply(["ok"], usage=openai_usage(5, 1))]
    with FakeLlmServer(replies) as fake:
        result = run("openai", fake.base_url, recorder)
    assert recorder.kinds() == ["started", "status", "token", "finished"]
    args, kwargs = recorder.one("status")
    assert args[0] == events_pb.TASK_STATUS_RETRYING
    assert "HTTP 503" in args[1] and "overloaded" in args[1]
    assert kwargs["usage"] is None
    assert result.succeeded and result.attempts == 2


def test_a_broken_attempt_reports_the_tokens_it_spent_on_retrying() -> None:
    recorder = Recorder()
    broken = Reply(pieces=ollama_lines(["a" * 40, "b"]), cut_after=1)
    with FakeLlmServer([broken, ollama_reply(["fine"])]) as fake:
        run("ollama", fake.base_url, recorder)
    usage = recorder.one("status")[1]["usage"]
    assert usage.estimated and usage.output_tokens == 10
    assert recorder.one("finished")[1]["usage"].output_tokens == 298


def test_retries_stop_at_the_policy_limit_and_the_task_fails() -> None:
    recorder = Recorder()
    with FakeLlmServer([ollama_error(500, "boom")] * 3) as fake:
        result = run("ollama", fake.base_url, recorder)
    assert recorder.kinds() == ["started", "status", "status", "error", "finished"]
    assert recorder.one("finished")[0] == (events_pb.OUTCOME_FAILED,)
    assert "boom" in recorder.one("finished")[1]["error"]
    assert (result.attempts, len(fake.requests)) == (3, 3)


def test_an_error_that_is_not_retryable_fails_at_once() -> None:
    recorder = Recorder()
    with FakeLlmServer([openai_error(401, "bad key", kind="invalid_request_error")]) as fake:
        result = run("openai", fake.base_url, recorder)
    assert recorder.kinds() == ["started", "error", "finished"]
    assert recorder.one("error")[1] == {"code": "http_401", "retryable": False}
    assert not result.succeeded and len(fake.requests) == 1


def test_cancelling_mid_stream_reports_cancelled_with_estimated_usage() -> None:
    recorder = Recorder()
    reply = ollama_reply(["first", "second"])
    reply.hold_after = 1

    async def cancel_after_first_token() -> None:
        request = prompt_request(model="m", prompt="hi", base_url=fake.base_url, timeout_s=10)
        first_token = asyncio.Event()
        running = asyncio.ensure_future(
            run_llm(recorder, BACKENDS["ollama"], request, on_text=lambda _: first_token.set())
        )
        await asyncio.wait_for(first_token.wait(), 10)
        running.cancel()
        try:
            await running
        except asyncio.CancelledError:
            return
        raise AssertionError("run_llm swallowed the cancellation")

    with FakeLlmServer([reply]) as fake:
        asyncio.run(cancel_after_first_token())
        reply.release.set()
    args, kwargs = recorder.one("finished")
    assert args == (events_pb.OUTCOME_CANCELLED,)
    assert kwargs["usage"].estimated and kwargs["usage"].output_tokens == 2
