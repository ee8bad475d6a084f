"""The OpenAI-compatible adapter against a local server speaking chat completions SSE."""

from __future__ import annotations

import asyncio
import json

import pytest
from execstream.adapters import (
    BackendHTTPError,
    BackendProtocolError,
    BackendReportedError,
    Chunk,
    DoneChunk,
    StreamBroken,
    TextChunk,
    UsageChunk,
    openai,
    prompt_request,
)
from execstream.adapters.http import make_client
from execstream.adapters.request import ChatRequest
from execstream.adapters.usage import TokenUsage

from .support.llm_fakes import (
    FakeLlmServer,
    Reply,
    openai_error,
    openai_events,
    openai_reply,
    openai_usage,
)


def collect(request: ChatRequest) -> list[Chunk]:
    async def run() -> list[Chunk]:
        async with make_client(request) as client:
            return [chunk async for chunk in openai.stream_chat(client, request)]

    return asyncio.run(run())


def request_for(base_url: str, *, api_key: str = "") -> ChatRequest:
    return prompt_request(
        model="gpt-4o-mini", prompt="Say hi", base_url=base_url, api_key=api_key, timeout_s=10
    )


def usage_of(chunks: list[Chunk]) -> TokenUsage:
    return next(chunk.usage for chunk in chunks if isinstance(chunk, UsageChunk))


def test_deltas_then_usage_from_the_final_chunk_then_done() -> None:
    usage = openai_usage(2006, 300, cached=1920, reasoning=64)
    with FakeLlmServer([openai_reply(["Hel", "lo", "!"], usage=usage)]) as fake:
        chunks = collect(request_for(fake.base_url))
    assert [c.text for c in chunks if isinstance(c, TextChunk)] == ["Hel", "lo", "!"]
    got = usage_of(chunks)
    assert (got.input_tokens, got.cache_read_tokens) == (86, 1920)
    assert (got.output_tokens, got.reasoning_tokens) == (300, 64)
    assert not got.estimated
    assert chunks[-1] == DoneChunk("stop")


def test_request_asks_for_a_stream_with_usage_and_sends_the_key() -> None:
    with FakeLlmServer([openai_reply(["ok"], usage=openai_usage(3, 1))]) as fake:
        collect(request_for(fake.base_url, api_key="sk-test"))
    seen = fake.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer sk-test"
    assert seen.body["stream"] is True
    assert seen.body["stream_options"] == {"include_usage": True}
    assert seen.body["messages"] == [{"role": "user", "content": "Say hi"}]


def test_base_url_ending_in_v1_is_not_doubled() -> None:
    with FakeLlmServer([openai_reply(["ok"], usage=openai_usage(3, 1))]) as fake:
        collect(request_for(fake.base_url + "/v1/"))
    assert fake.requests[0].path == "/v1/chat/completions"


def test_usage_on_the_finishing_chunk_is_used_too() -> None:
    """llama.cpp-style servers put usage on the chunk that carries finish_reason."""
    events = openai_events(["x"])
    finishing = json.loads(events[-2].removeprefix("data: "))
    finishing["usage"] = openai_usage(7, 2)
    events[-2] = f"data: {json.dumps(finishing)}\n\n"
    with FakeLlmServer([Reply(pieces=events, content_type="text/event-stream")]) as fake:
        chunks = collect(request_for(fake.base_url))
    assert (usage_of(chunks).input_tokens, usage_of(chunks).output_tokens) == (7, 2)


def test_server_ignoring_include_usage_gets_an_estimate_flagged() -> None:
    with FakeLlmServer([openai_reply(["abcdefgh"], usage=None)]) as fake:
        chunks = collect(request_for(fake.base_url))
    got = usage_of(chunks)
    assert got.estimated
    assert got.output_tokens == 2


def test_events_split_across_http_chunks_are_reassembled() -> None:
    text = "".join(openai_events(["split", " me"], usage=openai_usage(4, 2)))
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    with FakeLlmServer([Reply(pieces=pieces, content_type="text/event-stream")]) as fake:
        chunks = collect(request_for(fake.base_url))
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == "split me"
    assert usage_of(chunks).input_tokens == 4


def test_rate_limit_is_retryable_and_keeps_retry_after() -> None:
    reply = openai_error(429, "Rate limit reached", kind="rate_limit_exceeded")
    reply.headers["Retry-After"] = "2"
    with FakeLlmServer([reply]) as fake, pytest.raises(BackendHTTPError) as caught:
        collect(request_for(fake.base_url))
    assert caught.value.retryable
    assert caught.value.retry_after_s == 2.0
    assert caught.value.code == "http_429"
    assert "Rate limit reached" in caught.value.message


def test_bad_key_is_not_retryable() -> None:
    reply = openai_error(401, "Incorrect API key provided", kind="invalid_request_error")
    with FakeLlmServer([reply]) as fake, pytest.raises(BackendHTTPError) as caught:
        collect(request_for(fake.base_url))
    assert not caught.value.retryable


def test_error_event_mid_stream_carries_the_tokens_already_streamed() -> None:
    events = openai_events(["some text"], done=False)[:2]
    events.append(
        'data: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n'
    )
    with (
        FakeLlmServer([Reply(pieces=events, content_type="text/event-stream")]) as fake,
        pytest.raises(BackendReportedError) as caught,
    ):
        collect(request_for(fake.base_url))
    assert caught.value.retryable
    assert caught.value.usage is not None and caught.value.usage.output_tokens == 3


def test_stream_that_stops_before_finishing_is_broken() -> None:
    reply = Reply(pieces=openai_events(["a", "b"]), content_type="text/event-stream", cut_after=2)
    with FakeLlmServer([reply]) as fake, pytest.raises(StreamBroken):
        collect(request_for(fake.base_url))


def test_not_json_is_a_protocol_error_that_is_not_retried() -> None:
    reply = Reply(pieces=["data: <html>oops</html>\n\n"], content_type="text/event-stream")
    with FakeLlmServer([reply]) as fake, pytest.raises(BackendProtocolError) as caught:
        collect(request_for(fake.base_url))
    assert not caught.value.retryable


def test_a_stream_labelled_as_json_is_still_read_as_events() -> None:
    """Some OpenAI-compatible servers send their SSE stream as application/json."""
    reply = Reply(pieces=openai_events(["a", "b"]), content_type="application/json")
    with FakeLlmServer([reply]) as fake:
        chunks = collect(request_for(fake.base_url))
    assert [c.text for c in chunks if isinstance(c, TextChunk)] == ["a", "b"]


def test_a_last_event_without_its_closing_blank_line_is_read() -> None:
    """A server that closes right after its last event, before the blank line, loses nothing."""
    events = openai_events(["a"], usage=openai_usage(3, 2), done=False)
    events[-1] = events[-1].removesuffix("\n\n")  # the usage event, cut short
    with FakeLlmServer([Reply(pieces=events, content_type="text/event-stream")]) as fake:
        chunks = collect(request_for(fake.base_url))
    usage = usage_of(chunks)
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (3, 2, False)
