"""Ollama adapter: ``POST /api/chat`` with ``stream: true``, one JSON object per line.

Each line carries ``message.content``; the last has ``done: true``, ``done_reason`` and the
counts ``prompt_eval_count`` / ``eval_count`` (see ``usage.from_ollama`` for what happens
when Ollama leaves one out). A line ``{"error": "..."}`` reports a failure mid-stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .chunks import Chunk, DoneChunk, TextChunk, UsageChunk
from .errors import AdapterError, BackendProtocolError, BackendReportedError, StreamBroken
from .http import post_stream
from .request import ChatRequest
from .usage import estimated_usage, from_ollama

BACKEND = "ollama"
CHAT_PATH = "/api/chat"


def chat_body(request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": request.messages_json(),
        "stream": True,
    }
    if request.options:
        body["options"] = dict(request.options)
    return body


async def stream_chat(client: httpx.AsyncClient, request: ChatRequest) -> AsyncIterator[Chunk]:
    """Stream one chat completion from Ollama as text chunks, then usage, then done."""
    url = request.url(CHAT_PATH)
    output: list[str] = []
    try:
        async with post_stream(client, url, chat_body(request)) as lines:
            async for line in lines:
                if not line.strip():
                    continue
                message = _decode(line, url)
                if "error" in message:
                    raise BackendReportedError(
                        f"ollama: {message['error']}", code="backend_error", retryable=True
                    )
                text = _content(message)
                if text:
                    output.append(text)
                    yield TextChunk(text)
                if message.get("done") is True:
                    yield UsageChunk(
                        from_ollama(
                            message,
                            model=request.model,
                            prompt_text=request.prompt_text,
                            output_text="".join(output),
                        )
                    )
                    yield DoneChunk(str(message.get("done_reason") or "stop"))
                    return
        raise StreamBroken(f"the stream from {url} ended before done", code="incomplete")
    except AdapterError as exc:
        if exc.usage is None and output:
            # Ollama is local and free, but the tokens were still spent: say roughly how many.
            exc.usage = estimated_usage(
                model=request.model,
                backend=BACKEND,
                prompt_text=request.prompt_text,
                output_text="".join(output),
            )
        raise


def _decode(line: str, url: str) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise BackendProtocolError(f"{url} sent a line that is not JSON", code="protocol") from exc
    if not isinstance(message, dict):
        raise BackendProtocolError(f"{url} sent a line that is not a JSON object", code="protocol")
    return message


def _content(message: dict[str, Any]) -> str:
    body = message.get("message")
    content = body.get("content") if isinstance(body, dict) else None
    return content if isinstance(content, str) else ""
