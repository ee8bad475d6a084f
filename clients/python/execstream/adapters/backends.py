"""The backends `run-llm` knows: how to stream from each, where it listens, how hard to retry."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable

import httpx

from . import ollama, openai
from .chunks import Chunk
from .request import DEFAULT_OLLAMA_URL, DEFAULT_OPENAI_URL, ChatRequest
from .retry import HOSTED_POLICY, LOCAL_POLICY, RetryPolicy

StreamChat = Callable[[httpx.AsyncClient, ChatRequest], AsyncIterator[Chunk]]


@dataclasses.dataclass(frozen=True, slots=True)
class Backend:
    name: str
    stream_chat: StreamChat
    default_base_url: str
    retry_policy: RetryPolicy
    # The environment variable holding the API key, if the backend takes one.
    api_key_env: str = ""


BACKENDS: dict[str, Backend] = {
    "ollama": Backend("ollama", ollama.stream_chat, DEFAULT_OLLAMA_URL, LOCAL_POLICY),
    "openai": Backend(
        "openai", openai.stream_chat, DEFAULT_OPENAI_URL, HOSTED_POLICY, "OPENAI_API_KEY"
    ),
}
