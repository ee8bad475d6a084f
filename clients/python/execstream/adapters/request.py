"""One chat completion request, the same for every backend."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_OPENAI_URL = "https://api.openai.com"


@dataclasses.dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """What to ask which model where. ``options`` go into the body as the backend names them."""

    model: str
    messages: tuple[ChatMessage, ...]
    base_url: str
    api_key: str = ""
    # Seconds to wait to connect and between two pieces of the stream (not for the whole
    # answer: a long generation that keeps streaming is not a timeout).
    timeout_s: float = 60.0
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def prompt_text(self) -> str:
        """The prompt as plain text, for estimating its size when a count is missing."""
        return "\n".join(message.content for message in self.messages)

    def messages_json(self) -> list[dict[str, str]]:
        return [message.to_json() for message in self.messages]

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def prompt_request(
    *,
    model: str,
    prompt: str,
    base_url: str,
    system: str = "",
    api_key: str = "",
    timeout_s: float = 60.0,
) -> ChatRequest:
    """A one-turn request: an optional system message, then the user's prompt."""
    messages = [ChatMessage("system", system)] if system else []
    messages.append(ChatMessage("user", prompt))
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        base_url=base_url,
        api_key=api_key,
        timeout_s=timeout_s,
    )
