"""LLM sidecar adapters: stream a chat completion from Ollama or an OpenAI-compatible server.

``ollama.stream_chat`` and ``openai.stream_chat`` are async generators of typed chunks
(text, usage, done) with no dependency on execstream's client; ``run_llm`` reports them to a
task and retries failed attempts. ``usage`` normalises each provider's token counts into
buckets that never overlap.
"""

from .backends import BACKENDS, Backend
from .chunks import Chunk, DoneChunk, TextChunk, UsageChunk
from .errors import (
    AdapterError,
    BackendHTTPError,
    BackendProtocolError,
    BackendReportedError,
    BackendUnreachable,
    StreamBroken,
)
from .request import ChatMessage, ChatRequest, prompt_request
from .retry import HOSTED_POLICY, LOCAL_POLICY, RetryPolicy
from .run import LlmResult, TaskSink, run_llm, started_fields
from .usage import TokenUsage, from_anthropic, from_ollama, from_openai

__all__ = [
    "BACKENDS",
    "HOSTED_POLICY",
    "LOCAL_POLICY",
    "AdapterError",
    "Backend",
    "BackendHTTPError",
    "BackendProtocolError",
    "BackendReportedError",
    "BackendUnreachable",
    "ChatMessage",
    "ChatRequest",
    "Chunk",
    "DoneChunk",
    "LlmResult",
    "RetryPolicy",
    "StreamBroken",
    "TaskSink",
    "TextChunk",
    "TokenUsage",
    "UsageChunk",
    "from_anthropic",
    "from_ollama",
    "from_openai",
    "prompt_request",
    "run_llm",
    "started_fields",
]
