"""OpenAI-compatible adapter: ``POST /v1/chat/completions`` with ``stream: true``.

The answer is server-sent events: ``data: {chunk}`` with ``choices[0].delta.content``, a
chunk with ``finish_reason``, then (because we ask ``stream_options.include_usage``) a last
chunk with empty ``choices`` and the ``usage`` of the call, then ``data: [DONE]``. Servers
that put usage on the finishing chunk (llama.cpp, some vLLM versions) work too. A server that
ignores ``include_usage`` gets its usage estimated from the text, and flagged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from .chunks import Chunk, DoneChunk, TextChunk, UsageChunk
from .errors import AdapterError, BackendProtocolError, BackendReportedError, StreamBroken
from .http import post_stream
from .request import ChatRequest
from .sse import sse_data
from .usage import TokenUsage, estimated_usage, from_openai

BACKEND = "openai"
DONE_SENTINEL = "[DONE]"
# Error types an OpenAI-compatible server sends inside a stream that are worth a retry.
_RETRYABLE_ERROR_TYPES = frozenset({"server_error", "overloaded_error", "rate_limit_exceeded"})


def chat_url(request: ChatRequest) -> str:
    """``BASE/v1/chat/completions``; a base URL already ending in ``/v1`` is taken as is."""
    base = request.base_url.rstrip("/")
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


def chat_body(request: ChatRequest) -> dict[str, Any]:
    return {
        **request.options,
        "model": request.model,
        "messages": request.messages_json(),
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def stream_chat(client: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[Chunk]:
    """Stream one chat completion as text chunks, then usage, then done."""
    url = chat_url(request)
    headers = {"Authorization": f"Bearer {request.api_key}"} if request.api_key else {}
    output: list[str] = []
    usage: Mapping[str, Any] | None = None
    finish_reason = ""
    try:
        async with post_stream(client, url, chat_body(request), headers=headers) as lines:
            async for data in sse_data(lines):
                if data.strip() == DONE_SENTINEL:
                    break
                chunk = _decode(data, url)
                _raise_reported_error(chunk)
                if isinstance(chunk.get("usage"), Mapping):
                    usage = chunk["usage"]
                for choice in _choices(chunk):
                    text = _delta_text(choice)
                    if text:
                        output.append(text)
                        yield TextChunk(text)
                    finish_reason = choice.get("finish_reason") or finish_reason
            else:
                if not finish_reason:
                    raise StreamBroken(
                        f"the stream from {url} ended before [DONE]", code="incomplete"
                    )
        if usage is not None:
            yield UsageChunk(from_openai(usage, model=request.model, backend=BACKEND))
        else:
            yield UsageChunk(_estimate(request, output))
        yield DoneChunk(finish_reason or "stop")
    except AdapterError as exc:
        if exc.usage is None and output:
            # A hosted model bills the tokens it streamed before the failure.
            exc.usage = _estimate(request, output)
        raise


def _estimate(request: ChatRequest, output: list[str]) -> TokenUsage:
    return estimated_usage(
        model=request.model,
        backend=BACKEND,
        prompt_text=request.prompt_text,
        output_text="".join(output),
    )


def _decode(data: str, url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise BackendProtocolError(
            f"{url} sent an event that is not JSON", code="protocol"
        ) from exc
    if not isinstance(chunk, dict):
        raise BackendProtocolError(
            f"{url} sent an event that is not a JSON object", code="protocol"
        )
    return chunk


def _raise_reported_error(chunk: Mapping[str, Any]) -> None:
    error = chunk.get("error")
    if error is None:
        return
    details = error if isinstance(error, Mapping) else {"message": str(error)}
    kind = str(details.get("type") or details.get("code") or "error")
    raise BackendReportedError(
        f"openai: {details.get('message') or kind}",
        code=kind,
        retryable=kind in _RETRYABLE_ERROR_TYPES,
    )


def _choices(chunk: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return []
    return [choice for choice in choices if isinstance(choice, Mapping)]


def _delta_text(choice: Mapping[str, Any]) -> str:
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, Mapping) else None
    return content if isinstance(content, str) else ""
