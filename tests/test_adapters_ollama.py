"""The Ollama adapter against a local server speaking /api/chat's NDJSON stream."""

from __future__ import annotations

import asyncio

import pytest
from execstream.adapters import (
    BackendHTTPError,
    BackendReportedError,
    BackendUnreachable,
    Chunk,
    DoneChunk,
    StreamBroken,
    TextChunk,
    UsageChunk,
    ollama,
    prompt_request,
)
from execstream.adapters.http import make_client
from execstream.adapters.request import ChatRequest

from .support.helpers import free_port
from .support.llm_fakes import FakeLlmServer, Reply, ollama_error, ollama_lines, ollama_reply


def collect(request: ChatRequest) -> list[Chunk]:
    async def run() -> list[Chunk]:
        async with make_client(request) as client:
            return [chunk async for chunk in ollama.stream_chat(client, request)]

    return asyncio.run(run())


def request_for(fake: FakeLlmServer, prompt: str = "Why is the sky blue?") -> ChatRequest:
    return prompt_request(model="llama3.2:3b", prompt=prompt, base_url=fake.base_url, timeout_s=10)


def test_text_then_usage_then_done() -> None:
    with FakeLlmServer([ollama_reply(["The sky", " is blue."])]) as fake:
        chunks = collect(request_for(fake))
    assert chunks[:2] == [TextChunk("The sky"), TextChunk(" is blue.")]
    usage = chunks[2]
    assert isinstance(usage, UsageChunk)
    assert (usage.usage.input_tokens, usage.usage.output_tokens) == (26, 298)
    assert not usage.usage.estimated
    assert chunks[3] == DoneChunk("stop")


def test_request_is_a_streaming_chat_with_the_messages() -> None:
    with FakeLlmServer([ollama_reply(["ok"])]) as fake:
        collect(
            prompt_request(
                model="qwen3:0.6b", prompt="hi", system="be brief", base_url=fake.base_url + "/"
            )
        )
    seen = fake.requests[0]
    assert seen.path == "/api/chat"
    assert seen.body == {
        "model": "qwen3:0.6b",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "stream": True,
    }


def test_cached_prompt_without_prompt_eval_count_is_estimated() -> None:
    prompt = "p" * 80
    with FakeLlmServer([ollama_reply(["a"], prompt_eval_count=None, eval_count=5)]) as fake:
        chunks = collect(request_for(fake, prompt))
    usage = next(c.usage for c in chunks if isinstance(c, UsageChunk))
    assert usage.estimated
    assert usage.input_tokens == 20
    assert usage.output_tokens == 5


def test_done_reason_is_passed_on() -> None:
    with FakeLlmServer([ollama_reply(["a"], done_reason="length")]) as fake:
        chunks = collect(request_for(fake))
    assert chunks[-1] == DoneChunk("length")


def test_unknown_model_is_an_http_error_that_is_not_retried() -> None:
    with (
        FakeLlmServer([ollama_error(404, "model 'nope' not found")]) as fake,
        pytest.raises(BackendHTTPError) as caught,
    ):
        collect(request_for(fake))
    assert caught.value.status == 404
    assert not caught.value.retryable
    assert "model 'nope' not found" in caught.value.message


def test_error_line_mid_stream_is_reported_with_the_tokens_spent() -> None:
    pieces = [
        *ollama_lines(["partial answer"])[:1],
        '{"error": "llama runner process has terminated"}\n',
    ]
    with (
        FakeLlmServer([Reply(pieces=pieces)]) as fake,
        pytest.raises(BackendReportedError) as caught,
    ):
        collect(request_for(fake))
    assert "llama runner process has terminated" in caught.value.message
    assert caught.value.retryable
    assert caught.value.usage is not None and caught.value.usage.estimated
    assert caught.value.usage.output_tokens > 0


def test_connection_cut_mid_stream_is_a_retryable_broken_stream() -> None:
    with (
        FakeLlmServer([Reply(pieces=ollama_lines(["a", "b", "c"]), cut_after=2)]) as fake,
        pytest.raises(StreamBroken) as caught,
    ):
        collect(request_for(fake))
    assert caught.value.retryable


def test_nobody_listening_is_unreachable() -> None:
    request = prompt_request(
        model="m", prompt="hi", base_url=f"http://127.0.0.1:{free_port()}", timeout_s=5
    )
    with pytest.raises(BackendUnreachable) as caught:
        collect(request)
    assert caught.value.retryable
    assert "cannot reach" in caught.value.message
